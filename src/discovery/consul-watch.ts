/**
 * The blocking-query loop behind `ConsulDiscovery` (internal, not exported from the package): one
 * {@link ServiceWatch} per watched service, shared by all its subscribers, and the mapping of
 * `/v1/health/service` entries to endpoints.
 *
 * The loop follows HashiCorp's rules for blocking queries
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking): an index that goes backwards
 * resets to 0, an index below 1 is never blocked on, wake-ups pass a token bucket with a burst of 2 so
 * a churning service degrades into polling instead of a busy loop, errors back off exponentially with
 * jitter, and the client timeout covers `wait` plus the server's `wait / 16` jitter so a quiet service
 * never looks like a failure. Entries and the `passing`/`tag`/`near`/`stale` parameters follow
 * https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service.
 */
import { type Clock, sleep, type TimerHandle } from '../core/clock.js';
import type { EndpointInfo } from '../core/endpoint.js';
import { MeshError } from '../errors/mesh-error.js';
import { type ConsulSession, consulRequest, sanitizeConsulError } from './consul-connection.js';
import type { EndpointsListener } from './discovery.js';

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

/** @internal What every watch of one `ConsulDiscovery` shares: its session and validated options. */
export interface Settings {
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

/** One subscription to a watch. */
interface Subscriber {
  onUpdate: EndpointsListener;
  onError: ((error: Error) => void) | undefined;
  /** Settles `ready`; a no-op once settled. */
  settle(error?: Error): void;
}

/** @internal Consul's own cap on `wait`, in ms. */
export const MAX_WAIT = 600_000;
/** Slack on top of `wait + wait / 16` for connection setup and the answer's transfer. */
const TIMEOUT_MARGIN = 1_000;
/** Quick wake-ups allowed before rate limiting starts (the docs suggest a token bucket of 2). */
const BURST = 2;

/** @internal The blocking-query loop of one service, shared by all its subscribers. */
export class ServiceWatch {
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
