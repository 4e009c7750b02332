/** The `limits` option: a concurrency limit (bulkhead) and a token-bucket rate limit per service. */
import { z } from 'zod';

const concurrencySchema = z.strictObject({
  /** Requests of the service in flight at once. */
  maxConcurrent: z.number().int().min(1).default(100),
  /** Requests that may wait for a slot, in arrival order; `0` refuses at once when full. */
  maxQueue: z.number().int().min(0).default(0),
  /** Longest wait (ms) in the queue before the request is refused. */
  maxWait: z.number().positive().finite().default(1_000),
});

const rateSchema = z.strictObject({
  /** Requests per second allowed on average (tokens added per second). Required. */
  rate: z.number().positive().finite(),
  /** Requests allowed at once after a quiet period (the bucket's size). @defaultValue `rate`, at least 1 */
  burst: z.number().min(1).finite().optional(),
});

const limitsSchema = z.strictObject({
  /**
   * Concurrency limit (bulkhead) with an optional FIFO queue; a request that finds no slot (or
   * waits too long) fails with `MESH_BULKHEAD_FULL`. `false` for none.
   */
  concurrency: z.union([z.literal(false), concurrencySchema]).default(false),
  /** Token-bucket rate limit; a request that finds no token fails with `MESH_RATE_LIMITED`. `false` for none. */
  rate: z.union([z.literal(false), rateSchema]).default(false),
});

/** The `limits` option. */
export const limitsOption = limitsSchema.prefault({});

/**
 * Per-service limits: a concurrency limit (bulkhead) and a token-bucket rate limit.
 * @interface
 */
export type LimitsOptions = z.input<typeof limitsSchema>;

/**
 * Concurrency limit (bulkhead) of one service.
 * @interface
 */
export type ConcurrencyLimitOptions = z.input<typeof concurrencySchema>;

/**
 * Token-bucket rate limit of one service.
 * @interface
 */
export type RateLimitOptions = z.input<typeof rateSchema>;

/** The limits in force for a service. */
export type LimitsPolicy = z.output<typeof limitsSchema>;

/** A concurrency limit in force. */
export type ConcurrencyLimitPolicy = z.output<typeof concurrencySchema>;

/** A rate limit in force. */
export type RateLimitPolicy = z.output<typeof rateSchema>;
