/**
 * The rules every Consul blocking loop of the mesh follows (the discovery change feed and the
 * control plane's KV watch), from Consul's blocking-query guide
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking) and Consul's own watch loop
 * (Consul's `api/watch/plan.go`):
 *
 * - {@link BlockingIndex}: an index that goes backwards resets to 0 (a snapshot restore, a new
 *   leader's state), 0 is never blocked on (a Consul bug seen in the field; 1 is always safe), and
 *   after a failed query the index is dropped, as Consul's watch does, so the next query reads the
 *   current state at once instead of blocking on an index a restarted agent may never reach again;
 * - {@link WakeupLimiter}: a token bucket with a burst of 2, so a quiet key or service is followed
 *   without delay while a churning one degrades into polling, with jitter so that many clients
 *   woken by one write do not come back in lockstep;
 * - {@link backoffDelay}: exponential, capped, "equal jitter" retry delays after failures.
 */
import type { Clock } from '../../core/clock.js';

/** The `index` of the next blocking query, kept by Consul's rules. */
export class BlockingIndex {
  #value = 0n;

  /** The `index` query parameter to send: `'0'` means "answer at once". */
  get param(): string {
    return this.#value.toString();
  }

  /** Whether the next query blocks (false after a reset: it answers at once). */
  get blocking(): boolean {
    return this.#value > 0n;
  }

  /**
   * Take the `X-Consul-Index` of an answer. Returns `'backwards'` when it went backwards (the
   * caller must not trust what it derived from the higher index), `'zero'` when the agent sent 0
   * or nothing usable, else `'ok'`.
   */
  accept(raw: unknown): 'ok' | 'backwards' | 'zero' {
    const next = typeof raw === 'string' && /^\d+$/.test(raw) ? BigInt(raw) : undefined;
    if (next === undefined || next === 0n) {
      // Blocking on 0 answers at once, forever: 1 is always safe to wait on.
      this.#value = 1n;
      return 'zero';
    }
    if (next < this.#value) {
      this.#value = 0n;
      return 'backwards';
    }
    this.#value = next;
    return 'ok';
  }

  /** Forget the index (after a failure): the next query reads the current state at once. */
  reset(): void {
    this.#value = 0n;
  }
}

/** Quick wake-ups allowed before rate limiting starts (the guide suggests a token bucket of 2). */
const BURST = 2;

/**
 * Delays between successful queries: none while tokens last, then one query per `interval`, each
 * delay stretched by a random 0-25 % so that clients woken together spread out.
 */
export class WakeupLimiter {
  #tokens = BURST;
  #stamp: number;

  constructor(
    private readonly clock: Clock,
    private readonly interval: number,
    private readonly random: () => number,
  ) {
    this.#stamp = clock.now();
  }

  /** The delay before the next query, after a successful one. */
  next(): number {
    const now = this.clock.now();
    this.#tokens = Math.min(BURST, this.#tokens + (now - this.#stamp) / this.interval);
    this.#stamp = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    const delay = (1 - this.#tokens) * this.interval * (1 + this.random() / 4);
    // The token that accrues while we sleep is spent by the query that follows.
    this.#tokens = 0;
    this.#stamp = now + delay;
    return delay;
  }
}

/**
 * The delay after the n-th consecutive failure: the ceiling is `min(max, base * 2^(n-1))` and the
 * delay uniform in `[ceiling / 2, ceiling)`, so peers never retry in lockstep and never hot-loop.
 */
export function backoffDelay(failures: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}
