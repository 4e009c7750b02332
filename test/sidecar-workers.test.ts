/**
 * mesh-sidecar on two worker processes (`"workers": 2`), the real CLI on port 0: both workers
 * share the one port the primary binds (the inbound listener's too) and both serve; the primary's
 * `/stats` and `/metrics` sum theirs; SIGTERM drains a request in flight and every process exits;
 * a worker killed with SIGKILL is logged and replaced while the other serves, `/ready` 503 until
 * the new one listens; workers whose primary is killed finish their requests and exit; under
 * `npm run` the primary notices npm is gone; a port taken fails the start with exit 2. Waits are
 * on log lines, process exits and responses, never on time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Upstream } from '../testkit/upstream.js';
import { alive, cleanEnv } from './packaging/scratch.js';
import { raw } from './support/sidecar.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mesh-sidecar-workers-'));

type Line = Record<string, unknown>;

interface Waiter {
  from: number;
  match: (l: Line) => boolean;
  resolve: (l: Line) => void;
}

/** What the tests read of the primary's `/stats`. */
interface Stats {
  workers: number;
  ready: boolean;
  services: Record<
    string,
    {
      requests: number;
      responses: Record<string, number>;
      latency: { count: number };
      endpoints: Array<{ requests: number }>;
    }
  >;
  perWorker: Array<{ pid: number; state: string; requests: number; ready: boolean }>;
}

