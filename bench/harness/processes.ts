/**
 * The child processes a run starts: load drivers (./driver.ts), `mesh-sidecar` (the real CLI,
 * `src/sidecar/cli.ts`, with a config file; see ./build for how it is run) and HAProxy (the test suite's launcher). Every child
 * is tracked by pid and killed when this process exits, including on Ctrl-C and SIGTERM.
 * CPU time and RSS of a child come from the OS (pidusage, which reads /proc on Linux).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pidusage from 'pidusage';
import { HAProxy, type HAProxyOptions, haproxyInstalled } from '../../testkit/haproxy.js';
import { ROOT, sidecarCommand } from './build.js';
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
  private constructor(readonly child: ChildProcess) {}

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

  /** Write `config` (MeshClient options; listen and admin on free ports) and start the CLI. */
  static async start(config: Record<string, unknown>): Promise<SidecarProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-sidecar-'));
    const file = join(dir, 'mesh.json');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...config }, null, 2));
    const child = spawn(process.execPath, [...sidecarCommand().args, '-c', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child.pid);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4_000);
    });
    const lines = createInterface({ input: child.stdout! });
    try {
      const listening = await new Promise<{ listen: string; admin: string }>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`mesh-sidecar did not start in 20 s: ${stderr}`)),
          20_000,
        );
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`mesh-sidecar exited (${code}): ${stderr}`));
        });
        lines.on('line', (line) => {
          try {
            const m = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
            if (m.msg === 'listening' && m.listen && m.admin) {
              clearTimeout(timer);
              resolve({ listen: m.listen, admin: m.admin });
            }
          } catch {
            // not a log line
          }
        });
      });
      return new SidecarProcess(listening.listen, listening.admin, child, dir);
    } catch (err) {
      child.kill('SIGKILL');
      untrack(child.pid);
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
