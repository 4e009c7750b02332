/**
 * Retry budget, after Finagle's `RetryBudget` and Linkerd's retry budgets: over a sliding
 * window, retries may add at most `ratio` of the requests, plus a floor of `minPerSecond` so
 * low-traffic services can still retry. When an endpoint set is failing wholesale the budget,
 * not the per-request attempt count, bounds how much extra load the retries put on it.
 *
 * The window is a ring of buckets advanced lazily from the injected clock: no timers.
 */
import type { Clock } from '../core/clock.js';
import type { RetryBudgetPolicy } from './options.js';

const BUCKETS = 10;

export class RetryBudget {
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  readonly #bucketMs: number;
  readonly #reserve: number;
  #head = 0;
  #headStart: number;

  constructor(
    private readonly options: RetryBudgetPolicy,
    private readonly clock: Clock,
  ) {
    this.#bucketMs = options.window / BUCKETS;
    this.#reserve = (options.minPerSecond * options.window) / 1000;
    this.#headStart = clock.now();
  }

  /** Count a request (a first attempt). */
  deposit(): void {
    this.#advance();
    this.#requests[this.#head]!++;
  }

  /** Take one retry from the budget; false when the budget is spent. */
  tryWithdraw(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i]!;
      retries += this.#retries[i]!;
    }
    if (retries + 1 > requests * this.options.ratio + this.#reserve) return false;
    this.#retries[this.#head]!++;
    return true;
  }

  /** Count `n` retries made elsewhere on this budget's behalf (a layer below retried). */
  charge(n: number): void {
    this.#advance();
    this.#retries[this.#head]! += n;
  }

  #advance(): void {
    const now = this.clock.now();
    let steps = Math.floor((now - this.#headStart) / this.#bucketMs);
    if (steps <= 0) return;
    this.#headStart += steps * this.#bucketMs;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#head = (this.#head + 1) % BUCKETS;
      this.#requests[this.#head] = 0;
      this.#retries[this.#head] = 0;
    }
  }
}
