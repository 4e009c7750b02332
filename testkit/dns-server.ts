/**
 * A real DNS server for the DNS discovery tests: BIND 9's `named` (Debian package `bind9`) on a free
 * loopback port, authoritative for one zone whose records the test writes. Changing the records
 * rewrites the zone file with a higher serial and sends SIGHUP; {@link DnsServer.setRecords} resolves
 * once named logs that it loaded that serial. The test can also kill it (a resolver outage: queries
 * are refused), start it again on the same port, or freeze it with SIGSTOP (queries time out).
 *
 * Nothing here answers DNS itself: every answer the tests see comes from named.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One resource record; a `name` without a trailing dot is relative to the zone. */
export type DnsRecord =
  | { name: string; type: 'A'; address: string; ttl?: number }
  | { name: string; type: 'AAAA'; address: string; ttl?: number }
  | {
      name: string;
      type: 'SRV';
      priority: number;
      weight: number;
      port: number;
      target: string;
      ttl?: number;
    }
  | { name: string; type: 'TXT'; text: string; ttl?: number };

/** Options of {@link DnsServer.start}. */
export interface DnsServerOptions {
  /** The zone served. @defaultValue `'cluster.local'` */
  zone?: string;
  /** Records at start. @defaultValue none */
  records?: DnsRecord[];
  /** TTL of records that set none, in seconds; also the negative-answer TTL. @defaultValue `5` */
  ttl?: number;
}

const READY_TIMEOUT = 15_000;

/** Someone waiting for a line in named's log. */
interface LogWaiter {
  match: RegExp;
  fail: RegExp;
  /** Where in the log the wait began: only what named says afterwards counts. */
  from: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The `named` binary: on PATH, or where Debian puts it (`/usr/sbin`, not on every user's PATH). */
function namedBinary(): string | undefined {
  for (const candidate of ['named', '/usr/sbin/named']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  return undefined;
}

/** True when BIND's `named` can be run. */
export function namedInstalled(): boolean {
  return namedBinary() !== undefined;
}

/** A loopback port free for both UDP and TCP (named listens on both). */
async function freeDnsPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    if (ok) await new Promise((resolve) => tcp.close(resolve));
    if (ok) return port;
  }
  throw new Error('no loopback port free for both UDP and TCP');
}

export class DnsServer {
  readonly zone: string;
  readonly port: number;
  readonly #dir: string;
  readonly #binary: string;
  readonly #ttl: number;
  #records: DnsRecord[];
  #serial = 0;
  #child: ChildProcess | undefined;
  #log = '';
  #waiters: LogWaiter[] = [];

  private constructor(binary: string, port: number, options: DnsServerOptions) {
    this.#binary = binary;
    this.port = port;
    this.zone = (options.zone ?? 'cluster.local').replace(/\.$/, '');
    this.#ttl = options.ttl ?? 5;
    this.#records = [...(options.records ?? [])];
    this.#dir = mkdtempSync(join(tmpdir(), 'mesh-named-'));
  }

  /** Start named with `options.records`; resolves once it answers. */
  static async start(options: DnsServerOptions = {}): Promise<DnsServer> {
    const binary = namedBinary();
    if (!binary) throw new Error('named (Debian package bind9) is not installed');
    const server = new DnsServer(binary, await freeDnsPort(), options);
    server.#writeConfig();
    server.#writeZone();
    await server.restart();
    return server;
  }

  /** The address to give a resolver: `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Whether named runs now. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** The records served now. */
  get records(): readonly DnsRecord[] {
    return this.#records;
  }

