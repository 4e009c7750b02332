/**
 * Consul discovery: one long-lived blocking query per watched service on `/v1/health/service/:name`.
 *
 * The loop follows HashiCorp's rules for blocking queries
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking): an index that goes backwards
 * resets to 0, an index below 1 is never blocked on, wake-ups pass a token bucket with a burst of 2 so
 * a churning service degrades into polling instead of a busy loop, errors back off exponentially with
 * jitter, and the client timeout covers `wait` plus the server's `wait / 16` jitter so a quiet service
 * never looks like a failure. Entries and the `passing`/`tag`/`near`/`stale` parameters follow
 * https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service.
 *
 * Built on the `consul` package's plain `health.service` call, not its `watch` (which can end silently,
 * fires on equal bodies and neither rate-limits nor jitters: see DEPENDENCY-NOTES).
 */
import { EventEmitter } from 'node:events';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import { type Clock, sleep, systemClock, type TimerHandle } from '../core/clock.js';
import type { EndpointInfo } from '../core/endpoint.js';
import { MeshError } from '../errors.js';
import type { Discovery, EndpointsListener, Subscription } from './discovery.js';

/** Where the Consul agent is and how to talk to it; shared with `ConsulRegistrar`. */
export interface ConsulConnectionOptions {
  /** Agent host. @defaultValue from `CONSUL_HTTP_ADDR`, else `127.0.0.1` */
  host?: string;
  /** Agent HTTP(S) port. @defaultValue from `CONSUL_HTTP_ADDR`, else `8500` */
  port?: number;
  /** Use HTTPS. @defaultValue from the `CONSUL_HTTP_ADDR` scheme or `CONSUL_HTTP_SSL`, else `false` */
  secure?: boolean;
  /** PEM certificate(s) to trust for HTTPS, instead of the system roots. @defaultValue system roots */
  ca?: string | readonly string[];
  /** ACL token, sent as `X-Consul-Token` and never printed. @defaultValue `CONSUL_HTTP_TOKEN`, else none */
  token?: string;
  /** Where `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_SSL`, `CONSUL_HTTP_TOKEN` come from. @defaultValue process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Time limit of one non-blocking request, in ms. @defaultValue `10000` */
  requestTimeout?: number;
}

/** A {@link ConsulConnectionOptions} after defaults and environment are applied. */
export interface ConsulConnection {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly ca: readonly string[] | undefined;
  /** The ACL token; keep it out of logs and messages. */
  readonly token: string | undefined;
}

/**
 * Apply defaults and the environment the way the `consul` CLI does: `CONSUL_HTTP_ADDR` is `host:port`,
 * `http://host:port` or `https://host:port` (the scheme turns HTTPS on), `CONSUL_HTTP_SSL=true` turns
 * HTTPS on for a scheme-less address, `CONSUL_HTTP_TOKEN` is the token. Explicit options win; when
 * `host` or `port` is given, `CONSUL_HTTP_ADDR` is not read at all.
 */
export function resolveConsulConnection(options: ConsulConnectionOptions = {}): ConsulConnection {
  const env = options.env ?? process.env;
  let host = options.host;
  let port = options.port;
  let secure = options.secure;
  const addr = env.CONSUL_HTTP_ADDR?.trim();
  if (host === undefined && port === undefined && addr) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(addr)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
      throw new MeshError('MESH_BAD_OPTIONS', `CONSUL_HTTP_ADDR scheme "${scheme}" is not supported`);
    }
    let url: URL;
    try {
      url = new URL(scheme ? addr : `http://${addr}`);
    } catch {
      throw new MeshError('MESH_BAD_OPTIONS', 'CONSUL_HTTP_ADDR is not host:port or http(s)://host:port');
    }
    host = url.hostname;
    // A bare host:port names the agent's port; a URL without one means the scheme's default.
    port = url.port ? Number(url.port) : scheme ? (scheme === 'https' ? 443 : 80) : 8500;
    secure ??= scheme ? scheme === 'https' : undefined;
  }
  secure ??= /^(1|true)$/i.test(env.CONSUL_HTTP_SSL ?? '');
  host ??= '127.0.0.1';
  port ??= 8500;
  if (typeof host !== 'string' || host === '')
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.host must be a non-empty string');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.port must be an integer from 1 to 65535');
  }
  const ca =
    options.ca === undefined ? undefined : typeof options.ca === 'string' ? [options.ca] : [...options.ca];
  if (ca && !ca.every((c) => typeof c === 'string' && c.includes('-----BEGIN'))) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.ca must be PEM certificate text');
  }
  const token = options.token ?? (env.CONSUL_HTTP_TOKEN || undefined);
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.token must be a non-empty string');
  }
  return { host, port, secure: secure === true, ca, token };
}

