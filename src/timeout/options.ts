/** The `timeout` option: the total deadline, the per-try timeout, and deadline propagation. */
import { z } from 'zod';

const msOrOff = z.union([z.literal(false), z.number().positive().finite()]);

const timeoutSchema = z.strictObject({
  /** Deadline (ms) over all attempts and backoffs; `false` for none. A request's axios `timeout` replaces it. */
  total: msOrOff.default(15_000),
  /** Timeout (ms) of one attempt; `false` for none. A request's axios `timeout` replaces it for that request. */
  perTry: msOrOff.default(5_000),
  /**
   * Deadline propagation: each attempt tells the upstream the time it has left in the
   * `x-mesh-deadline-ms` header (a mesh-sidecar, or a service using `withIncomingDeadline`,
   * then works within it); the sidecar also takes an incoming header as the upper bound of its
   * own deadline.
   */
  propagate: z.boolean().default(true),
});

/** The `timeout` option. */
export const timeoutOption = timeoutSchema.prefault({});

/**
 * Deadlines.
 * @interface
 */
export type TimeoutOptions = z.input<typeof timeoutSchema>;

/** The timeouts in force for a service. */
export type TimeoutPolicy = z.output<typeof timeoutSchema>;
