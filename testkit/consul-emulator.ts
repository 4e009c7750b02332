/**
 * TEST DOUBLE of the Consul agent HTTP API. This is not Consul: no Consul binary can be installed on
 * these machines, so the Consul tests run against this small node:http server, which implements only
 * what mesh-client uses, following HashiCorp's documented semantics:
 *
 * - blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking): `index` and
 *   `wait` (default 5m, capped at 10m, plus up to wait/16 of jitter), `X-Consul-Index` per service;
 * - `GET /v1/health/service/:name` (https://developer.hashicorp.com/consul/api-docs/health) with
 *   `passing`, repeatable `tag`, `dc`, `near`, `stale`; entries carry the node's `serfHealth` check;
 * - `PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/:id`, `GET /v1/agent/checks`,
 *   `PUT /v1/agent/check/pass|warn|fail/:checkId` (https://developer.hashicorp.com/consul/api-docs/agent):
 *   a service's single check is `service:<id>`; checks start critical unless `Status` says otherwise;
 *   TTL expiry turns a check critical; HTTP checks run every Interval (at least 1 s, as Consul clamps);
 *   `DeregisterCriticalServiceAfter` is enforced by a reaper (Consul: every 30 s, minimum 1 min);
 * - `GET|PUT|DELETE /v1/kv/:key` (https://developer.hashicorp.com/consul/api-docs/kv), blocking on
 *   `index`, in `consul-kv.ts`: {@link ConsulEmulator.kv};
 * - `GET /v1/status/leader`; ACLs: with a token configured, requests without it get 403
 *   `Permission denied`, requests with another token 403 `ACL not found` (status endpoints are open).
 *
 * Test helpers: {@link ConsulEmulator.setHealth}, {@link ConsulEmulator.bumpIndex}, `stop()`/`start()`
 * (an outage on the same port: connections are refused meanwhile), the {@link ConsulEmulator.requests}
 * log, {@link ConsulEmulator.blockingQueries} in flight, open {@link ConsulEmulator.connections}.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { blockUntil } from './blocking.js';
import { KvStore } from './consul-kv.js';

/** A check status. */
export type CheckStatus = 'passing' | 'warning' | 'critical';

/** One request the emulator received. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

/** Options of {@link ConsulEmulator.start}. */
export interface ConsulEmulatorOptions {
  /** ACL token every request must carry. @defaultValue none (ACLs off) */
  token?: string;
  /** Node name. @defaultValue `emulator` */
  node?: string;
  /** Datacenter. @defaultValue `dc1` */
  datacenter?: string;
  /** Smallest HTTP check interval, in ms. @defaultValue `1000` (Consul's) */
  minCheckInterval?: number;
  /** How often critical services are reaped, in ms. @defaultValue `30000` (Consul's) */
  reapInterval?: number;
  /** Smallest DeregisterCriticalServiceAfter, in ms. @defaultValue `60000` (Consul's) */
  minDeregisterAfter?: number;
}

interface ServiceRecord {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Address: string;
  Port: number;
  Weights: { Passing: number; Warning: number };
  CreateIndex: number;
  ModifyIndex: number;
}

interface CheckRecord {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
  ttl?: number;
  probe?: { url: string; every: number; timeout: number };
  deregisterAfter?: number;
  criticalSince?: number;
  timer?: NodeJS.Timeout;
}

/** A Go duration (`"1m30s"`, `"300ms"`) in ms, or undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] ?? ''] ?? 0), 0);
}

/** The emulated agent. Create with {@link ConsulEmulator.start}. */
export class ConsulEmulator {
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[] = [];
  readonly #opts: Required<Omit<ConsulEmulatorOptions, 'token'>> & { token: string | undefined };
  readonly #services = new Map<string, ServiceRecord>();
  readonly #checks = new Map<string, CheckRecord>();
  /** Per service name, the index of its last change (tombstones included, as Consul keeps them). */
  readonly #indexes = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  readonly #sockets = new Set<Socket>();
  readonly #reaper: NodeJS.Timeout;
  #index = 10;
  /** The KV store (`/v1/kv/`); tests put and delete keys through it. */
  readonly kv = new KvStore(
    () => ++this.#index,
    () => this.#index,
  );
  #server: Server | undefined;
  #port = 0;
  #blocking = 0;

