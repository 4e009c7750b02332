/**
 * `npm run bench:mtls`: what a mutual-TLS hop costs, against the same hop in plaintext, in the
 * same run: latency and CPU per request, for the first request of a new client (a full handshake:
 * ECDSA P-256 certificates both ways), in steady state over kept-alive connections, and with a new
 * connection for every request (where session resumption spares the full handshake).
 *
 * Two hops are measured, each in both modes, into one app on loopback:
 * - sidecar -> sidecar: a driver (undici) -> outbound mesh-sidecar -> [hop] -> inbound mesh-sidecar -> app;
 * - fat client -> sidecar: `MeshClient` -> [hop] -> inbound mesh-sidecar -> app.
 * The plaintext mode is the same chain with the inbound in `mtls: 'off'` and no `tls` on the
 * dialing side. Everything runs in this one process, so the CPU per request is the whole chain's
 * (driver, sidecars, app): the mutual-TLS row's excess over the plaintext row is what the hop adds.
 * Rounds alternate the modes, and the medians of the rounds are reported.
 *
 * The result is written into docs/benchmarks.md between the `mtls` markers, heading included.
 * `MTLS_REQUESTS` (per round and concurrency, default 2000), `MTLS_ROUNDS` (3) and
 * `MTLS_FIRST` (first-request samples per mode, 30) scale it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MeshClient } from 'mesh-client';
import { type Sidecar, startSidecar } from 'mesh-client/sidecar';
import { Pool } from 'undici';
import { consulId, TestCa } from '../testkit/pki.js';
import { Upstream } from '../testkit/upstream.js';
import { fmt, median } from './harness/stats.js';
import { markdownTable } from './report/table.js';

const REQUESTS = Number(process.env.MTLS_REQUESTS ?? 2_000);
const ROUNDS = Number(process.env.MTLS_ROUNDS ?? 3);
const FIRST = Number(process.env.MTLS_FIRST ?? 30);
const CONCURRENCY = [1, 16];
const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const TD = 'bench.consul';

type Mode = 'plaintext' | 'mTLS';
type Hop = 'sidecar -> sidecar' | 'fat client -> sidecar';

/** Something that sends one request through a hop and reports its status. */
interface Sender {
  send(): Promise<number>;
  close(): Promise<void>;
}

const ca = await TestCa.root('bench root', TD);
const [users, web] = await Promise.all([
  ca.leaf({ id: consulId(TD, 'users') }),
  ca.leaf({ id: consulId(TD, 'web') }),
]);
const tlsOf = (leaf: { cert: string; key: string }) => ({ cert: leaf.cert, key: leaf.key, ca: ca.cert });
const ports = { listen: '127.0.0.1:0', admin: '127.0.0.1:0' };

const app = await Upstream.start('app', undefined, { record: false });
const opened: Array<{ close(): Promise<void> }> = [app];

/** An inbound sidecar in front of the app; `keepAliveTimeout: 1` makes every request a new connection. */
async function inbound(mode: Mode, extra: Record<string, unknown> = {}): Promise<string> {
  const sidecar = await startSidecar({
    ...ports,
    ...(mode === 'mTLS' ? { tls: tlsOf(users) } : {}),
    inbound: { listen: '127.0.0.1:0', app: app.url, mtls: mode === 'mTLS' ? 'strict' : 'off' },
    ...extra,
  });
  opened.push(sidecar);
  return `http://127.0.0.1:${new URL(sidecar.inboundAddress!).port}`;
}

const endpoint = (url: string, mode: Mode) => (mode === 'mTLS' ? { url, meta: { 'tls-mode': 'mtls' } } : url);

/** The outbound sidecar of the sidecar -> sidecar hop, and a driver pool in front of it. */
async function viaSidecars(
  mode: Mode,
  target: string,
  tlsExtra: Record<string, unknown> = {},
): Promise<Sender & { sidecar: Sidecar }> {
  const sidecar = await startSidecar({
    ...ports,
    ...(mode === 'mTLS' ? { tls: { ...tlsOf(web), ...tlsExtra } } : {}),
    discovery: { static: { users: [endpoint(target, mode)] } },
  });
  const pool = new Pool(sidecar.address, { connections: 64 });
  return {
    sidecar,
    async send() {
      const res = await pool.request({ path: '/x', method: 'GET', headers: { host: 'users' } });
      await res.body.dump();
      return res.statusCode;
    },
    async close() {
      await pool.close();
      await sidecar.close();
    },
  };
}

