/**
 * A rolling latency estimate: the last `size` samples in a ring, and percentiles of them by
 * selection (Hoare's quickselect, expected O(n)) rather than sorting. The answer is cached and
 * recomputed after every `size / 50` new samples, so reading it per request costs O(1)
 * amortized; between recomputations it lags by at most 2% of the window. Bounded memory, no
 * timers, no dependency: enough for a hedging delay, which needs "about the 95th percentile of
 * lately", not an exact quantile over all time.
 */

export class LatencyWindow {
  readonly #ring: Float64Array;
  readonly #scratch: Float64Array;
  readonly #refresh: number;
  #head = 0;
  #count = 0;
  #stale = Number.POSITIVE_INFINITY;
  #cachedFor = Number.NaN;
  #cached = Number.NaN;

  constructor(readonly size = 1_000) {
    this.#ring = new Float64Array(size);
    this.#scratch = new Float64Array(size);
    this.#refresh = Math.max(1, Math.floor(size / 50));
  }

  /** Samples held (at most `size`). */
  get count(): number {
    return this.#count;
  }

  /** Add one latency (ms). */
  add(ms: number): void {
    this.#ring[this.#head] = ms;
    this.#head = (this.#head + 1) % this.size;
    if (this.#count < this.size) this.#count++;
    this.#stale++;
  }

  /** The `p`-th percentile (0 < p < 100, nearest rank) of the samples held; `NaN` when empty. */
  percentile(p: number): number {
    const n = this.#count;
    if (n === 0) return Number.NaN;
    if (p === this.#cachedFor && this.#stale < this.#refresh) return this.#cached;
    const a = this.#scratch;
    a.set(n === this.size ? this.#ring : this.#ring.subarray(0, n));
    const k = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
    this.#cached = select(a, n, k);
    this.#cachedFor = p;
    this.#stale = 0;
    return this.#cached;
  }
}

/** The k-th smallest of a[0..n) (0-based), reordering a. */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
