/**
 * The breakers of one service: created lazily per endpoint, sharing one bucket-rotation timer,
 * and held to an ejection cap.
 *
 * The cap is Envoy's `max_ejection_percent` (outlier detection) applied to breakers: at most
 * that share of the endpoints (and at least one) may be out of rotation; a breaker that would
 * open past it is refused, so when every endpoint looks broken traffic still reaches most of
 * them instead of failing outright. An open or half-open breaker counts as ejected.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import type { CircuitBreakerOptions } from '../options.js';
import type { MeshEmitter } from '../telemetry/events.js';
import { EndpointBreaker } from './endpoint-breaker.js';

export class BreakerGroup {
  readonly #ejected = new Set<Endpoint>();
  readonly #rotation = new EventEmitter();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(
    private readonly service: string,
    private readonly options: Required<CircuitBreakerOptions>,
    private readonly pool: EndpointPool,
    private readonly events: MeshEmitter,
    private readonly clock: Clock,
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
    const existing = ep.breaker;
    if (existing instanceof EndpointBreaker) return existing;
    if (this.#timer === undefined && !this.#closed) this.#rotate();
    const breaker = new EndpointBreaker(this.options, this.#rotation, this.#listener(ep), () => {
      this.#ejected.delete(ep);
    });
    ep.breaker = breaker;
    return breaker;
  }

  /** The endpoint starts its half-open trial: nothing else goes there until it settles. */
  trialStarted(ep: Endpoint): void {
    this.pool.setReady(ep, false);
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

  #rotate(): void {
    const interval = this.options.rollingCountTimeout / this.options.rollingCountBuckets;
    this.#timer = this.clock.setTimeout(() => {
      this.#rotation.emit('rotate');
      if (!this.#closed) this.#rotate();
    }, interval);
  }

  #listener(ep: Endpoint) {
    const event = () => ({ service: this.service, endpoint: ep.url });
    return {
      open: () => {
        if (!this.#ejected.has(ep) && this.#ejected.size >= this.cap) {
          (ep.breaker as EndpointBreaker).refuseOpen();
          return;
        }
        this.#ejected.add(ep);
        ep.state = 'open';
        this.pool.setReady(ep, false);
        this.events.emit('circuit-open', event());
      },
      halfOpen: () => {
        ep.state = 'half-open';
        this.pool.setReady(ep, true);
        this.events.emit('circuit-half-open', event());
      },
      close: () => {
        if (ep.state === 'healthy') return;
        this.#ejected.delete(ep);
        ep.state = 'healthy';
        this.pool.setReady(ep, true);
        this.events.emit('circuit-close', event());
      },
    };
  }
}
