/**
 * Recording what a run measured: an HDR histogram of caller-observed latency (microseconds,
 * three significant digits, via hdr-histogram-js), success and failure counts per time bucket,
 * and failures by error code. Plus the small statistics the reports need (medians of rounds,
 * ratios) and number formatting shared by the table, the markdown and the HTML report.
 */
import * as hdr from 'hdr-histogram-js';
import type { LatencySummary, TimelineBucket } from './protocol.js';

/** Percentiles sampled for the distribution chart: dense towards the tail (0 .. 99.999). */
const CURVE_PERCENTILES: number[] = (() => {
  const out: number[] = [];
  for (let k = 0; k <= 50; k++) out.push(100 * (1 - 10 ** (-k / 10)));
  return out;
})();

/** Latency, outcomes and errors of the requests started inside the measured window. */
export class Recorder {
  readonly #histogram = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  readonly #buckets: TimelineBucket[] = [];
  readonly errors: Record<string, number> = {};
  requests = 0;
  ok = 0;
  failed = 0;
  completedInWindow = 0;
  #start = 0;
  #end = Number.POSITIVE_INFINITY;

  constructor(private readonly bucketMs: number) {}

  /** The window opens at `now` (performance.now() ms). */
  open(now: number): void {
    this.#start = now;
  }

  /** The window closes at `now`: later completions still count, but not towards throughput. */
  close(now: number): void {
    this.#end = now;
  }

  /** A request started in the window finished (`code` names the failure). */
  record(startedAt: number, endedAt: number, ok: boolean, code?: string): void {
    this.requests++;
    const us = Math.max(1, Math.round((endedAt - startedAt) * 1000));
    this.#histogram.recordValue(us);
    if (endedAt <= this.#end) this.completedInWindow++;
    const index = Math.max(0, Math.floor((endedAt - this.#start) / this.bucketMs));
    // Bounded: a bucket per bucketMs of a window that is itself bounded (plus the drain).
    while (this.#buckets.length <= index) {
      this.#buckets.push({ t: (this.#buckets.length * this.bucketMs) / 1000, ok: 0, failed: 0 });
    }
    const bucket = this.#buckets[index]!;
    if (ok) {
      this.ok++;
      bucket.ok++;
    } else {
      this.failed++;
      bucket.failed++;
      const key = code ?? 'ERROR';
      this.errors[key] = (this.errors[key] ?? 0) + 1;
    }
  }

  /** How long the window was open, ms (as measured, not as planned). */
  get windowMs(): number {
    return this.#end - this.#start;
  }

  get latency(): LatencySummary {
    const h = this.#histogram;
    if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    const ms = (us: number) => us / 1000;
    return {
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    };
  }

  /** `[percentile, ms]` points of the distribution, up to the largest recorded value. */
  get curve(): Array<[number, number]> {
    const h = this.#histogram;
    if (h.totalCount === 0) return [];
    const points: Array<[number, number]> = CURVE_PERCENTILES.map((p) => [
      p,
      h.getValueAtPercentile(p) / 1000,
    ]);
    points.push([100, h.maxValue / 1000]);
    return points;
  }

  get timeline(): TimelineBucket[] {
    return this.#buckets;
  }

  /** The histogram, compressed (HdrHistogram's own format), for re-analysis with any HDR tool. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.#histogram);
  }
}

/** The median of some numbers (NaN when there are none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `a / b`, or NaN when either is missing or `b` is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return a / b;
}

/** Number formatting shared by every output. */
export const fmt = {
  /** Milliseconds with sensible precision. */
  ms(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    if (v >= 100) return `${v.toFixed(0)} ms`;
    if (v >= 10) return `${v.toFixed(1)} ms`;
    return `${v.toFixed(2)} ms`;
  },
  /** Microseconds. */
  us(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return v >= 100 ? `${v.toFixed(0)} µs` : `${v.toFixed(1)} µs`;
  },
  /** Nanoseconds. */
  ns(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return v >= 10_000 ? `${(v / 1000).toFixed(1)} µs` : `${v.toFixed(0)} ns`;
  },
  /** A success share as a percentage with enough digits to tell 99.9 from 99.99. */
  pct(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    const p = v * 100;
    if (p === 100) return '100%';
    if (p >= 99) return `${p.toFixed(2)}%`;
    return `${p.toFixed(1)}%`;
  },
  /** Requests per second. */
  rps(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return v >= 100 ? `${v.toFixed(0)}/s` : `${v.toFixed(1)}/s`;
  },
  /** A ratio such as 0.97x. */
  x(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return `${v.toFixed(2)}x`;
  },
  mb(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return `${v.toFixed(0)} MB`;
  },
  int(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return '-';
    return String(Math.round(v));
  },
};
