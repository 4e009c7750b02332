/** The `retry` option: what is retried, how often, how far apart, and the budget that bounds it. */
import { z } from 'zod';

const ms = z.number().min(0).finite();

const budgetSchema = z.strictObject({
  /** Retries allowed per request over the window. */
  ratio: z.number().min(0).max(10).default(0.2),
  /** Retries always allowed per second, whatever the traffic. */
  minPerSecond: z.number().min(0).finite().default(10),
  /** Length (ms) of the window requests and retries are counted over. */
  window: z.number().positive().finite().default(10_000),
});

const backoffSchema = z.strictObject({
  /** Backoff ceiling (ms) before the first retry; it doubles each retry. */
  base: ms.default(25),
  /** Largest backoff ceiling (ms). */
  cap: ms.default(250),
});

const retrySchema = z.strictObject({
  /** Most attempts per request, the first included. */
  attempts: z.number().int().min(1).max(100).default(3),
  /** Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2^(n-1))). */
  backoff: backoffSchema.prefault({}),
  /** Retry budget (Finagle's `RetryBudget`, Linkerd's retry budget); `false` disables it. */
  budget: z.union([z.literal(false), budgetSchema]).prefault({}),
  /** Response statuses retried for idempotent requests. */
  statuses: z.array(z.number().int().min(100).max(599)).default([502, 503, 504]),
  /**
   * Retries across layers. `'avoid'`: a reply that a mesh layer below (a mesh-sidecar, or a
   * service's own mesh) already retried, as its `x-mesh-attempts` header says, is not retried
   * again here, and those attempts are charged to this layer's budget, so one budget bounds the
   * chain. `'allow'`: retry it anyway (each layer multiplies).
   */
  stacking: z.enum(['avoid', 'allow']).default('avoid'),
});

/** The `retry` option: the policy, or `false` for no retries. */
export const retryOption = z.union([z.literal(false), retrySchema]).prefault({});

/**
 * What is retried and how often.
 * @interface
 */
export type RetryOptions = z.input<typeof retrySchema>;

/**
 * Retry budget: retries may add at most `ratio` of the requests plus `minPerSecond`.
 * @interface
 */
export type RetryBudgetOptions = z.input<typeof budgetSchema>;

/**
 * Exponential backoff with full jitter.
 * @interface
 */
export type BackoffOptions = z.input<typeof backoffSchema>;

/** The retry policy in force: every field set, or `false`. */
export type RetryPolicy = z.output<typeof retryOption>;

/** The retry budget in force. */
export type RetryBudgetPolicy = z.output<typeof budgetSchema>;

/** The backoff in force. */
export type BackoffPolicy = z.output<typeof backoffSchema>;

/** Whether `policy` retries at all (else the retry stage is left out). */
export function retries(policy: RetryPolicy): policy is Exclude<RetryPolicy, false> {
  return policy !== false && policy.attempts > 1;
}
