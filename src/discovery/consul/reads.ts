/**
 * The non-blocking reads of `/v1/health/service/:name` behind `ConsulDiscovery` (internal): a queue
 * drained by at most `readConcurrency` requests at a time, so that any number of watched services
 * costs a bounded number of agent connections (Consul allows 200 per client IP by default, shared by
 * every process on the host, and answers 429 past that: Consul's `agent/config/default.go`). A
 * service is read when it is first watched, when the change feed says it may have changed, after a
 * failed read (with backoff), and once per `wait` as anti-entropy, for changes no health check
 * reflects (a re-registration under the same ID with a new port, an instance without checks).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { type ConsulSession, consulRequest, sanitizeConsulError } from './connection.js';
import { type EntryRules, endpointsKey, type HealthEntry, toEndpoints } from './entries.js';
import { backoffDelay } from './pace.js';
import type { ServiceView } from './watch.js';

/** The query parameters every read and feed query of one discovery shares. */
export interface ReadQuery {
  passing?: boolean;
  tag?: readonly string[];
  dc?: string;
  near?: string;
  stale?: boolean;
}

/** @internal What the parts of one `ConsulDiscovery` share: its session and validated options. */
export interface Settings {
  readonly session: ConsulSession;
  readonly clock: Clock;
  readonly random: () => number;
  readonly query: ReadQuery;
  readonly rules: Omit<EntryRules, 'address'>;
  /** `'wan'`: dial the WAN address when `datacenter` is another one than the agent's. */
  readonly remoteAddress: 'wan' | 'lan';
  readonly datacenter: string | undefined;
  readonly wait: number;
  readonly minWakeupInterval: number;
  readonly backoffBase: number;
  readonly backoffMax: number;
  readonly initialTimeout: number;
  readonly readConcurrency: number;
}

/** Shortest spacing of the anti-entropy re-reads, in ms, however many services are watched. */
const RESYNC_MIN_SPACING = 1_000;

/** @internal Reads services through a bounded number of concurrent requests. */
export class ServiceReader {
  readonly #s: Settings;
  readonly #views: ReadonlyMap<string, ServiceView>;
  readonly #queue = new Set<string>();
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  #active = 0;
  #seq = 0;
  #paused = true;
  #resync: TimerHandle | undefined;
  /** The address kind in force, once the agent's datacenter is known (see `addressKind`). */
  address: 'lan' | 'wan' = 'lan';
  /** Called after each applied read (the change feed takes it as the service's new baseline). */
  afterRead: (view: ServiceView) => void = () => {};

  constructor(settings: Settings, views: ReadonlyMap<string, ServiceView>) {
    this.#s = settings;
    this.#views = views;
  }

  /** A number that grows with every read sent; the change feed compares against it. */
  get seq(): number {
    return this.#seq;
  }

  /** Queue a read of `service` (once, however often asked before it runs). */
  request(service: string): void {
    if (this.#abort.signal.aborted) return;
    this.#queue.add(service);
    this.#pump();
  }

  /** Queue a read of every watched service. */
  requestAll(): void {
    for (const name of this.#views.keys()) this.request(name);
  }

  /** Start sending (reads wait for the change feed's first answer, see ConsulDiscovery). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#pump();
    this.#scheduleResync();
  }

  /** Forget a service that is no longer watched. */
  forget(view: ServiceView): void {
    this.#queue.delete(view.service);
    if (view.retry !== undefined) this.#s.clock.clearTimeout(view.retry);
    view.retry = undefined;
  }

  /** Abort every read and timer; resolves once the reads in flight have returned. */
  async close(): Promise<void> {
    this.#abort.abort(new Error('consul discovery closed'));
    this.#queue.clear();
    if (this.#resync !== undefined) this.#s.clock.clearTimeout(this.#resync);
    for (const view of this.#views.values()) this.forget(view);
    await Promise.all([...this.#inFlight]);
  }

  #pump(): void {
    while (!this.#paused && this.#active < this.#s.readConcurrency && this.#queue.size > 0) {
      const name = this.#queue.values().next().value as string;
      this.#queue.delete(name);
      const view = this.#views.get(name);
      if (!view) continue;
      this.#active++;
      const done: Promise<void> = this.#read(view).finally(() => {
        this.#active--;
        this.#inFlight.delete(done);
        this.#pump();
      });
      this.#inFlight.add(done);
    }
  }

  async #read(view: ServiceView): Promise<void> {
    const signal = this.#abort.signal;
    const { session, query, clock } = this.#s;
    view.readSeq = ++this.#seq;
    view.readAt = clock.now();
    if (view.retry !== undefined) clock.clearTimeout(view.retry);
    view.retry = undefined;
    try {
      const health = session.client.health;
      // The runtime takes papi's ctx and timeout and a repeated `tag` besides the declared options.
      const call = health.service.bind(health) as unknown as (opts: object) => Promise<unknown>;
      const result = await consulRequest(signal, session.requestTimeout, true, (control) =>
        call({ service: view.service, ...query, ...control }),
      );
      if (!Array.isArray(result) || result.length !== 2) throw new Error('consul: unexpected health answer');
      const [res, body] = result as [{ headers?: Record<string, unknown> } | undefined, unknown];
      if (!Array.isArray(body)) throw new Error('consul: health answer is not a list');
      const headers = res?.headers ?? {};
      // An agent with `translate_wan_addrs` has already put the WAN addresses in `Address`.
      const translated = headers['x-consul-translate-addresses'] === 'true';
      const address = translated ? 'lan' : this.address;
      const parsed = toEndpoints(body as HealthEntry[], { ...this.#s.rules, address });
      if (this.#views.get(view.service) !== view || signal.aborted) return;
      view.apply({
        ...parsed,
        key: endpointsKey(parsed.endpoints),
        filtered: headers['x-consul-results-filtered-by-acls'] === 'true',
        entries: body.length,
      });
      this.afterRead(view);
    } catch (error) {
      if (signal.aborted || this.#views.get(view.service) !== view) return;
      view.failures++;
      view.fail(sanitizeConsulError(error, session.connection.token), `reading attempt ${view.failures}`);
      const { backoffBase, backoffMax, random } = this.#s;
      const delay = backoffDelay(view.failures, backoffBase, backoffMax, random);
      view.retry = clock.setTimeout(() => {
        view.retry = undefined;
        this.request(view.service);
      }, delay);
    }
  }

  /**
   * Anti-entropy: re-read the service read longest ago once it is `wait` old, one at a time, spaced
   * so that every service comes round once per `wait` (a quiet service cost one request per `wait`
   * with a blocking query each; this costs the same, spread evenly).
   */
  #scheduleResync(): void {
    if (this.#abort.signal.aborted) return;
    const { clock, wait } = this.#s;
    const spacing = Math.max(RESYNC_MIN_SPACING, wait / Math.max(1, this.#views.size));
    this.#resync = clock.setTimeout(() => {
      this.#resync = undefined;
      let oldest: ServiceView | undefined;
      for (const view of this.#views.values()) if (!oldest || view.readAt < oldest.readAt) oldest = view;
      if (oldest && clock.now() - oldest.readAt >= wait) this.request(oldest.service);
      this.#scheduleResync();
    }, spacing);
  }
}
