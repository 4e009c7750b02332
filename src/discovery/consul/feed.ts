/**
 * The change feed of `ConsulDiscovery` (internal): ONE blocking query on `/v1/health/state/any`,
 * however many services are watched, in place of one blocking query per service.
 *
 * Consul wakes that query on any change to the checks table (an instance registered or
 * deregistered with its checks, a status change, a node going down). Each answer lists every check
 * of the datacenter; the feed reduces it to a fingerprint per service (its checks' IDs and statuses,
 * and the node checks of the nodes it lives on) and asks the {@link ServiceReader} to read again only
 * the watched services whose fingerprint moved. The loop follows Consul's blocking rules
 * ({@link BlockingIndex}, {@link WakeupLimiter}, {@link backoffDelay}); after a failure, or when
 * the index went backwards (a snapshot restore), every watched service is read again, since
 * anything may have changed meanwhile.
 */
import { sleep } from '../../core/clock.js';
import { MeshError } from '../../errors/mesh-error.js';
import { type ConsulSession, consulRequest, sanitizeConsulError } from './connection.js';
import { checkFingerprints, type HealthCheck } from './entries.js';
import { BlockingIndex, backoffDelay, WakeupLimiter } from './pace.js';
import type { ServiceReader, Settings } from './reads.js';
import type { ServiceView } from './watch.js';

/** Slack on top of `wait + wait / 16` for connection setup and the answer's transfer. */
const TIMEOUT_MARGIN = 1_000;

/** One answer's fingerprints, and when it arrived (in read sequence numbers). */
interface Snapshot {
  services: Map<string, string>;
  nodes: Map<string, string>;
  arrivedSeq: number;
}

/** @internal The blocking loop on `/v1/health/state/any`. */
export class ChangeFeed {
  readonly #s: Settings;
  readonly #views: ReadonlyMap<string, ServiceView>;
  readonly #reader: ServiceReader;
  readonly #abort = new AbortController();
  readonly #index = new BlockingIndex();
  readonly #limiter: WakeupLimiter;
  #failures = 0;
  #filtered = false;
  #last: Snapshot | undefined;
  #loop: Promise<void> = Promise.resolve();
  /** Settles on the first answer or failure; reads wait for it so that they compare against it. */
  readonly settled: Promise<void>;
  #settle!: () => void;

  constructor(settings: Settings, views: ReadonlyMap<string, ServiceView>, reader: ServiceReader) {
    this.#s = settings;
    this.#views = views;
    this.#reader = reader;
    this.#limiter = new WakeupLimiter(settings.clock, settings.minWakeupInterval, settings.random);
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Abort the query in flight and any pending sleep; resolves once the loop has returned. */
  async stop(): Promise<void> {
    this.#abort.abort(new MeshError('MESH_CLOSED', 'consul discovery closed'));
    this.#settle();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let delay: number;
      try {
        const { headers, checks } = await this.#query(signal);
        const recovering = this.#failures > 0;
        this.#failures = 0;
        const moved = this.#index.accept(headers['x-consul-index']);
        this.#accept(checks, recovering || moved === 'backwards');
        this.#aclNotice(headers['x-consul-results-filtered-by-acls'] === 'true');
        delay = this.#limiter.next();
      } catch (error) {
        if (signal.aborted) return;
        this.#failures++;
        // As Consul's own watch does: after an error, start again from a non-blocking query.
        this.#index.reset();
        const cause = sanitizeConsulError(error, this.#s.session.connection.token);
        for (const view of [...this.#views.values()])
          view.fail(cause, `the change feed (attempt ${this.#failures})`);
        delay = backoffDelay(this.#failures, this.#s.backoffBase, this.#s.backoffMax, this.#s.random);
      }
      this.#settle();
      try {
        await sleep(this.#s.clock, delay, signal);
      } catch {
        return;
      }
    }
  }

  async #query(signal: AbortSignal): Promise<{ headers: Record<string, unknown>; checks: HealthCheck[] }> {
    const { session, wait, query } = this.#s;
    // A query that does not block (the first, or after a reset) must not wait as long as one that does.
    const timeout = this.#index.blocking
      ? wait + Math.ceil(wait / 16) + TIMEOUT_MARGIN
      : session.requestTimeout;
    const health = (session as ConsulSession).client.health;
    const call = health.state.bind(health) as unknown as (opts: object) => Promise<unknown>;
    const options = {
      state: 'any',
      index: this.#index.param,
      wait: `${wait}ms`,
      ...(query.dc !== undefined && { dc: query.dc }),
      ...(query.stale === true && { stale: true }),
    };
    const result = await consulRequest(signal, timeout, true, (control) => call({ ...options, ...control }));
    if (!Array.isArray(result) || result.length !== 2)
      throw new Error('consul: unexpected health state answer');
    const [res, body] = result as [{ headers?: Record<string, unknown> } | undefined, unknown];
    if (!Array.isArray(body)) throw new Error('consul: health state answer is not a list');
    return { headers: res?.headers ?? {}, checks: body as HealthCheck[] };
  }

  /** Compare fingerprints and queue reads of the services that may have changed. */
  #accept(checks: readonly HealthCheck[], readAll: boolean): void {
    const { services, nodes } = checkFingerprints(checks);
    const now: Snapshot = { services, nodes, arrivedSeq: this.#reader.seq };
    const prev = this.#last;
    this.#last = now;
    for (const view of this.#views.values()) {
      const print = printOf(view, now);
      // A view first compared now: its baseline is the previous answer, if it was read after it.
      const baseline =
        view.feedPrint ?? (prev && view.readSeq > prev.arrivedSeq ? printOf(view, prev) : undefined);
      view.feedPrint = print;
      if (readAll || baseline === undefined || baseline !== print) {
        // A view never read yet is read anyway; asking again would only requeue it.
        if (view.readSeq > 0 || readAll) this.#reader.request(view.service);
      }
    }
  }

  /**
   * After a read of `view`: take the last answer as its baseline when the read was sent after that
   * answer arrived (the read is the newer truth), so that nodes it just learned do not look like a
   * change at the next answer.
   */
  reprint(view: ServiceView): void {
    const last = this.#last;
    if (last && view.readSeq > last.arrivedSeq) view.feedPrint = printOf(view, last);
  }

  /** Say once, when it starts, that the feed cannot see everything (its token lacks read rights). */
  #aclNotice(filtered: boolean): void {
    if (filtered && !this.#filtered) {
      const error = new MeshError(
        'MESH_DISCOVERY_UNAVAILABLE',
        'consul filtered /v1/health/state/any by ACLs (X-Consul-Results-Filtered-By-ACLs): the token lacks ' +
          'node:read or service:read on part of the catalog, so changes of what it cannot see are noticed ' +
          'only by the periodic re-read (once per wait)',
      );
      for (const view of [...this.#views.values()]) view.warn(error);
    }
    this.#filtered = filtered;
  }
}

/** A watched service's fingerprint in one snapshot: its own checks and its nodes' checks. */
function printOf(view: ServiceView, snap: Snapshot): string {
  const nodes = [...view.nodes].sort().map((n) => snap.nodes.get(n) ?? '-');
  return `${snap.services.get(view.service) ?? '-'}|${nodes.join(',')}`;
}