/** @internal A client of the `consul` package with its own connection pool. */
export interface ConsulSession {
  readonly client: Consul;
  readonly connection: ConsulConnection;
  readonly requestTimeout: number;
  /** Close every pooled socket. */
  destroy(): void;
}

/** @internal Open a {@link ConsulSession}; the pool is ours so `destroy()` can close it. */
export function openConsul(options: ConsulConnectionOptions): ConsulSession {
  const connection = resolveConsulConnection(options);
  const requestTimeout = positive(options.requestTimeout, 10_000, 'consul.requestTimeout');
  const ca = connection.ca ? [...connection.ca] : undefined;
  const agent = connection.secure
    ? new HttpsAgent({ keepAlive: true, ca })
    : new HttpAgent({ keepAlive: true });
  const client = new Consul({
    host: connection.host,
    port: connection.port,
    secure: connection.secure,
    agent,
    ...(connection.token !== undefined && { defaults: { token: connection.token } }),
  });
  return { client, connection, requestTimeout, destroy: () => agent.destroy() };
}

/** @internal What the `consul` package's HTTP layer (papi) needs to cancel and time-limit a request. */
export interface RequestControl {
  /** papi aborts the request when this emits `cancel`; `includeResponse` asks for `[response, body]`. */
  ctx: EventEmitter;
  /** ms until papi gives up on the request. */
  timeout: number;
}

/**
 * @internal Run one `consul` call under `signal` and `timeout`. papi predates AbortSignal: it cancels
 * through a `ctx` emitter, so the signal is bridged onto one.
 */
export async function consulRequest<T>(
  signal: AbortSignal | undefined,
  timeout: number,
  includeResponse: boolean,
  call: (control: RequestControl) => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  const ctx = Object.assign(new EventEmitter(), { includeResponse });
  const cancel = () => ctx.emit('cancel');
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await call({ ctx, timeout });
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

/**
 * @internal A plain copy of a `consul` failure: the token is cut from its message, and the response
 * object (whose request still carries the token header) is left behind.
 */
export function sanitizeConsulError(error: unknown, token: string | undefined): Error {
  const source = (error ?? {}) as { message?: unknown; statusCode?: unknown; code?: unknown };
  const raw = typeof source.message === 'string' ? source.message : String(error);
  const copy = new Error(token ? raw.split(token).join('[redacted]') : raw) as Error & {
    statusCode?: number;
    code?: string;
  };
  try {
    if (typeof source.statusCode === 'number') copy.statusCode = source.statusCode;
  } catch {
    // papi's statusCode getter throws when the error has no response.
  }
  if (typeof source.code === 'string') copy.code = source.code;
  return copy;
}

/** @internal A positive number option, or its default. */
export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MeshError('MESH_BAD_OPTIONS', `${name} must be a positive number of ms`);
  }
  return value;
}

/** Options of {@link ConsulDiscovery}: where the agent is, what to watch and how patiently. */
export interface ConsulOptions extends ConsulConnectionOptions {
  /** Datacenter to query. @defaultValue the agent's own datacenter */
  datacenter?: string;
  /** Only instances carrying every one of these tags. @defaultValue `[]` (no tag filter) */
  tags?: readonly string[];
  /** Sort by round-trip time from this node (`_agent` for the local agent). @defaultValue unsorted */
  near?: string;
  /** Only instances whose checks all pass; false keeps `warning` ones too. @defaultValue `true` */
  passingOnly?: boolean;
  /** Let any server answer, not only the leader (faster, possibly slightly behind). @defaultValue `false` */
  stale?: boolean;
  /** How long one blocking query may wait, in ms (Consul caps it at 10 min). @defaultValue `300000` */
  wait?: number;
  /** Once two quick wake-ups are spent, one more is allowed per this many ms. @defaultValue `1000` */
  minWakeupInterval?: number;
  /** First retry delay after an error, in ms; it doubles per failure, with jitter. @defaultValue `250` */
  backoffBase?: number;
  /** Upper bound of the retry delay, in ms. @defaultValue `30000` */
  backoffMax?: number;
  /** How long `ready` waits for a first answer before it rejects, in ms. @defaultValue `10000` */
  initialTimeout?: number;
  /** Time source for backoff, rate limit and `initialTimeout`. @defaultValue the system clock */
  clock?: Clock;
  /** Random source in [0, 1) for backoff jitter. @defaultValue `Math.random` */
  random?: () => number;
}

