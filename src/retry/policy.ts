/**
 * What is safe to retry.
 *
 * An attempt may be retried when sending the request again cannot do harm: idempotent requests
 * (see `Call.idempotent`) after transport failures that may have reached the server, per-try
 * timeouts and the configured gateway statuses; any request only when it provably never reached
 * a server (the connection was refused, or a breaker refused it before it was sent). A body that
 * was streamed and not buffered cannot be sent twice, so such requests are retried only when a
 * breaker refused them. Which failure is which is decided in `errors/classify.ts`.
 */
import type { Call, Reply } from '../core/call.js';
import { errorCode, maybeSent, neverSent } from '../errors/classify.js';

/** Whether a failed attempt (error) may be retried. */
export function retryableError(error: unknown, call: Call<unknown>): boolean {
  if (call.signal.aborted) return false;
  // A streamed body may have been partly consumed even when the connection then failed.
  if (neverSent(error)) return call.replayable || errorCode(error) === 'MESH_CIRCUIT_OPEN';
  return maybeSent(error) && call.idempotent && call.replayable;
}

/** Whether a reply's status may be retried. */
export function retryableReply(reply: Reply, call: Call<unknown>, statuses: readonly number[]): boolean {
  return call.idempotent && call.replayable && statuses.includes(reply.status) && !call.signal.aborted;
}
