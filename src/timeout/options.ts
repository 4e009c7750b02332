/** The `timeout` option: the total deadline, the per-try timeout, and deadline propagation. */
import { z } from 'zod';

const msOrOff = z.union([z.literal(false), z.number().positive().finite()]);

const timeoutFields = z.strictObject({
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

/** Warnings already given: the same policy is validated again per service and per `configure()`. */
const warned = new Set<string>();

/**
 * A per-try timeout longer than the total deadline can never fire: every attempt ends at the
 * deadline first, so a hung first attempt spends the whole budget and leaves none for a retry.
 * This is a warning (`process.emitWarning`, type `MeshOptionsWarning`, once per values), not a
 * refusal, and only for a `perTry` the user set (`perTrySet`): a service that sets only
 * `timeout.total: 100` under the default `perTry` asked for exactly what it gets, requests that
 * end at 100 ms.
 */
export function warnIfPerTryUnreachable(timeout: TimeoutPolicy, perTrySet: boolean): void {
  const { total, perTry } = timeout;
  if (!perTrySet || total === false || perTry === false || perTry <= total) return;
  const message =
    `timeout.perTry (${perTry} ms) is longer than timeout.total (${total} ms), so it never applies: ` +
    'each attempt ends at the deadline and a hung attempt leaves no time to retry; ' +
    `set timeout.perTry below ${total}, or to false`;
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { type: 'MeshOptionsWarning', code: 'MESH_TIMEOUT_PER_TRY_OVER_TOTAL' });
}

/** The `timeout` option. */
export const timeoutOption = timeoutFields.prefault({});

/**
 * Deadlines.
 * @interface
 */
export type TimeoutOptions = z.input<typeof timeoutFields>;

/** The timeouts in force for a service. */
export type TimeoutPolicy = z.output<typeof timeoutFields>;