/** The CLI as a child process, its JSON log lines collected as they come. */
class Cli {
  readonly lines: Line[] = [];
  readonly #waiters: Waiter[] = [];
  #stderr = '';
  readonly exited: Promise<number | null>;
  /** Every process holding its stdout (the primary and the workers, which inherit it) has exited. */
  readonly closed: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let rest = '';
    child.stderr!.on('data', (d: Buffer) => (this.#stderr += d));
    child.stdout!.on('data', (d: Buffer) => {
      rest += d;
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const text = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (!text.startsWith('{')) continue;
        this.lines.push(JSON.parse(text) as Line);
        for (const w of [...this.#waiters]) this.#check(w);
      }
    });
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
    this.closed = once(child.stdout!, 'close').then(() => undefined);
  }

  /** The first line from position `from` on that matches (seen already, or to come). */
  line(match: (l: Line) => boolean, from = 0): Promise<Line> {
    return new Promise((resolve) => this.#check({ from, match, resolve }, true));
  }

  msg(msg: string, from = 0): Promise<Line> {
    return this.line((l) => l.msg === msg, from);
  }

  stderr(): string {
    return this.#stderr;
  }

  #check(w: Waiter, fresh = false): void {
    const found = this.lines.slice(w.from).find(w.match);
    if (found) {
      const at = this.#waiters.indexOf(w);
      if (at >= 0) this.#waiters.splice(at, 1);
      w.resolve(found);
    } else if (fresh) {
      this.#waiters.push(w);
    }
  }
}

const started: Cli[] = [];
const upstreams: Upstream[] = [];

/** Start the CLI with `config` (on free ports); resolves with its `listening` line. */
async function start(name: string, config: Record<string, unknown>) {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...config }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/cli.ts', '-c', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cli = new Cli(child);
  started.push(cli);
  const listening = await Promise.race([
    cli.msg('listening'),
    cli.exited.then((code) => {
      throw new Error(`exited ${code} before listening: ${cli.stderr()}`);
    }),
  ]);
  return { cli, listen: listening.listen as string, admin: listening.admin as string, listening };
}

/** Pids of every process a CLI started that logged (the primary and its workers). */
function pids(cli: Cli): number[] {
  return [...new Set(cli.lines.map((l) => l.pid as number))];
}

afterEach(async () => {
  for (const cli of started.splice(0)) {
    for (const pid of pids(cli)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

afterAll(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
});

async function stats(admin: string): Promise<Stats> {
  return JSON.parse((await raw(admin, '/stats')).body) as Stats;
}

describe('mesh-sidecar with "workers": 2', () => {
  it('two workers share the port; both serve; /stats and /metrics sum them; SIGTERM drains and all exit', async () => {
    const up = await Upstream.start('users');
    upstreams.push(up);
    const { cli, listen, admin, listening } = await start('two.json', {
      discovery: { static: { users: [up.url] } },
      workers: 2,
      drainTimeout: 30_000,
    });
    expect(listening.workers).toBe(2);
    const workers = await Promise.all(
      [0, 1].map((i) => cli.line((l) => l.msg === 'worker listening' && l.worker === i)),
    );
    // Port 0 was bound once, by the primary: both workers listen on that one address.
    expect(workers.map((w) => w.listen)).toEqual([listen, listen]);
    const workerPids = workers.map((w) => w.pid as number);
    expect(new Set([...workerPids, listening.pid]).size).toBe(3);
    expect((await raw(admin, '/ready')).status).toBe(200);

    // A fresh connection each: node:cluster hands connections to the workers in turn.
    const sent = 20;
    for (let i = 0; i < sent; i++) {
      expect((await raw(listen, `/users/${i}`, { headers: { host: 'users' } })).status).toBe(200);
    }
    expect(up.count).toBe(sent);

    const report = await stats(admin);
    expect(report.workers).toBe(2);
    expect(report.ready).toBe(true);
    const users = report.services.users!;
    expect(users.requests).toBe(sent);
    expect(users.responses).toEqual({ '2xx': sent });
    expect(users.latency.count).toBe(sent);
    expect(users.endpoints).toHaveLength(1);
    expect(users.endpoints[0]!.requests).toBe(sent);
    const perWorker = report.perWorker;
    expect(perWorker.map((w) => w.pid)).toEqual(workerPids);
    expect(perWorker.every((w) => w.ready && w.requests > 0)).toBe(true);
    expect(perWorker.reduce((n, w) => n + w.requests, 0)).toBe(sent);

    const metrics = (await raw(admin, '/metrics')).body;
    const counted = [
      ...metrics.matchAll(/^mesh_client_requests_total\{[^}]*service="users"[^}]*\} (\d+)$/gm),
    ];
    expect(counted.reduce((n, m) => n + Number(m[1]), 0)).toBe(sent);
    // Each worker sees the one endpoint: the gauge is their max, not their sum.
    expect(metrics).toMatch(/^mesh_client_endpoints\{service="users"\} 1$/m);
    expect(metrics).toMatch(/^mesh_client_sidecar_workers\{state="up"\} 2$/m);
    expect(metrics).toMatch(/^mesh_client_sidecar_workers_scraped 2$/m);

    // SIGTERM with a request held upstream: it completes, then every process exits.
    up.behaviour = { kind: 'held' };
    const inflight = raw(listen, '/slow', { headers: { host: 'users' } });
    await up.receivedAtLeast(sent + 1);
    const from = cli.lines.length;
    cli.child.kill('SIGTERM');
    await cli.msg('draining', from);
    expect((await raw(admin, '/ready')).status).toBe(503);
    await Promise.all(
      [0, 1].map((i) => cli.line((l) => l.msg === 'worker draining' && l.worker === i, from)),
    );
    up.release();
    expect((await inflight).status).toBe(200);
    expect(await cli.exited).toBe(0);
    await cli.msg('stopped', from);
    for (const pid of [...workerPids, listening.pid as number]) expect(alive(pid)).toBe(false);
  }, 60_000);

  it('the inbound listener is shared too, on its own port 0; its stats are summed', async () => {
    const app = await Upstream.start('app');
    upstreams.push(app);
    const { cli, listen, admin, listening } = await start('inbound.json', {
      discovery: { static: {} },
      inbound: { listen: '127.0.0.1:0', app: app.url },
      workers: 2,
    });
    const inbound = listening.inbound as string;
    expect(inbound).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inbound).not.toBe(listen);
    const workers = await Promise.all(
      [0, 1].map((i) => cli.line((l) => l.msg === 'worker listening' && l.worker === i)),
    );
    expect(workers.map((w) => [w.listen, w.inbound])).toEqual([
      [listen, inbound],
      [listen, inbound],
    ]);
    for (let i = 0; i < 6; i++) expect((await raw(inbound, `/orders/${i}`)).status).toBe(200);
    expect(app.count).toBe(6);
    const report = JSON.parse((await raw(admin, '/stats')).body) as {
      inbound: { stats: { requests: number } };
    };
    expect(report.inbound.stats.requests).toBe(6);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  }, 60_000);

  it('a worker killed with SIGKILL is logged and restarted; /ready is 503 until it is back; requests keep succeeding', async () => {
    const up = await Upstream.start('users');
    upstreams.push(up);
    const { cli, listen, admin } = await start('restart.json', {
      discovery: { static: { users: [up.url] } },
      workers: 2,
    });
    const first = await cli.line((l) => l.msg === 'worker listening' && l.worker === 0);
    const from = cli.lines.length;
    process.kill(first.pid as number, 'SIGKILL');
    const exited = await cli.msg('worker exited', from);
    expect(exited).toMatchObject({ worker: 0, workerPid: first.pid, signal: 'SIGKILL', restartInMs: 100 });
    // The replacement is forked 100 ms later and must load before it listens: while it has not, the
    // sidecar is not ready.
    const ready = await raw(admin, '/ready');
    const back = cli.lines.slice(from).some((l) => l.msg === 'worker listening');
    if (!back) expect([ready.status, ready.body]).toEqual([503, 'workers ready: 1 of 2\n']);
    for (let i = 0; i < 6; i++) {
      expect((await raw(listen, `/users/${i}`, { headers: { host: 'users' } })).status).toBe(200);
    }
    const replaced = await cli.line((l) => l.msg === 'worker listening' && l.worker === 0, from);
    expect(replaced.pid).not.toBe(first.pid);
    expect(replaced.listen).toBe(listen);
    expect((await raw(admin, '/ready')).status).toBe(200);
    expect((await stats(admin)).perWorker[0]).toMatchObject({ pid: replaced.pid, state: 'up', ready: true });
    expect(alive(first.pid as number)).toBe(false);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  }, 60_000);

  it('a worker signalled itself drains its request, is not ready meanwhile, and is replaced', async () => {
    const up = await Upstream.start('users', { kind: 'held' });
    upstreams.push(up);
    const { cli, listen, admin } = await start('signalled.json', {
      discovery: { static: { users: [up.url] } },
      workers: 2,
    });
    const first = await cli.line((l) => l.msg === 'worker listening' && l.worker === 0);
    await cli.line((l) => l.msg === 'worker listening' && l.worker === 1);
    // Fresh connections go to the workers in turn: one request held in each.
    const held = [0, 1].map(() => raw(listen, '/slow', { headers: { host: 'users' } }));
    await up.receivedAtLeast(2);
    const from = cli.lines.length;
    process.kill(first.pid as number, 'SIGTERM');
    expect(await cli.line((l) => l.msg === 'worker draining' && l.worker === 0, from)).toMatchObject({
      signal: 'SIGTERM',
    });
    const ready = await raw(admin, '/ready');
    expect([ready.status, ready.body]).toEqual([503, 'workers ready: 1 of 2\n']);
    up.release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    expect(await cli.msg('worker exited', from)).toMatchObject({ worker: 0, code: 0, signal: null });
    const replaced = await cli.line((l) => l.msg === 'worker listening' && l.worker === 0, from);
    expect(replaced.pid).not.toBe(first.pid);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  }, 60_000);

  it('when the primary dies, the workers finish what is in flight and exit: no orphans', async () => {
    const up = await Upstream.start('users', { kind: 'held' });
    upstreams.push(up);
    const { cli, listen, listening } = await start('orphans.json', {
      discovery: { static: { users: [up.url] } },
      workers: 2,
    });
    const workers = await Promise.all(
      [0, 1].map((i) => cli.line((l) => l.msg === 'worker listening' && l.worker === i)),
    );
    const inflight = raw(listen, '/slow', { headers: { host: 'users' } });
    await up.receivedAtLeast(1);
    const from = cli.lines.length;
    process.kill(listening.pid as number, 'SIGKILL');
    for (const i of [0, 1]) {
      expect(await cli.line((l) => l.msg === 'worker draining' && l.worker === i, from)).toMatchObject({
        reason: 'primary gone',
      });
    }
    up.release();
    expect((await inflight).status).toBe(200);
    await cli.closed;
    for (const w of workers) expect(alive(w.pid as number)).toBe(false);
  }, 60_000);

  it('under npm run, the primary notices npm is gone, drains the workers and leaves no process', async () => {
    const up = await Upstream.start('users');
    upstreams.push(up);
    const file = join(dir, 'npm.json');
    writeFileSync(
      file,
      JSON.stringify({
        discovery: { static: { users: [up.url] } },
        listen: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        workers: 2,
      }),
    );
    const npm = spawn('npm', ['run', '--silent', 'sidecar', '--', '--config', file], {
      cwd: root,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cli = new Cli(npm);
    started.push(cli);
    const listening = await cli.msg('listening');
    const workers = await Promise.all(
      [0, 1].map((i) => cli.line((l) => l.msg === 'worker listening' && l.worker === i)),
    );
    expect((await raw(listening.listen as string, '/users/1', { headers: { host: 'users' } })).status).toBe(
      200,
    );
    npm.kill('SIGTERM');
    await cli.closed;
    expect(await cli.msg('draining')).toMatchObject({ reason: 'parent exited' });
    expect(cli.lines.map((l) => l.msg)).toContain('stopped');
    for (const pid of [listening.pid, ...workers.map((w) => w.pid)]) expect(alive(pid as number)).toBe(false);
  }, 60_000);

  it('a worker that cannot listen fails the start: exit 2 naming the option', async () => {
    const up = await Upstream.start('users');
    upstreams.push(up);
    const taken = new URL(up.url).host;
    const file = join(dir, 'taken.json');
    writeFileSync(
      file,
      JSON.stringify({ discovery: { static: {} }, listen: taken, admin: '127.0.0.1:0', workers: 2 }),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/cli.ts', '-c', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cli = new Cli(child);
    started.push(cli);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toContain(`mesh-sidecar: cannot listen: options.listen (${taken}): `);
    expect(cli.stderr()).toContain('EADDRINUSE');
    expect(cli.lines.filter((l) => l.msg === 'listening')).toEqual([]);
  }, 60_000);
});
