/**
 * Rate limit of one service: a token bucket (Turner's token bucket, as in Envoy's
 * `local_ratelimit` filter and Resilience4j's `RateLimiter`). The bucket holds up to `burst`
 * tokens and gains `rate` tokens per second; a request takes one or is refused at once with
 * `MESH_RATE_LIMITED` (a client-side limit protects the upstream; queueing here would only
 * move the overload into this process).
 *
 * The bucket is refilled lazily from the mesh clock when a request arrives: no timers, and a
 * service nobody calls costs nothing.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors/mesh-error.js';
import type { RateLimitPolicy } from './options.js';

/** A token bucket on the mesh clock. */
export class TokenBucket {
  #rate = 0;
  #burst = 1;
  #tokens: number;
  #stamp: number;

  constructor(
    options: RateLimitPolicy,
    private readonly clock: Clock,
  ) {
    this.#set(options);
    // A new bucket starts full: the first burst after start-up is allowed.
    this.#tokens = this.#burst;
    this.#stamp = clock.now();
  }

  /** Tokens available now (fractional). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Take one token; false when the bucket is empty. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.#rate);
  }

  /** Apply a new rate and burst; tokens earned so far are kept (up to the new burst). */
  configure(options: RateLimitPolicy): void {
    this.#refill();
    this.#set(options);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  #set(options: RateLimitPolicy): void {
    this.#rate = options.rate;
    this.#burst = options.burst ?? Math.max(1, options.rate);
  }

  #refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.#stamp;
    if (elapsed <= 0) return;
    this.#stamp = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }
}

/** The rate-limit filter of one service: each request (not each attempt) takes a token of `bucket`. */
export function rateLimit(bucket: TokenBucket): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      if (bucket.tryTake()) return next(call);
      return Promise.reject(
        new MeshError(
          'MESH_RATE_LIMITED',
          `rate limit of "${call.service}" reached (next token in ${bucket.waitMs()} ms)`,
          { service: call.service },
        ),
      );
    };
}