/** A check as `/v1/health/service` reports it; only what we read is typed. */
interface HealthCheck {
  Status?: unknown;
}

/** One `/v1/health/service` entry; the package leaves it untyped, so nothing is trusted. */
interface HealthEntry {
  Node?: { Node?: unknown; Address?: unknown };
  Service?: {
    ID?: unknown;
    Address?: unknown;
    Port?: unknown;
    Tags?: unknown;
    Meta?: unknown;
    Weights?: { Passing?: unknown; Warning?: unknown };
  };
  Checks?: HealthCheck[];
}

/**
 * The options `health.service` accepts at runtime; its `.d.ts` lacks the blocking-query ones and types
 * `tag` as one string although the query string repeats an array (Consul >= 1.9 matches all of them).
 */
interface BlockingServiceQuery {
  service: string;
  index: string;
  wait: string;
  passing?: boolean;
  tag?: readonly string[];
  dc?: string;
  near?: string;
  stale?: boolean;
}

interface Settings {
  readonly session: ConsulSession;
  readonly clock: Clock;
  readonly random: () => number;
  readonly query: Omit<BlockingServiceQuery, 'service' | 'index' | 'wait'>;
  readonly tags: readonly string[];
  readonly passingOnly: boolean;
  readonly wait: number;
  readonly minWakeupInterval: number;
  readonly backoffBase: number;
  readonly backoffMax: number;
  readonly initialTimeout: number;
}

interface Subscriber {
  onUpdate: EndpointsListener;
  onError: ((error: Error) => void) | undefined;
  /** Settles `ready`; a no-op once settled. */
  settle(error?: Error): void;
}

/** Consul's own cap on `wait`. */
const MAX_WAIT = 600_000;
/** Slack on top of `wait + wait / 16` for connection setup and the answer's transfer. */
const TIMEOUT_MARGIN = 1_000;
/** Quick wake-ups allowed before rate limiting starts (the docs suggest a token bucket of 2). */
const BURST = 2;

/** A {@link Discovery} backed by Consul's health endpoint, kept current with blocking queries. */
export class ConsulDiscovery implements Discovery {
  readonly #settings: Settings;
  readonly #watches = new Map<string, ServiceWatch>();
  /** Watches whose last subscriber left, still winding down: close() waits for them too. */
  readonly #stopping = new Set<Promise<void>>();
  #closed = false;

