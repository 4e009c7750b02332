/**
 * HAProxy as a third-party sidecar for interop tests: routes by `Host` to one backend per
 * service, the way a team would put any off-the-shelf proxy beside a service.
 *
 * The benchmarks (bench/) start it with {@link HAProxyOptions} so it carries a policy close to
 * the mesh's (per-try timeout, retries on another server, health checks) and expose its stats;
 * without options the config is the plain one the interop tests use.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when an `haproxy` binary is on PATH. */
export function haproxyInstalled(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Policy for the benchmarks' HAProxy; every field is optional and absent means the plain config. */
export interface HAProxyOptions {
  /** The `balance` algorithm. @defaultValue `'roundrobin'` */
  balance?: 'roundrobin' | 'leastconn' | 'random';
  /** `timeout server` (ms): bounds one attempt, as the mesh's per-try timeout. @defaultValue 30000 */
  timeoutServer?: number;
  /** Retries on another server (`retries`, `option redispatch 1`, `retry-on` connection failures, response timeouts and 502/503/504). */
  retries?: number;
  /** Active (`option httpchk`, every second) and passive (`observe layer7`) health checks. */
  healthChecks?: boolean;
  /** Serve `/stats;csv` on a port of its own (read by {@link HAProxy.counters}). */
  statsPort?: number;
  /**
   * Threads of the one HAProxy process (`nbthread`). Absent: HAProxy's own default, which since
   * 2.5 is one thread per CPU the process may run on.
   */
  nbthread?: number;
}

/** The config: a Host-routing frontend and one backend per service. */
export function haproxyConfig(
  port: number,
  services: Record<string, string[]>,
  options: HAProxyOptions = {},
): string {
  const lines = ['global', '  maxconn 1024'];
  if (options.nbthread !== undefined) {
    if (!Number.isInteger(options.nbthread) || options.nbthread < 1)
      throw new Error(`nbthread must be a positive integer, got ${options.nbthread}`);
    lines.push(`  nbthread ${options.nbthread}`);
  }
  lines.push(
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    `  timeout server ${options.timeoutServer ?? 30_000}ms`,
    '  option http-keep-alive',
  );
  if (options.retries !== undefined) {
    lines.push(
      `  retries ${options.retries}`,
      '  option redispatch 1',
      '  retry-on conn-failure empty-response response-timeout 502 503 504',
    );
  }
  if (options.statsPort !== undefined) {
    lines.push(
      'listen stats',
      `  bind 127.0.0.1:${options.statsPort}`,
      '  stats enable',
      '  stats uri /stats',
    );
  }
  lines.push(`frontend mesh`, `  bind 127.0.0.1:${port}`);
  for (const name of Object.keys(services)) {
    lines.push(`  use_backend be_${name} if { req.hdr(host),field(1,:) -m str ${name} }`);
  }
  const check = options.healthChecks
    ? ' check inter 1s fall 2 rise 2 observe layer7 error-limit 5 on-error mark-down'
    : '';
  for (const [name, urls] of Object.entries(services)) {
    lines.push(`backend be_${name}`, `  balance ${options.balance ?? 'roundrobin'}`);
    if (options.healthChecks) lines.push('  option httpchk GET /healthz');
    urls.forEach((u, i) => {
      lines.push(`  server s${i} ${new URL(u).host}${check}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** Totals over every backend from HAProxy's stats CSV. */
export interface HAProxyCounters {
  /** Sessions the backends handled (`stot`). */
  sessions: number;
  /** Connection and L7 retries (`wretr`). */
  retries: number;
  /** Retries sent to another server (`wredis`). */
  redispatches: number;
}

export class HAProxy {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly statsUrl: string | undefined,
  ) {}

  /** The HAProxy process id (for CPU and memory readings). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(
    services: Record<string, string[]>,
    options: Omit<HAProxyOptions, 'statsPort'> & { stats?: boolean } = {},
  ): Promise<HAProxy> {
    const port = await freePort();
    const { stats, ...policy } = options;
    const statsPort = stats ? await freePort() : undefined;
    const child = await spawnHAProxy(haproxyConfig(port, services, { ...policy, statsPort }), port);
    return new HAProxy(
      `http://127.0.0.1:${port}`,
      child,
      statsPort === undefined ? undefined : `http://127.0.0.1:${statsPort}/stats;csv`,
    );
  }

  /** Backend totals from the stats CSV (started with `stats: true`). */
  async counters(): Promise<HAProxyCounters> {
    if (!this.statsUrl) throw new Error('haproxy was started without stats');
    const csv = await (await fetch(this.statsUrl)).text();
    const [header = '', ...rows] = csv.split('\n');
    const columns = header.replace(/^# /, '').split(',');
    const col = (name: string) => columns.indexOf(name);
    const totals: HAProxyCounters = { sessions: 0, retries: 0, redispatches: 0 };
    for (const row of rows) {
      const f = row.split(',');
      if (f[col('svname')] !== 'BACKEND' || !f[col('pxname')]?.startsWith('be_')) continue;
      totals.sessions += Number(f[col('stot')]) || 0;
      totals.retries += Number(f[col('wretr')]) || 0;
      totals.redispatches += Number(f[col('wredis')]) || 0;
    }
    return totals;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}

/**
 * Run HAProxy on `config` (the text of a haproxy.cfg) and resolve once `port` accepts
 * connections: HAProxy says nothing when it is ready. Rejects, with HAProxy's own words, when it
 * exits first or does not listen within 10 s. `files` (certificates, keys) are written beside the
 * config, which names each by `{{name}}`; the folder goes when HAProxy exits.
 */
export async function spawnHAProxy(
  config: string,
  port: number,
  files: Record<string, string> = {},
): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-haproxy-'));
  let text = config;
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    writeFileSync(path, content);
    text = text.replaceAll(`{{${name}}}`, path);
  }
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not listen: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
