/**
 * Outlier detection: passive health checking that takes endpoints which behave unlike their
 * peers out of rotation for a while, as Envoy defines it (envoy `outlier_detection`, cluster
 * `OutlierDetection` in the v3 API, and the "Outlier detection" architecture overview):
 *
 * - consecutive 5xx: `consecutive5xx` server errors in a row eject the endpoint; connection
 *   failures and timeouts count as 5xx (Envoy maps local-origin errors to 503/504 unless
 *   `split_external_local_origin_errors` is set, which is not offered here);
 * - consecutive gateway failures: `consecutiveGatewayFailure` 502/503/504 replies or
 *   local-origin errors in a row; as in Envoy this is detected always but enforced by default on
 *   0% of detections (`enforcingConsecutiveGatewayFailure`), since consecutive 5xx covers it;
 * - success rate: every `interval`, among the endpoints that served at least
 *   `successRateRequestVolume` attempts in it (and only when there are at least
 *   `successRateMinimumHosts` of those), eject those whose success rate is below
 *   mean - `successRateStdevFactor` x standard deviation;
 * - an ejection lasts `baseEjectionTime` x the number of times the endpoint was ejected, up to
 *   `maxEjectionTime`; each interval the endpoint stays in rotation the multiplier goes down by
 *   one, so a recovered endpoint earns back short ejections;
 * - at most `maxEjectionPercent` of the endpoints are ejected at once, but one always may be
 *   (Envoy: "will eject at least one host regardless of the value");
 * - each ejection type is enforced on a percentage of detections (`enforcing*`), drawn from the
 *   injected random source.
 *
 * Differences from Envoy, on purpose: a detection refused by the cap or the enforcement draw is
 * retried on the next failure (Envoy fires only when the count equals the threshold), and an
 * ejected endpoint returns when its time is up rather than at the next interval sweep. Both run
 * on one timer per service (the sweep or the earliest return, whichever is first), on the mesh
 * clock; {@link OutlierDetector.close} clears it.
 *
 * Ejection is a hold on the pool (`EndpointPool.hold`), separate from the breaker's say:
 * a breaker closing cannot put an ejected endpoint back, and a return does not reopen a
 * breaker's endpoint. Outlier ejections and open breakers are capped separately.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { type Endpoint, EndpointHold } from '../core/endpoint.js';
import type { EventSink } from '../core/events.js';
import type { EndpointPool } from '../core/pool.js';
import type { OutlierDetectionPolicy } from './options.js';

/** Why an endpoint was ejected. */
export type OutlierReason = 'consecutive-5xx' | 'consecutive-gateway-failure' | 'success-rate';

/** An endpoint was ejected by outlier detection. */
export interface EjectedEvent {
  service: string;
  /** The endpoint's URL. */
  endpoint: string;
  reason: OutlierReason;
  /** How long (ms) it stays out of rotation. */
  ejectionMs: number;
  /** Times it has been ejected without earning the multiplier back (1 on a first ejection). */
  ejections: number;
}

/** An ejected endpoint's time is up: it is back in rotation (unless its breaker is open). */
export interface UnejectedEvent {
  service: string;
  endpoint: string;
  /** How long (ms) it was out. */
  ejectedMs: number;
}

/** The events {@link OutlierDetector} emits. */
export interface OutlierEvents {
  ejected: EjectedEvent;
  unejected: UnejectedEvent;
}

/** What the detector needs besides the pool. */
export interface OutlierContext {
  clock: Clock;
  random: () => number;
  events: EventSink<OutlierEvents>;
}

/** The pool hold of an ejected endpoint. */
const EJECTED = new EndpointHold('outlier');

/** How one attempt went, as outlier detection counts it. */
export type OutlierOutcome = 'success' | '5xx' | 'gateway';

/** Per-endpoint counters. */
class Host {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  /** Attempts and successes in the current interval. */
  requests = 0;
  successes = 0;
  /** The ejection-time multiplier. */
  ejections = 0;
  ejectedAt = 0;
  /** Clock time it returns; meaningful while ejected. */
  returnAt = 0;
  ejected = false;
}

