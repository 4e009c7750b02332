/**
 * The hardening figures, measured on a sidecar in its own process (so its RSS is its own):
 *
 * - RSS after 100,000 requests with unique unknown `Host` names, after GC, then after one
 *   `/stats` call;
 * - the time until a slowloris client (one header byte a second) is dropped, with the defaults;
 * - the time until 2,000 connections that send nothing are all closed, with the defaults.
 *
 *     npx tsx test/hostile/figures.ts [repository root to take the sidecar from] [--names-only]
 *
 * The root defaults to this repository; pointing it at a checkout of an older commit measures
 * that version the same way. Not part of `npm test`: it takes about half a minute.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { pathToFileURL } from 'node:url';

const [, script, rootArg, flag] = process.argv;

if (process.env.FIGURES_CHILD) {
  // The sidecar's process: start it, then answer RSS samples (after GC) on request.
  const { Sidecar } = (await import(pathToFileURL(`${rootArg}/src/sidecar/sidecar.ts`).href)) as {
    Sidecar: new (c: unknown) => { start(): Promise<{ address: string; adminAddress: string }> };
  };
  const sidecar = await new Sidecar({
    discovery: { static: { users: ['http://127.0.0.1:9'] } },
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
  }).start();
  const rss = () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().rss;
  };
  process.send!({ address: sidecar.address, admin: sidecar.adminAddress, rss: rss() });
  process.on('message', () => process.send!({ rss: rss() }));
} else {
  const root = rootArg ?? new URL('../..', import.meta.url).pathname;
  const child = fork(script!, [root], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, FIGURES_CHILD: '1' },
  });
  const [start] = (await once(child, 'message')) as [{ address: string; admin: string; rss: number }];
  const sample = async () => {
    child.send('rss');
    const [m] = (await once(child, 'message')) as [{ rss: number }];
    return m.rss;
  };
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const port = Number(new URL(start.address).port);

  // 100,000 unique names, pipelined 1,000 per connection, 4 connections at a time.
  let sent = 0;
  const batch = async (c: number) => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.write(
      Array.from({ length: 1_000 }, (_, i) => `GET / HTTP/1.1\r\nHost: name-${c}-${i}\r\n\r\n`).join(''),
    );
    while ((text.match(/HTTP\/1\.1 /g) ?? []).length < 1_000) await once(socket, 'data');
    sent += 1_000;
    socket.destroy();
  };
  for (let c = 0; c < 100; c += 4) await Promise.all([c, c + 1, c + 2, c + 3].map(batch));
  const afterNames = await sample();
  const statsStarted = performance.now();
  const stats = await (await fetch(`${start.admin}/stats`)).text();
  const statsMs = performance.now() - statsStarted;
  const afterStats = await sample();
  console.log(`unique unknown names: ${sent.toLocaleString('en-US')}`);
  console.log(
    `sidecar RSS: at start ${mb(start.rss)}, after the names ${mb(afterNames)}, after one /stats ${mb(afterStats)}`,
  );
  console.log(`/stats: ${stats.length.toLocaleString('en-US')} bytes in ${statsMs.toFixed(0)} ms`);

  if (flag !== '--names-only') {
    const slowloris = (async () => {
      const s = net.connect(port, '127.0.0.1');
      await once(s, 'connect');
      const t0 = performance.now();
      let reply = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        reply += d;
      });
      s.on('error', () => undefined);
      const bytes = 'GET / HTTP/1.1\r\nHost: users\r\nX-Slow: '.split('');
      const timer = setInterval(() => s.writable && s.write(bytes.shift() ?? 'a'), 1_000);
      await once(s, 'close');
      clearInterval(timer);
      return { ms: performance.now() - t0, status: reply.slice(0, 12) };
    })();
    const silent = (async () => {
      const t0 = performance.now();
      const sockets: net.Socket[] = [];
      const closes: Promise<number>[] = [];
      for (let i = 0; i < 2_000; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        // Read, or the answer and the close are never seen.
        s.resume();
        sockets.push(s);
        closes.push(new Promise((resolve) => s.once('close', () => resolve(performance.now() - t0))));
      }
      // A connection the kernel completed for the client but never queued for accept() (its
      // listen backlog was full) reaches no server code: after the sidecar's timeouts have had
      // their time, such connections are counted apart and destroyed.
      const pending = setTimeout(() => {
        for (const s of sockets) if (!s.closed) s.destroy(new Error('never accepted'));
      }, 40_000);
      let neverAccepted = 0;
      for (const s of sockets)
        s.once('error', (e) => void (e.message === 'never accepted' && neverAccepted++));
      const times = (await Promise.all(closes)).filter((_t, i) => !sockets[i]!.errored);
      clearTimeout(pending);
      // Past maxConnections (1,024 by default) a connection is answered 503 and closed at once.
      const atOnce = times.filter((t) => t < 2_000);
      const held = times.filter((t) => t >= 2_000);
      return {
        atOnce: atOnce.length,
        held: held.length,
        heldFrom: Math.min(...held),
        last: Math.max(...times),
        neverAccepted,
      };
    })();
    const [slow, quiet] = await Promise.all([slowloris, silent]);
    console.log(
      `slowloris (a byte a second): dropped after ${(slow.ms / 1000).toFixed(1)} s with "${slow.status}"`,
    );
    console.log(
      `2,000 silent connections: ${quiet.atOnce} refused at once (over maxConnections), ${quiet.held} held and ` +
        `closed between ${(quiet.heldFrom / 1000).toFixed(1)} s and ${(quiet.last / 1000).toFixed(1)} s` +
        (quiet.neverAccepted
          ? `; ${quiet.neverAccepted} never reached accept() (the listen backlog was full)`
          : ''),
    );
  }
  child.kill();
}
