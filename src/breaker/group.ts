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
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import type { CircuitBreakerOptions } from '../options.js';
import type { MeshEmitter } from '../telemetry/events.js';
import { type BreakerHost, EndpointBreaker } from './endpoint-breaker.js';

export class BreakerGroup implements BreakerHost {
  readonly #ejected = new Set<Endpoint>();
  readonly #rotation = new EventEmitter();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(
    private readonly service: string,
    private readonly options: Required<CircuitBreakerOptions>,
    private readonly pool: EndpointPool,
    private readonly events: MeshEmitter,
    readonly clock: Clock,
    readonly random: () => number,
  ) {
    // One listener per endpoint breaker: thousands are expected, not a leak.
    this.#rotation.setMaxListeners(0);
  }

  /** The endpoint's breaker, if it has one yet. */
  existing(ep: Endpoint): EndpointBreaker | undefined {
    const breaker = ep.breaker;
    return breaker instanceof EndpointBreaker ? breaker : undefined;
  }

  /** The endpoint's breaker, created on first use. */
  for(ep: Endpoint): EndpointBreaker {
    const existing = this.existing(ep);
    if (existing) return existing;
    if (this.#timer === undefined && !this.#closed) this.#rotate();
    const breaker = new EndpointBreaker(ep, this.options, this.#rotation, this);
    ep.breaker = breaker;
    return breaker;
  }

  /** How many endpoints may be ejected now. */
  get cap(): number {
    const pct = this.options.maxEjectionPercent;
    return pct === 0 ? 0 : Math.max(1, Math.floor((this.pool.all.length * pct) / 100));
  }

  /** Stop the rotation timer (the pool shuts the breakers down as it empties). */
  close(): void {
    this.#closed = true;
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

  setReady(ep: Endpoint, ready: boolean): void {
    this.pool.setReady(ep, ready);
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
