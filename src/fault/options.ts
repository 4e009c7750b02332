/** The `faults` option (and a route rule's `fault`): delay and/or abort a share of requests. */
import { z } from 'zod';

const delaySchema = z.strictObject({
  /** Share (%) of requests delayed. */
  percent: z.number().min(0).max(100).default(100),
  /** Added delay (ms). Required. */
  ms: z.number().min(0).finite(),
});

const abortSchema = z.strictObject({
  /** Share (%) of requests aborted. */
  percent: z.number().min(0).max(100).default(100),
  /** Status of the synthesized reply. */
  status: z.number().int().min(200).max(599).default(503),
});

/** Faults to inject; either or both. */
export const faultSchema = z.strictObject({
  /** Delay a share of requests. @defaultValue none */
  delay: delaySchema.optional(),
  /** Abort a share of requests with a status, without contacting an endpoint. @defaultValue none */
  abort: abortSchema.optional(),
});

/**
 * The `faults` option: fault injection (chaos testing in staging) before requests reach any
 * endpoint; route rules may carry their own. `false` for none.
 */
export const faultsOption = z.union([z.literal(false), faultSchema]).default(false);

/**
 * Faults to inject; either or both.
 * @interface
 */
export type FaultOptions = z.input<typeof faultSchema>;

/**
 * Delay a share of requests.
 * @interface
 */
export type FaultDelay = z.input<typeof delaySchema>;

/**
 * Abort a share of requests, without contacting an endpoint.
 * @interface
 */
export type FaultAbort = z.input<typeof abortSchema>;

/** Faults in force: shares and status filled in. */
export type FaultPolicy = z.output<typeof faultSchema>;