  constructor(options: ConsulOptions = {}) {
    const wait = positive(options.wait, 300_000, 'consul.wait');
    if (wait > MAX_WAIT) throw new MeshError('MESH_BAD_OPTIONS', 'consul.wait must be at most 600000 ms');
    const tags = [...(options.tags ?? [])];
    if (!tags.every((t) => typeof t === 'string' && t !== '')) {
      throw new MeshError('MESH_BAD_OPTIONS', 'consul.tags must be non-empty strings');
    }
    const query: Settings['query'] = {
      ...(options.passingOnly !== false && { passing: true }),
      ...(tags.length > 0 && { tag: tags }),
      ...(options.datacenter !== undefined && { dc: options.datacenter }),
      ...(options.near !== undefined && { near: options.near }),
      ...(options.stale === true && { stale: true }),
    };
    this.#settings = {
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
      query,
      tags,
      passingOnly: options.passingOnly !== false,
      wait,
      minWakeupInterval: positive(options.minWakeupInterval, 1_000, 'consul.minWakeupInterval'),
      backoffBase: positive(options.backoffBase, 250, 'consul.backoffBase'),
      backoffMax: positive(options.backoffMax, 30_000, 'consul.backoffMax'),
      initialTimeout: positive(options.initialTimeout, 10_000, 'consul.initialTimeout'),
      // Last: it opens a connection pool, which must not leak when validation above throws.
      session: openConsul(options),
    };
  }

  subscribe(service: string, onUpdate: EndpointsListener, onError?: (error: Error) => void): Subscription {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'consul discovery is closed', { service });
    if (typeof service !== 'string' || service === '') {
      throw new MeshError('MESH_BAD_OPTIONS', 'service name must be a non-empty string');
    }
    let watch = this.#watches.get(service);
    const fresh = !watch;
    if (!watch) this.#watches.set(service, (watch = new ServiceWatch(service, this.#settings)));
    const { subscriber, ready } = watch.add(onUpdate, onError);
    if (fresh) watch.start();
    return {
      ready,
      close: () => {
        if (!watch.remove(subscriber)) return;
        if (watch.idle && this.#watches.get(service) === watch) {
          this.#watches.delete(service);
          const stopping = watch.stop().finally(() => this.#stopping.delete(stopping));
          this.#stopping.add(stopping);
        }
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all([...watches.map((w) => w.stop()), ...this.#stopping]);
    this.#settings.session.destroy();
  }
}

/** The blocking-query loop of one service, shared by all its subscribers. */
class ServiceWatch {
  readonly #service: string;
  readonly #s: Settings;
  readonly #subscribers = new Set<Subscriber>();
  readonly #abort = new AbortController();
  #endpoints: readonly EndpointInfo[] | undefined;
  #key = '';
  #index = 0n;
  #failures = 0;
  #lastError: Error | undefined;
  #tokens = BURST;
  #stamp: number;
  #loop: Promise<void> = Promise.resolve();

  constructor(service: string, settings: Settings) {
    this.#service = service;
    this.#s = settings;
    this.#stamp = settings.clock.now();
  }

  get idle(): boolean {
    return this.#subscribers.size === 0;
  }

  add(
    onUpdate: EndpointsListener,
    onError?: (error: Error) => void,
  ): { subscriber: Subscriber; ready: Promise<void> } {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may never await `ready`; a rejection nobody listens to must not crash the process.
    ready.catch(() => {});
    let timer: TimerHandle | undefined;
    let settled = false;
    const subscriber: Subscriber = {
      onUpdate,
      onError,
      settle: (error) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.#s.clock.clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      },
    };
    this.#subscribers.add(subscriber);
    if (this.#endpoints) {
      subscriber.settle();
      onUpdate(this.#endpoints);
    } else {
      timer = this.#s.clock.setTimeout(() => {
        timer = undefined;
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        const within = `within ${this.#s.initialTimeout} ms${why}`;
        const message = `no answer from consul for service "${this.#service}" ${within}`;
        subscriber.settle(
          new MeshError('MESH_DISCOVERY_UNAVAILABLE', message, {
            service: this.#service,
            cause: this.#lastError,
          }),
        );
      }, this.#s.initialTimeout);
    }
    return { subscriber, ready };
  }

  /** Drop a subscriber; false when it was already gone. */
  remove(subscriber: Subscriber): boolean {
    if (!this.#subscribers.delete(subscriber)) return false;
    subscriber.settle(closedError(this.#service));
    return true;
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Abort the in-flight query and any pending sleep; resolves once the loop has returned. */
  async stop(): Promise<void> {
    for (const subscriber of this.#subscribers) subscriber.settle(closedError(this.#service));
    this.#subscribers.clear();
    this.#abort.abort(closedError(this.#service));
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let delay: number;
      try {
        const { index, entries } = await this.#query(signal);
        this.#failures = 0;
        this.#accept(index, entries);
        delay = this.#throttle();
      } catch (error) {
        if (signal.aborted) return;
        this.#failures++;
        this.#report(error);
        delay = this.#backoff();
      }
      try {
        await sleep(this.#s.clock, delay, signal);
      } catch {
        return;
      }
    }
  }

  async #query(signal: AbortSignal): Promise<{ index: bigint | undefined; entries: unknown }> {
    const { session, query, wait } = this.#s;
    const options: BlockingServiceQuery = {
      service: this.#service,
      index: this.#index.toString(),
      wait: `${wait}ms`,
      ...query,
    };
    const timeout = wait + Math.ceil(wait / 16) + TIMEOUT_MARGIN;
    const health = session.client.health;
    // See BlockingServiceQuery: the runtime accepts more than the declared signature.
    const call = health.service.bind(health) as unknown as (opts: BlockingServiceQuery) => Promise<unknown>;
    const result = await consulRequest(signal, timeout, true, (control) => call({ ...options, ...control }));
    if (!Array.isArray(result) || result.length !== 2) throw new Error('consul: unexpected health answer');
    const [res, entries] = result as [{ headers?: Record<string, unknown> } | undefined, unknown];
    return { index: parseIndex(res?.headers?.['x-consul-index']), entries };
  }

  #accept(index: bigint | undefined, entries: unknown): void {
    if (!Array.isArray(entries)) throw new Error('consul: health answer is not a list');
    // Backwards means a snapshot restore or similar: restart with a non-blocking query.
    if (index !== undefined && index < this.#index) this.#index = 0n;
    // A missing or zero index would make the next query return at once, forever: block on 1 at least.
    else this.#index = index !== undefined && index > 0n ? index : 1n;
    const endpoints = toEndpoints(entries as HealthEntry[], this.#s);
    const key = endpointsKey(endpoints);
    const first = this.#endpoints === undefined;
    // The index also moves for unrelated writes; only a different set is news.
    if (!first && key === this.#key) return;
    this.#endpoints = endpoints;
    this.#key = key;
    for (const subscriber of [...this.#subscribers]) {
      // A listener may close another subscription meanwhile; that one must hear nothing more.
      if (!this.#subscribers.has(subscriber)) continue;
      subscriber.settle();
      isolate(() => subscriber.onUpdate(endpoints));
    }
  }

  #report(error: unknown): void {
    this.#lastError = sanitizeConsulError(error, this.#s.session.connection.token);
    const failure = new MeshError(
      'MESH_DISCOVERY_UNAVAILABLE',
      `consul: watching service "${this.#service}" failed ` +
        `(attempt ${this.#failures}): ${this.#lastError.message}`,
      { service: this.#service, cause: this.#lastError },
    );
    for (const subscriber of [...this.#subscribers]) {
      const onError = subscriber.onError;
      if (onError && this.#subscribers.has(subscriber)) isolate(() => onError(failure));
    }
  }

  /** Delay before the next query after a success: a token bucket of {@link BURST}. */
  #throttle(): number {
    const now = this.#s.clock.now();
    const interval = this.#s.minWakeupInterval;
    this.#tokens = Math.min(BURST, this.#tokens + (now - this.#stamp) / interval);
    this.#stamp = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    const delay = (1 - this.#tokens) * interval;
    // The token that accrues while we sleep is spent by the query that follows.
    this.#tokens = 0;
    this.#stamp = now + delay;
    return delay;
  }

  /** Exponential, capped, with "equal jitter": never a hot loop, never in lockstep with peers. */
  #backoff(): number {
    const { backoffBase, backoffMax, random } = this.#s;
    const ceiling = Math.min(backoffMax, backoffBase * 2 ** Math.min(this.#failures - 1, 30));
    return ceiling / 2 + (random() * ceiling) / 2;
  }
}

/** Map health entries to endpoints, applying the status rules again on our side. */
function toEndpoints(entries: readonly HealthEntry[], s: Settings): readonly EndpointInfo[] {
  const out: EndpointInfo[] = [];
  for (const entry of entries) {
    const service = entry?.Service;
    const port = service?.Port;
    if (!service || typeof port !== 'number' || !Number.isInteger(port) || port <= 0) continue;
    const statuses = (Array.isArray(entry.Checks) ? entry.Checks : []).map((c) => c?.Status);
    // `passing=true` already filters on the server; repeating it costs nothing and covers odd agents.
    if (statuses.includes('critical') || (s.passingOnly && statuses.some((x) => x !== 'passing'))) continue;
    const tags = Array.isArray(service.Tags)
      ? service.Tags.filter((t): t is string => typeof t === 'string')
      : [];
    // Agents before 1.9 honour only the first `tag` parameter.
    if (!s.tags.every((t) => tags.includes(t))) continue;
    const meta = stringRecord(service.Meta);
    const weights = service.Weights ?? {};
    const weight = statuses.includes('warning') ? weights.Warning : weights.Passing;
    const resolved = typeof weight === 'number' ? weight : 1;
    // Consul allows a warning weight of 0, meaning "send nothing"; EndpointInfo requires > 0.
    if (!(resolved > 0)) continue;
    const host = nonEmpty(service.Address) ?? nonEmpty(entry.Node?.Address);
    if (!host) continue;
    const scheme = meta.scheme === 'https' ? 'https' : 'http';
    const id = nonEmpty(service.ID) ?? `${host}:${port}`;
    const node = nonEmpty(entry.Node?.Node);
    out.push(
      Object.freeze({
        url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`,
        // Service IDs are unique per agent only: the node name makes them unique cluster-wide.
        id: node ? `${node}/${id}` : id,
        weight: resolved,
        tags: Object.freeze(tags),
        meta: Object.freeze(meta),
      }),
    );
  }
  return Object.freeze(out);
}

/** A canonical form of a set: order-insensitive, since `near` may reorder equal sets. */
function endpointsKey(endpoints: readonly EndpointInfo[]): string {
  const parts = endpoints.map((e) =>
    JSON.stringify([e.id, e.url, e.weight, e.tags, Object.entries(e.meta ?? {}).sort()]),
  );
  return parts.sort().join('\n');
}

function parseIndex(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return BigInt(value);
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function closedError(service: string): MeshError {
  return new MeshError('MESH_CLOSED', `the watch of service "${service}" was closed`, { service });
}

/** Run a listener so that its bug neither stops the watch nor hides: it becomes a process warning. */
function isolate(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    process.emitWarning(error instanceof Error ? error : String(error), 'MeshListenerWarning');
  }
}
