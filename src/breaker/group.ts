/**
 * The breakers of one service: created lazily per endpoint, sharing one bucket-rotation timer,
 * and held to an ejection cap.
 *
 * The cap is Envoy's `max_ejection_percent` (outlier detection) applied to breakers: at most
 * that share of the endpoints (and at least one) may be out of rotation; a breaker that would
 * open past it is refused, so when every endpoint looks broken traffic still reaches most of
 * them instead of failing outright. An open or half-open breaker counts as ejected.
 *
 * The rotation timer, the recovery timers and their jitter run on the mesh clock and random
 * source, so tests drive breakers through open, half-open and closed deterministically.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import { type Endpoint, EndpointHold, EndpointSlot, type EndpointState } from '../core/endpoint.js';
import type { EventSink } from '../core/events.js';
import type { EndpointPool } from '../core/pool.js';
import { type BreakerHost, EndpointBreaker } from './endpoint-breaker.js';
import type { CircuitBreakerPolicy } from './options.js';

/** A breaker transition of one endpoint. */
export interface CircuitEvent {
  service: string;
  endpoint: string;
}

/** A circuit breaker opened: the endpoint is out of rotation until its recovery time passes. */
export interface CircuitOpenEvent extends CircuitEvent {
  /** Consecutive trips without a recovery (1 on the first). */
  trips: number;
  /** When (ms from now) half-open trials start. */
  retryInMs: number;
}

/** The events breakers emit. */
export interface BreakerEvents {
  'circuit-open': CircuitOpenEvent;
  'circuit-half-open': CircuitEvent;
  'circuit-close': CircuitEvent;
}

/** Each endpoint's breaker, once it has one. */
const BREAKER = new EndpointSlot<EndpointBreaker>('breaker');
/** The pool hold of an endpoint whose breaker is open (or whose half-open trials are all out). */
const OPEN = new EndpointHold('breaker');

export class BreakerGroup implements BreakerHost {
  readonly #ejected = new Set<Endpoint>();
  readonly #rotation = new EventEmitter();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(
    private readonly service: string,
    private readonly options: CircuitBreakerPolicy,
    private readonly pool: EndpointPool,
    private readonly events: EventSink<BreakerEvents>,
    readonly clock: Clock,
    readonly random: () => number,
  ) {
    // One listener per endpoint breaker: thousands are expected, not a leak.
    this.#rotation.setMaxListeners(0);
  }

  /** The endpoint's breaker, if it has one yet. */
  existing(ep: Endpoint): EndpointBreaker | undefined {
    return BREAKER.get(ep);
  }

  /** The circuit state of `ep` (`healthy` while it has no breaker). */
  stateOf(ep: Endpoint): EndpointState {
    return BREAKER.get(ep)?.state ?? 'healthy';
  }

  /** The endpoint's breaker, created on first use. */
  for(ep: Endpoint): EndpointBreaker {
    const existing = this.existing(ep);
    if (existing) return existing;
    if (this.#timer === undefined && !this.#closed) this.#rotate();
    const breaker = new EndpointBreaker(ep, this.options, this.#rotation, this);
    BREAKER.set(ep, breaker);
    return breaker;
  }

  /** How many endpoints may be ejected now. */
  get cap(): number {
    const pct = this.options.maxEjectionPercent;
    return pct === 0 ? 0 : Math.max(1, Math.floor((this.pool.all.length * pct) / 100));
  }

  /**
   * Stop the rotation timer and shut every breaker down, returning the endpoints they held out
   * (breakers switched off by a new policy; at shutdown the pool releases them as it empties).
   */
  close(): void {
    this.#closed = true;
    for (const ep of this.pool.all) {
      const breaker = BREAKER.get(ep);
      if (!breaker) continue;
      breaker.shutdown();
      BREAKER.set(ep, undefined);
      this.pool.hold(ep, OPEN, false);
    }
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  mayEject(ep: Endpoint): boolean {
    return this.#ejected.has(ep) || this.#ejected.size < this.cap;
  }

  opened(ep: Endpoint, trips: number, retryInMs: number): void {
    this.#ejected.add(ep);
    this.events.emit('circuit-open', { service: this.service, endpoint: ep.url, trips, retryInMs });
  }

  halfOpened(ep: Endpoint): void {
    this.events.emit('circuit-half-open', { service: this.service, endpoint: ep.url });
  }

  closed(ep: Endpoint): void {
    this.#ejected.delete(ep);
    this.events.emit('circuit-close', { service: this.service, endpoint: ep.url });
  }

  holdOut(ep: Endpoint, out: boolean): void {
    this.pool.hold(ep, OPEN, out);
  }

  released(ep: Endpoint): void {
    this.#ejected.delete(ep);
  }

  #rotate(): void {
    const interval = this.options.rollingCountTimeout / this.options.rollingCountBuckets;
    this.#timer = this.clock.setTimeout(() => {
      this.#rotation.emit('rotate');
      if (!this.#closed) this.#rotate();
    }, interval);
  }
}