/** The fat client of the fat client -> sidecar hop. */
function viaClient(mode: Mode, target: string): Sender {
  const client = new MeshClient({
    ...(mode === 'mTLS' ? { tls: tlsOf(web) } : {}),
    discovery: { static: { users: [endpoint(target, mode)] } },
  });
  const users = client.service('users');
  return {
    async send() {
      return (await users.get('/x')).status;
    },
    close: () => client.close(),
  };
}

interface Steady {
  p50: number;
  p99: number;
  rps: number;
  cpuUs: number;
}

/** `REQUESTS` requests at `concurrency`: latency percentiles (ms), throughput, CPU µs per request. */
async function steady(sender: Sender, concurrency: number): Promise<Steady> {
  const latencies: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < REQUESTS) {
        const t = performance.now();
        const status = await sender.send();
        if (status !== 200) throw new Error(`status ${status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  return {
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    rps: latencies.length / seconds,
    cpuUs: (used.user + used.system) / latencies.length,
  };
}

/** The first request of `FIRST` new senders, each made and closed around it: latency (ms) and CPU (µs). */
async function firstRequests(
  make: () => Promise<Sender> | Sender,
): Promise<{ p50: number; p90: number; cpuUs: number }> {
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < FIRST; i++) {
    const sender = await make();
    const cpu = process.cpuUsage();
    const t = performance.now();
    const status = await sender.send();
    times.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    cpuTimes.push(used.user + used.system);
    if (status !== 200) throw new Error(`status ${status}`);
    await sender.close();
  }
  times.sort((a, b) => a - b);
  return { p50: median(times), p90: times[Math.floor(times.length * 0.9)]!, cpuUs: median(cpuTimes) };
}

const medianOf = (runs: Steady[]): Steady => ({
  p50: median(runs.map((r) => r.p50)),
  p99: median(runs.map((r) => r.p99)),
  rps: median(runs.map((r) => r.rps)),
  cpuUs: median(runs.map((r) => r.cpuUs)),
});

const MODES: Mode[] = ['plaintext', 'mTLS'];
const targets = { plaintext: await inbound('plaintext'), mTLS: await inbound('mTLS') };
const fresh = {
  plaintext: await inbound('plaintext', { keepAliveTimeout: 1 }),
  mTLS: await inbound('mTLS', { keepAliveTimeout: 1 }),
};
const makers: Record<Hop, (mode: Mode, target: string) => Promise<Sender> | Sender> = {
  'sidecar -> sidecar': viaSidecars,
  'fat client -> sidecar': viaClient,
};

const first = new Map<string, { p50: number; p90: number; cpuUs: number }>();
const steadyRows = new Map<string, Steady>();
const freshRows = new Map<string, Steady & { handshakes?: string }>();
for (const hop of Object.keys(makers) as Hop[]) {
  process.stderr.write(`${hop}: first requests\n`);
  for (const mode of MODES)
    first.set(`${hop}|${mode}`, await firstRequests(() => makers[hop](mode, targets[mode])));
  const senders = {
    plaintext: await makers[hop]('plaintext', targets.plaintext),
    mTLS: await makers[hop]('mTLS', targets.mTLS),
  };
  for (const c of CONCURRENCY) {
    process.stderr.write(`${hop}: steady state, concurrency ${c}\n`);
    const runs: Record<Mode, Steady[]> = { plaintext: [], mTLS: [] };
    // Warm both (connections, JIT), then alternate the modes round by round.
    for (const mode of MODES) await steady(senders[mode], c);
    for (let round = 0; round < ROUNDS; round++)
      for (const mode of MODES) runs[mode].push(await steady(senders[mode], c));
    for (const mode of MODES) steadyRows.set(`${hop}|${mode}|${c}`, medianOf(runs[mode]));
  }
  await Promise.all(MODES.map((mode) => senders[mode].close()));
}

process.stderr.write('sidecar -> sidecar: a new connection per request\n');
// The same with resumption off: every connection pays the full handshake.
const FRESH: Array<[string, Mode, Record<string, unknown>]> = [
  ['plaintext', 'plaintext', {}],
  ['mTLS', 'mTLS', {}],
  ['mTLS, resumption off (`sessionCacheSize: 0`)', 'mTLS', { sessionCacheSize: 0 }],
];
for (const [label, mode, tlsExtra] of FRESH) {
  const sender = await viaSidecars(mode, fresh[mode], tlsExtra);
  await steady(sender, 1);
  const runs: Steady[] = [];
  for (let round = 0; round < ROUNDS; round++) runs.push(await steady(sender, 1));
  const handshakes = sender.sidecar.report().tls?.handshakes;
  freshRows.set(label, {
    ...medianOf(runs),
    ...(handshakes
      ? { handshakes: `${handshakes.full} full, ${handshakes.resumed.toLocaleString('en-US')} resumed` }
      : {}),
  });
  await sender.close();
}
await Promise.all(opened.map((o) => o.close()));

const added = (a: number, b: number, format: (v: number) => string) => {
  const d = b - a;
  return `${d >= 0 ? '+' : '−'}${format(Math.abs(d))}`;
};
const lines: string[] = [
  '## Mutual TLS',
  '',
  `Generated by \`npm run bench:mtls\` (${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs, ` +
    `${REQUESTS.toLocaleString('en-US')} requests per round, median of ${ROUNDS} rounds); run it again to refresh.`,
  '',
  "One process on loopback: CPU is the whole chain's per request (driver, sidecars, app), so the",
  "mutual-TLS row's excess over the plaintext row is what the hop adds. Certificates: ECDSA P-256,",
  'one SPIFFE ID each, a one-level CA; TLS 1.3.',
  '',
  `**First request of a new client** (a new connection: TCP, and for mTLS the full handshake both ways; ${FIRST} samples):`,
  '',
  markdownTable(
    ['hop', 'plaintext p50', 'mTLS p50', 'added p50', 'mTLS p90', 'CPU plaintext', 'CPU mTLS', 'added CPU'],
    (Object.keys(makers) as Hop[]).map((hop) => {
      const p = first.get(`${hop}|plaintext`)!;
      const m = first.get(`${hop}|mTLS`)!;
      return [
        hop,
        fmt.ms(p.p50),
        fmt.ms(m.p50),
        added(p.p50, m.p50, fmt.ms),
        fmt.ms(m.p90),
        fmt.us(p.cpuUs),
        fmt.us(m.cpuUs),
        added(p.cpuUs, m.cpuUs, fmt.us),
      ];
    }),
  ),
  '',
  '**Steady state** (kept-alive connections: no handshake):',
  '',
  markdownTable(
    ['hop', 'concurrency', 'mode', 'p50', 'p99', 'throughput', 'CPU per request', 'added CPU per request'],
    (Object.keys(makers) as Hop[]).flatMap((hop) =>
      CONCURRENCY.flatMap((c) =>
        MODES.map((mode) => {
          const r = steadyRows.get(`${hop}|${mode}|${c}`)!;
          const base = steadyRows.get(`${hop}|plaintext|${c}`)!;
          return [
            hop,
            String(c),
            mode,
            fmt.ms(r.p50),
            fmt.ms(r.p99),
            fmt.rps(r.rps),
            fmt.us(r.cpuUs),
            mode === 'mTLS' ? added(base.cpuUs, r.cpuUs, fmt.us) : '',
          ];
        }),
      ),
    ),
  ),
  '',
  '**A new connection for every request**, sidecar -> sidecar (the inbound closes each connection after its response, `keepAliveTimeout: 1`): with resumption, the handshakes after the first resume the TLS session; without, each is a full one.',
  '',
  markdownTable(
    ['mode', 'p50', 'p99', 'throughput', 'CPU per request', 'handshakes (outbound)'],
    FRESH.map(([label]) => {
      const r = freshRows.get(label)!;
      return [label, fmt.ms(r.p50), fmt.ms(r.p99), fmt.rps(r.rps), fmt.us(r.cpuUs), r.handshakes ?? '-'];
    }),
  ),
  '',
];
const section = lines.join('\n');
process.stdout.write(`\n${section}\n`);

const begin = '<!-- mtls:start -->';
const end = '<!-- mtls:end -->';
const text = readFileSync(DOC, 'utf8');
const block = `${begin}\n${section}${end}`;
const at = text.indexOf(begin);
writeFileSync(
  DOC,
  at >= 0
    ? text.slice(0, at) + block + text.slice(text.indexOf(end) + end.length)
    : `${text.trimEnd()}\n\n${block}\n`,
);
