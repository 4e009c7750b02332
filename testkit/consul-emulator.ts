/**
 * TEST DOUBLE of the Consul agent HTTP API. This is not Consul: no Consul binary can be installed on
 * these machines, so the Consul tests run against this node:http server, which implements what
 * mesh-client uses, following Consul's documented and coded behaviour, and is checked against
 * fixtures written from Consul's API docs (test/consul-contract.test.ts):
 *
 * - blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking): `index` and
 *   `wait` (default 5m, capped at 10m, plus up to wait/16 of jitter); indexes never 0;
 * - `GET /v1/health/service/:name` (`passing`, repeatable `tag`, `dc`, `near`, `stale`), with the
 *   node's `serfHealth` check; `GET /v1/health/state/:state`, whose index is the checks table's;
 *   `GET /v1/catalog/services`; `dc` of a peer emulator is forwarded to it, an unknown one is 500
 *   `No path to datacenter`;
 * - `PUT /v1/agent/service/register` (validated as the agent does: consul-catalog.ts),
 *   `PUT /v1/agent/service/deregister/:id`, `GET /v1/agent/services`, `GET /v1/agent/service/:id`,
 *   `GET /v1/agent/checks`, `PUT /v1/agent/check/pass|warn|fail/:checkId`, `GET /v1/agent/self`:
 *   a service's single check is `service:<id>`; checks start critical unless `Status` says otherwise;
 *   TTL expiry turns a check critical; HTTP checks run every Interval (at least 1 s, as Consul
 *   clamps); `DeregisterCriticalServiceAfter` is enforced by a reaper (every 30 s, minimum 1 min);
 * - `GET|PUT|DELETE /v1/kv/:key` with Consul's KV index rules (consul-kv.ts);
 * - Connect (consul-connect.ts): the CA roots and leaf certificates (`/v1/agent/connect/ca/*`,
 *   blocking), `/v1/agent/connect/authorize` and exact intentions;
 * - ACLs (consul-acl.ts): 403 `ACL not found` for unknown tokens, reads filtered to 200 with
 *   `X-Consul-Results-Filtered-By-ACLs`, Consul's long `Permission denied: …` texts for writes;
 * - `http_max_conns_per_client` (Consul's default: 200 per client IP): a connection past the limit
 *   gets `429 Too Many Requests` written on it and is closed, as Consul's connection limiter does.
 *
 * Levers: {@link ConsulEmulator.setHealth}, {@link ConsulEmulator.bumpIndex}, `stop()`/`start()` (an
 * outage on the same port), {@link ConsulEmulator.forget} (an agent restarted without its data dir),
 * {@link ConsulEmulator.restore} (a snapshot restore: indexes go down, blocking queries wake), the
 * {@link ConsulEmulator.requests} log, open {@link ConsulEmulator.connections} and their peak.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Waiters } from './blocking.js';
import { type AclRules, Caller, MANAGEMENT } from './consul-acl.js';
import { AgentCatalog } from './consul-agent.js';
import type { CheckStatus } from './consul-catalog.js';
import { ConnectCa } from './consul-connect.js';
import { KvStore } from './consul-kv.js';

export type { AclRules } from './consul-acl.js';
export { type CheckStatus, parseGoDuration } from './consul-catalog.js';

/** One request the emulator received. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
}

/** Options of {@link ConsulEmulator.start}. */
export interface ConsulEmulatorOptions {
  /** A management token (every right); turns ACLs on. @defaultValue none (ACLs off) */
  token?: string;
  /** More tokens and their rights; turns ACLs on. @defaultValue none */
  tokens?: Record<string, AclRules>;
  /** The rights of requests without a token when ACLs are on. @defaultValue none */
  anonymous?: AclRules;
  /** Node name. @defaultValue `emulator` */
  node?: string;
  /** Datacenter. @defaultValue `dc1` */
  datacenter?: string;
  /** The node's WAN address (`TaggedAddresses.wan`). @defaultValue `127.0.0.1` */
  wanAddress?: string;
  /** Emulators of other datacenters: a `dc` naming one of them is forwarded to it. @defaultValue none */
  peers?: ConsulEmulator[];
  /** Connections allowed per client IP (Consul's `http_max_conns_per_client`). @defaultValue `200` */
  maxConnsPerClient?: number;
  /** Smallest HTTP check interval, in ms. @defaultValue `1000` (Consul's) */
  minCheckInterval?: number;
  /** Connect's trust domain. @defaultValue a new `<uuid>.consul` */
  trustDomain?: string;
  /** Lifetime of a Connect leaf certificate, in ms. @defaultValue 72 hours (Consul's `LeafCertTTL`) */
  leafTtl?: number;
  /** What authorize answers when no intention matches and ACLs are on. @defaultValue `'deny'` */
  intentionDefault?: 'allow' | 'deny';
  /** How often critical services are reaped, in ms. @defaultValue `30000` (Consul's) */
  reapInterval?: number;
  /** Smallest DeregisterCriticalServiceAfter, in ms. @defaultValue `60000` (Consul's) */
  minDeregisterAfter?: number;
}