/** Outlier detection of one service's endpoint pool. */
export class OutlierDetector {
  readonly #options: OutlierDetectionPolicy;
  readonly #hosts = new Map<Endpoint, Host>();
  readonly #ejected = new Set<Endpoint>();
  #nextSweep: number;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(
    readonly service: string,
    private readonly pool: EndpointPool,
    options: OutlierDetectionPolicy,
    private readonly ctx: OutlierContext,
  ) {
    this.#options = options;
    this.#nextSweep = ctx.clock.now() + this.#options.interval;
    this.#schedule();
  }

  /** Whether `ep` is ejected now. */
  isEjected(ep: Endpoint): boolean {
    return this.#ejected.has(ep);
  }

  /** The ejection-time multiplier of `ep` (0 when it has none). */
  ejections(ep: Endpoint): number {
    return this.#hosts.get(ep)?.ejections ?? 0;
  }

  /** Count an attempt's outcome for its endpoint. */
  record(ep: Endpoint, outcome: OutlierOutcome): void {
    if (this.#closed) return;
    let host = this.#hosts.get(ep);
    if (!host) {
      host = new Host();
      this.#hosts.set(ep, host);
    }
    // Attempts that were under way when their endpoint was ejected say nothing new about it.
    if (host.ejected) return;
    host.requests++;
    if (outcome === 'success') {
      host.successes++;
      host.consecutive5xx = 0;
      host.consecutiveGateway = 0;
      return;
    }
    const o = this.#options;
    if (outcome === 'gateway') host.consecutiveGateway++;
    else host.consecutiveGateway = 0;
    host.consecutive5xx++;
    if (host.consecutive5xx >= o.consecutive5xx && this.#enforced(o.enforcingConsecutive5xx)) {
      this.#eject(ep, host, 'consecutive-5xx');
    } else if (
      host.consecutiveGateway >= o.consecutiveGatewayFailure &&
      this.#enforced(o.enforcingConsecutiveGatewayFailure)
    ) {
      this.#eject(ep, host, 'consecutive-gateway-failure');
    }
  }

  /** Stop the timer and return every ejected endpoint to rotation. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.ctx.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const ep of this.#ejected) this.pool.hold(ep, EJECTED, false);
    this.#ejected.clear();
    this.#hosts.clear();
  }

  #enforced(percent: number): boolean {
    return percent >= 100 || (percent > 0 && this.ctx.random() * 100 < percent);
  }

  /** Eject `ep` unless the cap forbids it; true when it was ejected. */
  #eject(ep: Endpoint, host: Host, reason: OutlierReason): boolean {
    if (this.pool.get(ep.id) !== ep) return false;
    this.#forgetDeparted();
    const { maxEjectionPercent, baseEjectionTime, maxEjectionTime } = this.#options;
    const n = this.#ejected.size;
    // Envoy: one more only while the ejected share stays within the cap; the first always.
    if (n > 0 && ((n + 1) * 100) / this.pool.all.length > maxEjectionPercent) return false;
    const now = this.ctx.clock.now();
    host.ejections++;
    const ejectionMs = Math.min(
      baseEjectionTime * host.ejections,
      Math.max(maxEjectionTime, baseEjectionTime),
    );
    host.ejected = true;
    host.ejectedAt = now;
    host.returnAt = now + ejectionMs;
    host.consecutive5xx = 0;
    host.consecutiveGateway = 0;
    this.#ejected.add(ep);
    this.pool.hold(ep, EJECTED, true);
    this.ctx.events.emit('ejected', {
      service: this.service,
      endpoint: ep.url,
      reason,
      ejectionMs,
      ejections: host.ejections,
    });
    this.#schedule();
    return true;
  }

  #uneject(ep: Endpoint, host: Host, now: number): void {
    host.ejected = false;
    host.requests = 0;
    host.successes = 0;
    this.#ejected.delete(ep);
    this.pool.hold(ep, EJECTED, false);
    this.ctx.events.emit('unejected', {
      service: this.service,
      endpoint: ep.url,
      ejectedMs: now - host.ejectedAt,
    });
  }

  /** Drop the state of endpoints discovery no longer lists. */
  #forgetDeparted(): void {
    for (const ep of this.#ejected) if (this.pool.get(ep.id) !== ep) this.#ejected.delete(ep);
  }

  /** One timer: at the next sweep or the earliest return, whichever comes first. */
  #schedule(): void {
    if (this.#closed) return;
    let due = this.#nextSweep;
    for (const ep of this.#ejected) {
      const at = this.#hosts.get(ep)!.returnAt;
      if (at < due) due = at;
    }
    if (this.#timer !== undefined) this.ctx.clock.clearTimeout(this.#timer);
    this.#timer = this.ctx.clock.setTimeout(() => this.#tick(), Math.max(0, due - this.ctx.clock.now()));
  }

  #tick(): void {
    this.#timer = undefined;
    const now = this.ctx.clock.now();
    this.#forgetDeparted();
    for (const ep of [...this.#ejected]) {
      const host = this.#hosts.get(ep)!;
      if (host.returnAt <= now) this.#uneject(ep, host, now);
    }
    if (now >= this.#nextSweep) {
      this.#sweep();
      const { interval } = this.#options;
      this.#nextSweep += (Math.floor((now - this.#nextSweep) / interval) + 1) * interval;
    }
    this.#schedule();
  }

  /** The interval's analysis: success-rate ejection, multiplier decay, counters reset. */
  #sweep(): void {
    const o = this.#options;
    const eligible: Array<[Endpoint, Host, number]> = [];
    for (const [ep, host] of this.#hosts) {
      if (this.pool.get(ep.id) !== ep) {
        this.#hosts.delete(ep);
        this.#ejected.delete(ep);
        continue;
      }
      if (host.ejected) continue;
      if (host.requests >= o.successRateRequestVolume)
        eligible.push([ep, host, host.successes / host.requests]);
    }
    if (eligible.length >= o.successRateMinimumHosts) {
      let mean = 0;
      for (const [, , rate] of eligible) mean += rate;
      mean /= eligible.length;
      let variance = 0;
      for (const [, , rate] of eligible) variance += (rate - mean) ** 2;
      const threshold = mean - o.successRateStdevFactor * Math.sqrt(variance / eligible.length);
      for (const [ep, host, rate] of eligible) {
        if (rate < threshold && this.#enforced(o.enforcingSuccessRate)) this.#eject(ep, host, 'success-rate');
      }
    }
    const now = this.ctx.clock.now();
    for (const host of this.#hosts.values()) {
      // Envoy: each sweep that finds an endpoint in rotation takes one off its multiplier, but
      // not the sweep that returns it (here: not before it has been back for an interval).
      if (!host.ejected && host.ejections > 0 && now - host.returnAt >= o.interval) host.ejections--;
      host.requests = 0;
      host.successes = 0;
    }
  }
}
