/**
 * The child processes a run starts: load drivers (./driver.ts), `mesh-sidecar` (the real CLI,
 * `src/sidecar/cli.ts`, with a config file; see ./build for how it is run), the floor proxy
 * (./node-proxy.ts) and HAProxy (the test suite's launcher). Every child is tracked by pid and
 * killed when this process exits, including on Ctrl-C and SIGTERM. CPU time and RSS of a child
 * (and of the workers it forks) come from the OS (pidusage, which reads /proc on Linux).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pidusage from 'pidusage';
import { HAProxy, type HAProxyOptions, haproxyInstalled } from '../../testkit/haproxy.js';
import { floorCommand, ROOT, sidecarCommand } from './build.js';
import type { FromDriver, ToDriver } from './protocol.js';

export { HAProxy, type HAProxyOptions, haproxyInstalled, ROOT };

const tracked = new Set<number>();
let hooked = false;

/** Kill `pid` (and forget it) when this process exits. */
export function track(pid: number | undefined): void {
  if (pid === undefined) return;
  tracked.add(pid);
  if (hooked) return;
  hooked = true;
  process.on('exit', killTracked);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killTracked();
      process.stderr.write(`\n${signal}: stopped, child processes killed\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Stop tracking a child that has exited. */
export function untrack(pid: number | undefined): void {
  if (pid !== undefined) tracked.delete(pid);
}

function killTracked(): void {
  for (const pid of tracked) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  tracked.clear();
}

/** CPU time (user + system, ms) and RSS (bytes) of a process, from the OS. */
export async function usage(pid: number): Promise<{ cpuMs: number; rssBytes: number }> {
  const stat = await pidusage(pid);
  return { cpuMs: stat.ctime, rssBytes: stat.memory };
}

/** Release pidusage's bookkeeping timer. */
export function releaseUsage(): void {
  pidusage.clear();
}

/** Wait for a child to exit, killing it if it takes longer than `graceMs`. */
async function stop(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  untrack(child.pid);
}

/** A load driver child process. */
export class DriverProcess {
  readonly #ready: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    // Listened for from the start, so the message cannot arrive before anyone waits for it.
    this.#ready = new Promise((resolve, reject) => {
      const onMessage = (m: FromDriver) => {
        if (m.type !== 'ready') return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number | null) =>
        reject(new Error(`load driver exited (${code}) before it was ready`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    // Nobody may wait for it (the measured runs do not): an early exit is reported by `exited()`.
    this.#ready.catch(() => undefined);
  }

  static spawn(): DriverProcess {
    const child = fork(join(ROOT, 'bench', 'harness', 'driver.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    track(child.pid);
    return new DriverProcess(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: ToDriver): void {
    if (this.child.connected) this.child.send(message);
  }

  on(listener: (message: FromDriver) => void): void {
    this.child.on('message', (m) => listener(m as FromDriver));
  }

  /** Resolves once the driver has loaded (its modules, the client library) and waits for a run. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Resolves with the exit code when the driver exits. */
  exited(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return once(this.child, 'exit').then(([code]) => code as number | null);
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stop(this.child, 'SIGTERM', 2_000);
  }
}

/** `mesh-sidecar` running as its own process. */
export class SidecarProcess {
  private constructor(
    readonly url: string,
    readonly admin: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Write `config` (MeshClient options; listen and admin on free ports unless `config` names
   * them) and start the CLI; resolves once it logs `listening`.
   */
  static async start(config: Record<string, unknown>): Promise<SidecarProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-sidecar-'));
    const file = join(dir, 'mesh.json');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...config }, null, 2));
    try {
      const { child, line } = await spawnListening(
        'mesh-sidecar',
        [...sidecarCommand().args, '-c', file],
        (l) => typeof l.admin === 'string',
      );
      return new SidecarProcess(String(line.listen), String(line.admin), child, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Retries so far, from `/stats`: every endpoint's attempt count, minus the requests the ingress
   * answered and those still in flight (one attempt each at least). Breaker-refused attempts count,
   * as they do in the fat client's `retry` events.
   */
  async retries(service: string): Promise<number> {
    const res = await fetch(`${this.admin}/stats`);
    const stats = (await res.json()) as {
      inFlight?: number;
      services: Record<string, { requests?: number; endpoints?: Array<{ requests: number }> }>;
    };
    const s = stats.services[service];
    const attempts = (s?.endpoints ?? []).reduce((sum, ep) => sum + ep.requests, 0);
    return Math.max(0, attempts - (s?.requests ?? 0) - (stats.inFlight ?? 0));
  }

  /** SIGTERM (drain), then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    await stop(this.child, 'SIGTERM', 3_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A child's first JSON log line with `msg: 'listening'` and a `listen` address. */
type ListeningLine = Record<string, unknown> & { listen: string };

/**
 * Spawn `node args` (tracked for cleanup) and resolve once it logs a JSON line with
 * `msg: 'listening'` (and whatever else `complete` wants in it); rejects with its stderr when it
 * exits first or says nothing in 20 s.
 */
async function spawnListening(
  name: string,
  args: string[],
  complete: (line: ListeningLine) => boolean = () => true,
): Promise<{ child: ChildProcess; line: ListeningLine }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child.pid);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4_000);
  });
  const lines = createInterface({ input: child.stdout! });
  try {
    const line = await new Promise<ListeningLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s: ${stderr}`)), 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}): ${stderr}`));
      });
      lines.on('line', (text) => {
        try {
          const m = JSON.parse(text) as Record<string, unknown>;
          if (m.msg === 'listening' && typeof m.listen === 'string' && complete(m as ListeningLine)) {
            clearTimeout(timer);
            resolve(m as ListeningLine);
          }
        } catch {
          // not a log line
        }
      });
    });
    return { child, line };
  } catch (err) {
    child.kill('SIGKILL');
    untrack(child.pid);
    throw err;
  }
}

/** The floor proxy (./node-proxy.ts, plain node) as its own process. */
export class NodeProxyProcess {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Start it in front of `services` on `listen` (`host:port`, port 0 for a free one). */
  static async start(services: Record<string, string[]>, listen = '127.0.0.1:0'): Promise<NodeProxyProcess> {
    const config = JSON.stringify({ listen, services });
    const { child, line } = await spawnListening('node-proxy', [...floorCommand().args, config]);
    return new NodeProxyProcess(line.listen, child);
  }

  async stop(): Promise<void> {
    await stop(this.child, 'SIGTERM', 3_000);
  }
}

/** CPU and RSS of a process and its descendants (a proxy that forks workers), from /proc. */
export interface TreeUsage {
  cpuMs: number;
  rssBytes: number;
  /** How many processes were counted. */
  processes: number;
}

let processTable: { at: number; children: Map<number, number[]> } | undefined;

/** Parent to children, from every /proc/<pid>/stat; re-read at most once a second. */
function childrenByParent(): Map<number, number[]> {
  const now = performance.now();
  if (processTable && now - processTable.at < 1_000) return processTable.children;
  const children = new Map<number, number[]>();
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The name (field 2) is in parentheses and may hold spaces: fields 3 on follow the last ')'.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
      } catch {
        // the process exited while the table was read
      }
    }
  } catch {
    // no /proc (not Linux): only the root process is counted
  }
  processTable = { at: now, children };
  return children;
}

/** {@link usage} summed over `pid` and every process under it. */
export async function treeUsage(pid: number): Promise<TreeUsage> {
  const children = childrenByParent();
  const pids = [pid];
  // Bounded by the process table: each pid is visited once.
  for (let i = 0; i < pids.length && pids.length < 1_000; i++) pids.push(...(children.get(pids[i]!) ?? []));
  if (pids.length === 1) return { ...(await usage(pid)), processes: 1 };
  try {
    const stats = await pidusage(pids);
    const all = Object.values(stats);
    return {
      cpuMs: all.reduce((sum, s) => sum + s.ctime, 0),
      rssBytes: all.reduce((sum, s) => sum + s.memory, 0),
      processes: all.length,
    };
  } catch {
    // a worker exited between the table and the reading: count the root alone this time
    return { ...(await usage(pid)), processes: 1 };
  }
}

/** Start HAProxy with the mesh-like policy and its stats listener; tracked for cleanup. */
export async function startHAProxy(
  services: Record<string, string[]>,
  options: HAProxyOptions,
): Promise<HAProxy> {
  const proxy = await HAProxy.start(services, { ...options, stats: true });
  track(proxy.pid);
  return proxy;
}

/** Stop an HAProxy started by {@link startHAProxy}. */
export async function stopHAProxy(proxy: HAProxy): Promise<void> {
  const pid = proxy.pid;
  await proxy.close();
  untrack(pid);
}