/** Consul's connection limiter's answer (hashicorp/go-connlimit), written on the raw socket. */
const TOO_MANY =
  'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
  'Your IP is issuing too many concurrent connections, please rate limit your calls\n';

/** The emulated agent. Create with {@link ConsulEmulator.start}. */
export class ConsulEmulator {
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[] = [];
  readonly #opts: ConsulEmulatorOptions & { node: string; datacenter: string };
  readonly #waiters = new Waiters();
  readonly #sockets = new Set<Socket>();
  readonly #perIp = new Map<string, number>();
  readonly #reaper: NodeJS.Timeout;
  #index = 10;
  #server: Server | undefined;
  #port = 0;
  #peak = 0;
  #refused = 0;
  /** The KV store (`/v1/kv/`); tests put and delete keys through it. */
  readonly kv: KvStore;
  /** Connect's CA and intentions; tests rotate roots, renew leaves and set intentions through it. */
  readonly connect: ConnectCa;
  readonly #agent: AgentCatalog;

  private constructor(options: ConsulEmulatorOptions) {
    this.#opts = { ...options, node: options.node ?? 'emulator', datacenter: options.datacenter ?? 'dc1' };
    const next = () => ++this.#index;
    this.kv = new KvStore(next, this.#waiters);
    this.connect = new ConnectCa({
      datacenter: this.#opts.datacenter,
      trustDomain: options.trustDomain ?? `${randomUUID()}.consul`,
      leafTtl: options.leafTtl ?? 72 * 3_600_000,
      intentionDefault: options.intentionDefault ?? 'deny',
      aclsOn: () => this.#opts.token !== undefined || this.#opts.tokens !== undefined,
      nextIndex: next,
      waiters: this.#waiters,
    });
    this.#agent = new AgentCatalog({
      node: this.#opts.node,
      datacenter: this.#opts.datacenter,
      wanAddress: options.wanAddress ?? '127.0.0.1',
      minCheckInterval: options.minCheckInterval ?? 1_000,
      minDeregisterAfter: options.minDeregisterAfter ?? 60_000,
      nextIndex: next,
      currentIndex: () => this.#index,
      waiters: this.#waiters,
    });
    this.#reaper = setInterval(() => this.#agent.reap(), options.reapInterval ?? 30_000).unref();
  }

  /** Start an emulator on 127.0.0.1 and a free port. */
  static async start(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
    const emulator = new ConsulEmulator(options);
    await emulator.start();
    return emulator;
  }

  /** The port it listens on (kept across `stop()`/`start()`). */
  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>`, the form of `CONSUL_HTTP_ADDR`. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Its datacenter. */
  get datacenter(): string {
    return this.#opts.datacenter;
  }

  /** Blocking queries waiting right now. */
  get blockingQueries(): number {
    return this.#waiters.size;
  }

  /** Client connections open right now (keep-alive ones included). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** The most connections open at once since start (or since {@link ConsulEmulator.resetPeak}). */
  get peakConnections(): number {
    return this.#peak;
  }

  /** Connections closed with a 429 because their client IP had too many. */
  get refusedConnections(): number {
    return this.#refused;
  }

  /** Start counting the peak again from the connections open now. */
  resetPeak(): void {
    this.#peak = this.#sockets.size;
  }

  /** Listen again (on the same port after a `stop()`). */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) res.writeHead(500).end(String(error));
      });
    });
    server.on('connection', (socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.#port = typeof address === 'object' && address ? address.port : this.#port;
    this.#server = server;
  }

  /** Simulate an outage: drop every connection and refuse new ones. State and timers survive. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Stop for good: connections, TTL and HTTP-check timers, the reaper. */
  async close(): Promise<void> {
    clearInterval(this.#reaper);
    this.#agent.clear();
    await this.stop();
  }

  /** Set the status of every check of service `serviceId` (as an operator or a failing probe would). */
  setHealth(serviceId: string, status: CheckStatus, output = ''): void {
    this.#agent.setHealth(serviceId, status, output);
  }

  /** Move the index of every service (or of `name`) without changing any data: an idempotent write. */
  bumpIndex(name?: string): void {
    this.#agent.bump(name);
  }

  /** Give `token` new rights (an operator edits its policy), or delete it with `undefined`. */
  setToken(token: string, rules: AclRules | undefined): void {
    const tokens = { ...(this.#opts.tokens ?? {}) };
    if (rules) tokens[token] = rules;
    else delete tokens[token];
    this.#opts.tokens = tokens;
  }

  /** An agent restarted without its data dir: every service and check registered through it is gone. */
  forget(): void {
    this.#agent.clear(true);
  }

  /**
   * A snapshot restore: the Raft index and every index derived from it go down to `index` (the data
   * stays, or is changed by the test afterwards), and every blocking query answers at once with the
   * lowered index, as Consul abandons its watches on a restore.
   */
  restore(index: number): void {
    this.#index = Math.max(1, Math.min(this.#index, index));
    this.#agent.restore(this.#index);
    this.kv.restore(this.#index);
    this.#waiters.abandon();
  }

  #accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? '';
    const open = this.#perIp.get(ip) ?? 0;
    if (open >= (this.#opts.maxConnsPerClient ?? 200)) {
      this.#refused++;
      socket.end(TOO_MANY);
      socket.on('error', () => {});
      return;
    }
    this.#perIp.set(ip, open + 1);
    this.#sockets.add(socket);
    this.#peak = Math.max(this.#peak, this.#sockets.size);
    socket.on('close', () => {
      this.#sockets.delete(socket);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.#perIp.set(ip, left);
      else this.#perIp.delete(ip);
    });
  }

  /** Who is calling, or the 403 text for a token nobody knows. */
  #caller(req: IncomingMessage, url: URL): Caller | string {
    const header = req.headers['x-consul-token'];
    const given =
      (typeof header === 'string' && header !== '' ? header : undefined) ??
      bearer(req.headers.authorization) ??
      (url.searchParams.get('token') || undefined);
    const { token, tokens, anonymous } = this.#opts;
    if (token === undefined && tokens === undefined) return new Caller(undefined, given, 'none');
    if (given === undefined)
      return new Caller(anonymous ?? {}, undefined, '00000000-0000-0000-0000-000000000002');
    const rules = given === token ? MANAGEMENT : tokens?.[given];
    if (!rules) return 'ACL not found';
    return new Caller(rules, given, accessorOf(given));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.searchParams, headers: { ...req.headers } });
    const body = await readBody(req);
    const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      if (res.destroyed || res.headersSent) return;
      const text = typeof payload === 'string' && status !== 200 ? payload : JSON.stringify(payload ?? null);
      const type = status === 200 ? 'application/json' : 'text/plain; charset=utf-8';
      res.writeHead(status, { 'content-type': type, ...headers }).end(payload === undefined ? '' : text);
    };
    const path = url.pathname;
    if (path === '/v1/status/leader' && method === 'GET') return reply(200, '127.0.0.1:8300');
    const caller = this.#caller(req, url);
    if (typeof caller === 'string') return reply(403, caller);
    const dc = url.searchParams.get('dc');
    if (dc && dc !== this.#opts.datacenter) return this.#forward(dc, req, url, body, res, reply);
    if (path.startsWith('/v1/kv/')) {
      const allowed = {
        read: caller.keyRead(),
        write: caller.keyWrite(),
        denied: (permission: string) => caller.denied(permission, path.slice(7)),
      };
      return this.kv.handle(
        method,
        decodeURIComponent(path.slice(7)),
        url.searchParams,
        body,
        res,
        reply,
        allowed,
      );
    }
    if (path.startsWith('/v1/agent/connect/') || path.startsWith('/v1/connect/')) {
      if (await this.connect.handle(method, path, url.searchParams, body, caller, res, reply)) return;
    }
    return this.#agent.handle(method, path, url.searchParams, body, caller, res, reply);
  }

  /** Another datacenter: forwarded to the peer emulator that has it, as a Consul server would. */
  #forward(
    dc: string,
    req: IncomingMessage,
    url: URL,
    body: string,
    res: ServerResponse,
    reply: (status: number, payload?: unknown) => void,
  ): void {
    const peer = this.#opts.peers?.find((p) => p.datacenter === dc);
    if (!peer) {
      reply(500, 'No path to datacenter');
      return;
    }
    url.searchParams.delete('dc');
    const headers = { ...req.headers, host: peer.address };
    const out = request({
      host: '127.0.0.1',
      port: peer.port,
      method: req.method,
      path: `${url.pathname}?${url.searchParams}`,
      headers,
      agent: false,
    });
    out.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 500, answer.headers);
      answer.pipe(res);
    });
    out.on('error', (error) => reply(500, `rpc error: ${error.message}`));
    res.on('close', () => out.destroy());
    out.end(body);
  }
}

/** A stable fake AccessorID for a token (never the token itself). */
function accessorOf(token: string): string {
  let h = 0;
  for (const c of token) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}${hex.slice(0, 4)}`;
}

function bearer(value: string | undefined): string | undefined {
  return value?.startsWith('Bearer ') ? value.slice(7) : undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}