  private constructor(options: ConsulEmulatorOptions) {
    this.#opts = {
      token: options.token,
      node: options.node ?? 'emulator',
      datacenter: options.datacenter ?? 'dc1',
      minCheckInterval: options.minCheckInterval ?? 1_000,
      reapInterval: options.reapInterval ?? 30_000,
      minDeregisterAfter: options.minDeregisterAfter ?? 60_000,
    };
    this.#reaper = setInterval(() => this.#reap(), this.#opts.reapInterval).unref();
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

  /** Blocking queries waiting right now. */
  get blockingQueries(): number {
    return this.#blocking;
  }

  /** Client connections open right now (keep-alive ones included). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Listen again (on the same port after a `stop()`). */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) res.writeHead(500).end(String(error));
      });
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
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
    for (const check of this.#checks.values()) clearTimeout(check.timer);
    await this.stop();
  }

  /** Set the status of every check of service `serviceId` (as an operator or a failing probe would). */
  setHealth(serviceId: string, status: CheckStatus, output = ''): void {
    const checks = [...this.#checks.values()].filter((c) => c.ServiceID === serviceId);
    if (checks.length === 0) throw new Error(`emulator: service ${serviceId} has no checks`);
    for (const check of checks) this.#update(check, status, output);
  }

  /** Move the index of every service (or of `name`) without changing any data: an idempotent write. */
  bumpIndex(name?: string): void {
    const index = ++this.#index;
    for (const key of name === undefined ? this.#indexes.keys() : [name]) this.#indexes.set(key, index);
    this.#wake();
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
    const given =
      req.headers['x-consul-token'] ?? bearer(req.headers.authorization) ?? url.searchParams.get('token');
    if (this.#opts.token !== undefined && given !== this.#opts.token) {
      return reply(403, given ? 'ACL not found' : 'Permission denied');
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/v1\/health\/service\/([^/]+)$/.exec(path)) && method === 'GET') {
      return this.#health(decodeURIComponent(m[1] ?? ''), url.searchParams, res, reply);
    }
    if (path.startsWith('/v1/kv/')) {
      return this.kv.handle(method, decodeURIComponent(path.slice(7)), url.searchParams, body, res, reply);
    }
    if (path === '/v1/agent/service/register' && method === 'PUT') return reply(...this.#register(body));
    if ((m = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path)) && method === 'PUT') {
      const id = decodeURIComponent(m[1] ?? '');
      if (!this.#services.has(id))
        return reply(404, `Unknown service ID "${id}". Ensure that the service ID is passed`);
      this.#deregister(id);
      return reply(200);
    }
    if ((m = /^\/v1\/agent\/check\/(pass|warn|fail)\/([^/]+)$/.exec(path)) && method === 'PUT') {
      const check = this.#checks.get(decodeURIComponent(m[2] ?? ''));
      if (!check) return reply(404, `Unknown check ID "${m[2]}". Ensure that the check ID is passed`);
      if (check.ttl === undefined)
        return reply(500, `CheckID "${check.CheckID}" does not have associated TTL`);
      const status = ({ pass: 'passing', warn: 'warning', fail: 'critical' } as const)[m[1] as 'pass'];
      this.#update(check, status, url.searchParams.get('note') ?? '');
      this.#armTtl(check);
      return reply(200);
    }
    if (path === '/v1/agent/checks' && method === 'GET') {
      return reply(200, Object.fromEntries([...this.#checks].map(([id, c]) => [id, publicCheck(c)])));
    }
    return reply(path.startsWith('/v1/') ? 405 : 404, 'Unsupported by the Consul emulator');
  }

  async #health(
    name: string,
    q: URLSearchParams,
    res: ServerResponse,
    reply: (status: number, payload?: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const dc = q.get('dc');
    if (dc && dc !== this.#opts.datacenter) return reply(500, 'No path to datacenter');
    const wait = Math.min(parseGoDuration(q.get('wait') ?? '5m') ?? Number.NaN, 600_000);
    if (Number.isNaN(wait)) return reply(400, 'Invalid wait time');
    const rawIndex = q.get('index') ?? '0';
    if (!/^\d+$/.test(rawIndex)) return reply(400, 'Invalid index');
    const index = Number(rawIndex);
    if (index > 0 && this.#indexOf(name) <= index) {
      this.#blocking++;
      try {
        await blockUntil(
          res,
          this.#waiters,
          () => this.#indexOf(name) > index,
          wait + Math.random() * (wait / 16),
        );
      } finally {
        this.#blocking--;
      }
    }
    const tags = q.getAll('tag');
    const passing = q.has('passing') && q.get('passing') !== 'false';
    const entries = [...this.#services.values()]
      .filter((s) => s.Service === name && tags.every((t) => s.Tags.includes(t)))
      .map((s) => ({ service: s, checks: [this.#serfHealth(), ...this.#checksOf(s.ID)] }))
      .filter((e) => !passing || e.checks.every((c) => c.Status === 'passing'))
      .sort((a, b) => a.service.ID.localeCompare(b.service.ID))
      .map((e) => ({
        Node: this.#nodeRecord(),
        Service: { ...e.service },
        Checks: e.checks.map(publicCheck),
      }));
    reply(200, entries, {
      'x-consul-index': String(this.#indexOf(name)),
      'x-consul-knownleader': 'true',
      'x-consul-lastcontact': '0',
    });
  }

  #register(body: string): [number, string?] {
    let def: Record<string, unknown>;
    try {
      def = JSON.parse(body || '{}') as Record<string, unknown>;
    } catch {
      return [400, 'Request decode failed'];
    }
    const name = def.Name;
    if (typeof name !== 'string' || name === '') return [400, 'Missing service name'];
    const id = typeof def.ID === 'string' && def.ID !== '' ? def.ID : name;
    const defs = Array.isArray(def.Checks)
      ? (def.Checks as Record<string, unknown>[])
      : def.Check
        ? [def.Check as Record<string, unknown>]
        : [];
    const checks: CheckRecord[] = [];
    for (const [i, c] of defs.entries()) {
      const checkId =
        typeof c.CheckID === 'string'
          ? c.CheckID
          : defs.length > 1
            ? `service:${id}:${i + 1}`
            : `service:${id}`;
      const ttl = typeof c.TTL === 'string' ? parseGoDuration(c.TTL) : undefined;
      const interval = typeof c.Interval === 'string' ? parseGoDuration(c.Interval) : undefined;
      const http = typeof c.HTTP === 'string' ? c.HTTP : undefined;
      if (!(ttl && ttl > 0) && !(http && interval && interval > 0)) {
        return [400, 'Invalid check: TTL must be > 0 for TTL checks, or HTTP and Interval must be set'];
      }
      const deregisterAfter =
        typeof c.DeregisterCriticalServiceAfter === 'string'
          ? parseGoDuration(c.DeregisterCriticalServiceAfter)
          : undefined;
      const old = this.#checks.get(checkId);
      const status: CheckStatus = old?.Status ?? (isStatus(c.Status) ? c.Status : 'critical');
      checks.push({
        Node: this.#opts.node,
        CheckID: checkId,
        Name: typeof c.Name === 'string' ? c.Name : `Service '${name}' check`,
        Status: status,
        Notes: typeof c.Notes === 'string' ? c.Notes : '',
        Output: old?.Output ?? '',
        ServiceID: id,
        ServiceName: name,
        ServiceTags: stringArray(def.Tags),
        Type: ttl ? 'ttl' : 'http',
        CreateIndex: 0,
        ModifyIndex: 0,
        ...(ttl ? { ttl } : {}),
        ...(http && interval ? { probe: this.#probe(http, interval, c.Timeout) } : {}),
        ...(deregisterAfter ? { deregisterAfter } : {}),
        ...(status === 'critical' ? { criticalSince: Date.now() } : {}),
      });
    }
    const old = this.#services.get(id);
    if (old) this.#deregister(id, false);
    const index = ++this.#index;
    const weights = (def.Weights ?? {}) as { Passing?: number; Warning?: number };
    this.#services.set(id, {
      ID: id,
      Service: name,
      Tags: stringArray(def.Tags),
      Meta: (def.Meta ?? {}) as Record<string, string>,
      Address: typeof def.Address === 'string' ? def.Address : '',
      Port: typeof def.Port === 'number' ? def.Port : 0,
      Weights: { Passing: weights.Passing ?? 1, Warning: weights.Warning ?? 1 },
      CreateIndex: old?.CreateIndex ?? index,
      ModifyIndex: index,
    });
    for (const check of checks) {
      check.CreateIndex = check.ModifyIndex = index;
      this.#checks.set(check.CheckID, check);
      this.#armTtl(check);
      this.#startProbe(check);
    }
    this.#changed(name, index);
    return [200];
  }

  #deregister(id: string, notify = true): void {
    const service = this.#services.get(id);
    if (!service) return;
    this.#services.delete(id);
    for (const check of this.#checksOf(id)) {
      clearTimeout(check.timer);
      this.#checks.delete(check.CheckID);
    }
    if (notify) this.#changed(service.Service, ++this.#index);
  }

  #update(check: CheckRecord, status: CheckStatus, output: string): void {
    if (check.Status === status && check.Output === output) return;
    if (status === 'critical' && check.Status !== 'critical') check.criticalSince = Date.now();
    if (status !== 'critical') check.criticalSince = undefined;
    check.Status = status;
    check.Output = output;
    check.ModifyIndex = ++this.#index;
    this.#changed(check.ServiceName, check.ModifyIndex);
  }

  #armTtl(check: CheckRecord): void {
    if (check.ttl === undefined) return;
    clearTimeout(check.timer);
    check.timer = setTimeout(() => this.#update(check, 'critical', 'TTL expired'), check.ttl).unref();
  }

  #probe(url: string, interval: number, timeoutText: unknown): NonNullable<CheckRecord['probe']> {
    const timeout = typeof timeoutText === 'string' ? parseGoDuration(timeoutText) : undefined;
    return { url, every: Math.max(interval, this.#opts.minCheckInterval), timeout: timeout ?? 10_000 };
  }

  /** Run an HTTP check every interval: 2xx passing, 429 warning, anything else critical (Consul's rule). */
  #startProbe(check: CheckRecord): void {
    const probe = check.probe;
    if (!probe) return;
    const current = () => this.#checks.get(check.CheckID) === check;
    const run = () => {
      const req = request(probe.url, { method: 'GET', agent: false, timeout: probe.timeout }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        const status = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
        if (current()) this.#update(check, status, `HTTP GET ${probe.url}: ${code}`);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        if (current()) this.#update(check, 'critical', `HTTP GET ${probe.url}: ${err.message}`);
      });
      req.end();
      if (current()) check.timer = setTimeout(run, probe.every).unref();
    };
    // Consul staggers a new check's first run randomly within its interval.
    check.timer = setTimeout(run, Math.random() * probe.every).unref();
  }

  #reap(): void {
    const now = Date.now();
    for (const check of [...this.#checks.values()]) {
      if (check.deregisterAfter === undefined || check.criticalSince === undefined) continue;
      if (now - check.criticalSince >= Math.max(check.deregisterAfter, this.#opts.minDeregisterAfter)) {
        this.#deregister(check.ServiceID);
      }
    }
  }

  #changed(name: string, index: number): void {
    this.#indexes.set(name, index);
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** The index a query on `name` reports: its last change, or the current index for unknown names. */
  #indexOf(name: string): number {
    return this.#indexes.get(name) ?? this.#index;
  }

  #checksOf(serviceId: string): CheckRecord[] {
    return [...this.#checks.values()].filter((c) => c.ServiceID === serviceId);
  }

  #nodeRecord() {
    const { node, datacenter } = this.#opts;
    return {
      ID: '00000000-0000-0000-0000-000000000001',
      Node: node,
      Address: '127.0.0.1',
      Datacenter: datacenter,
      TaggedAddresses: {},
      Meta: {},
      CreateIndex: 1,
      ModifyIndex: 1,
    };
  }

  #serfHealth(): CheckRecord {
    return {
      Node: this.#opts.node,
      CheckID: 'serfHealth',
      Name: 'Serf Health Status',
      Status: 'passing',
      Notes: '',
      Output: 'Agent alive and reachable',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: '',
      CreateIndex: 1,
      ModifyIndex: 1,
    };
  }
}

function publicCheck(check: CheckRecord): Record<string, unknown> {
  const { ttl: _ttl, deregisterAfter: _d, criticalSince: _c, timer: _t, ...rest } = check;
  return rest;
}

function isStatus(value: unknown): value is CheckStatus {
  return value === 'passing' || value === 'warning' || value === 'critical';
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
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
