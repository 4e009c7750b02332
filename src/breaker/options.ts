/** The `circuitBreaker` option: one breaker per endpoint, opened by opossum, recovered on evidence. */
import { z } from 'zod';

const percent = z.number().min(0).max(100);
const ms = z.number().positive().finite();

const breakerSchema = z.strictObject({
  /** Failure share (%) in the window that opens the breaker. */
  errorThresholdPercentage: percent.default(50),
  /** Attempts in the window before the breaker may open. */
  volumeThreshold: z.number().int().min(0).default(20),
  /**
   * Recovery time (ms) after a first trip, before half-open trials; it doubles with each
   * consecutive trip up to `maxResetTimeout`, with jitter (Linkerd's failure accrual).
   */
  resetTimeout: ms.default(1_000),
  /** Longest recovery time (ms). */
  maxResetTimeout: ms.default(60_000),
  /**
   * Trials a half-open breaker lets through; it closes only after this many consecutive
   * successes, and one failed trial opens it again.
   */
  halfOpenTrials: z.number().int().min(1).max(1000).default(3),
  /** Length (ms) of the statistics window. */
  rollingCountTimeout: ms.default(10_000),
  /** Buckets in the statistics window. */
  rollingCountBuckets: z.number().int().min(1).max(1000).default(10),
  /**
   * Largest share (%) of a service's endpoints that open breakers may take out of rotation (at
   * least one endpoint); past it a breaker is not allowed to open, so traffic still flows to the
   * least-bad endpoints (Envoy's max ejection percent).
   */
  maxEjectionPercent: percent.default(50),
});

/** The `circuitBreaker` option: per-endpoint breakers, or `false` for none. */
export const circuitBreakerOption = z.union([z.literal(false), breakerSchema]).prefault({});

/**
 * Per-endpoint circuit breakers (on opossum).
 * @interface
 */
export type CircuitBreakerOptions = z.input<typeof breakerSchema>;

/** The breaker settings in force for a service. */
export type CircuitBreakerPolicy = z.output<typeof breakerSchema>;