  /** Replace every record; resolves once named has loaded the new zone. */
  async setRecords(records: DnsRecord[]): Promise<void> {
    this.#records = [...records];
    this.#writeZone();
    if (!this.#child) return;
    const loaded = this.#expect(this.#loadedLine());
    this.#child.kill('SIGHUP');
    await loaded;
  }

  /** Kill named at once (SIGKILL), as a crashed or evicted resolver: queries are refused meanwhile. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Start named (again) on the same port with the current records; resolves once it answers. */
  async restart(): Promise<void> {
    if (this.#child) return;
    this.#log = '';
    const child = spawn(this.#binary, ['-g', '-n', '1', '-c', join(this.#dir, 'named.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.#log += chunk;
      for (const w of [...this.#waiters]) {
        const since = this.#log.slice(w.from);
        if (w.match.test(since)) this.#settle(w, undefined);
        else if (w.fail.test(since)) this.#settle(w, new Error(`named: ${this.#tail()}`));
      }
    });
    // A test run that ends without close() (a crash, a forgotten server) must not leave named behind.
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    child.on('exit', (code, signal) => {
      process.off('exit', reap);
      if (this.#child === child) this.#child = undefined;
      for (const w of [...this.#waiters])
        this.#settle(w, new Error(`named exited (${code ?? signal}): ${this.#tail()}`));
    });
    // The last line of a good start is a timestamp and `running` alone (`running as: ...` comes first).
    await this.#expect(/\d running\n/);
  }

  /**
   * Freeze named (SIGSTOP): it holds its sockets but answers nothing, so queries time out.
   * Resolves once the kernel reports the process stopped: a signal is delivered asynchronously,
   * and a query sent before that would still be answered.
   */
  async pause(): Promise<void> {
    const child = this.#child;
    if (!child?.pid) return;
    child.kill('SIGSTOP');
    for (let polls = 0; !stopped(child.pid); polls++) {
      if (polls >= 2_000) throw new Error(`named (pid ${child.pid}) did not stop within 2 s of SIGSTOP`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Thaw a paused named (SIGCONT). */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #writeConfig(): void {
    const conf = [
      // No rndc channel: it would listen on port 953, which parallel test files would fight over.
      'controls { };',
      'options {',
      `  directory "${this.#dir}";`,
      '  pid-file none;',
      '  session-keyfile none;',
      `  listen-on port ${this.port} { 127.0.0.1; };`,
      '  listen-on-v6 { none; };',
      '  recursion no;',
      '  notify no;',
      '  dnssec-validation no;',
      // BIND 9.18.28+ refuses more than 100 records of one type at a name by default; the tests
      // serve bigger answers on purpose.
      '  max-records-per-type 0;',
      '};',
      `zone "${this.zone}" { type primary; file "${join(this.#dir, 'zone.db')}"; };`,
      '',
    ];
    writeFileSync(join(this.#dir, 'named.conf'), conf.join('\n'));
  }

  #writeZone(): void {
    this.#serial++;
    const ttl = this.#ttl;
    const lines = [
      `$ORIGIN ${this.zone}.`,
      `$TTL ${ttl}`,
      `@ IN SOA ns.${this.zone}. admin.${this.zone}. ${this.#serial} 60 60 600 ${ttl}`,
      '@ IN NS ns',
      'ns IN A 127.0.0.1',
    ];
    for (const r of this.#records) {
      const head = `${r.name} ${r.ttl ?? ttl} IN ${r.type}`;
      if (r.type === 'SRV') lines.push(`${head} ${r.priority} ${r.weight} ${r.port} ${r.target}`);
      else if (r.type === 'TXT') lines.push(`${head} "${r.text}"`);
      else lines.push(`${head} ${r.address}`);
    }
    writeFileSync(join(this.#dir, 'zone.db'), `${lines.join('\n')}\n`);
  }

  #loadedLine(): RegExp {
    return new RegExp(`zone ${this.zone.replace(/\./g, '\\.')}/IN: loaded serial ${this.#serial}\\b`);
  }

  /** Resolves when named's log matches `match`; rejects when the zone fails to load or named exits. */
  #expect(match: RegExp): Promise<void> {
    const fail = /not loaded due to errors|loading configuration: failure|exiting \(due to fatal error/;
    return new Promise<void>((resolve, reject) => {
      const waiter: LogWaiter = { match, fail, from: this.#log.length, resolve, reject };
      const timer = setTimeout(
        () => this.#settle(waiter, new Error(`named: no ${match} in ${this.#tail()}`)),
        READY_TIMEOUT,
      );
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      waiter.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.#waiters.push(waiter);
    });
  }

  #settle(waiter: LogWaiter, error: Error | undefined): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    if (error) waiter.reject(error);
    else waiter.resolve();
  }

  #tail(): string {
    return this.#log.split('\n').slice(-12).join('\n');
  }
}

/** Whether `pid` is stopped by a signal (state `T` in /proc/<pid>/stat). */
function stopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}
