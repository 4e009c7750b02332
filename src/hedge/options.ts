/** The `hedge` option: backup requests for slow idempotent attempts, paid from the retry budget. */
import { z } from 'zod';

const hedgeSchema = z.strictObject({
  /** Delay (ms) before the backup, or `'observed'`: the `percentile` of recent latencies. */
  delay: z.union([z.number().min(0).finite(), z.literal('observed')]).default('observed'),
  /** With `'observed'`: the percentile of recent first-attempt latencies used as the delay. */
  percentile: z.number().gt(0).lt(100).default(95),
  /** Shortest delay (ms), so a very fast service is not hedged on noise. */
  minDelay: z.number().min(0).finite().default(0),
  /** Recent latencies kept for the estimate. */
  samples: z.number().int().min(10).max(100_000).default(1_000),
  /** Latencies needed before an observed delay is trusted; no hedging until then. */
  minSamples: z.number().int().min(1).default(20),
});

/**
 * The `hedge` option: a backup to another endpoint when an idempotent attempt has not answered
 * after a delay; first answer wins. Backups are paid from the retry budget (the default one when
 * `retry` or its budget is off). `false` for none.
 */
export const hedgeOption = z.union([z.literal(false), hedgeSchema]).default(false);

/**
 * Hedging of one service's idempotent requests.
 * @interface
 */
export type HedgeOptions = z.input<typeof hedgeSchema>;

/** Hedging in force for a service: every field set. */
export type HedgePolicy = z.output<typeof hedgeSchema>;
