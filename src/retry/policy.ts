/**
 * What is safe to retry.
 *
 * An attempt may be retried when sending the request again cannot do harm: idempotent methods
 * (RFC 9110 section 9.2.2) after connection failures, per-try timeouts and the configured
 * gateway statuses; any method only when the request provably never reached a server (the
 * connection was refused, or a breaker refused it before it was sent). A body that was streamed
 * and not buffered cannot be sent twice, so such requests are retried only in the latter case.
 */
import type { Call, Reply } from '../core/call.js';
import { isMeshError } from '../errors.js';

/** Methods RFC 9110 defines as idempotent. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);

/** Failures before any byte reached a server. */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'MESH_CIRCUIT_OPEN',
]);

/** Transport failures after which the server may or may not have seen the request. */
const MAYBE_SENT = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'MESH_TIMEOUT',
]);

/** The error code of a failed attempt: the error's own, or its cause's. */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string' && e.code !== 'ERR_NETWORK' && e.code !== 'ERR_BAD_RESPONSE') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return typeof e?.code === 'string' ? e.code : undefined;
}

/**
 * axios's http adapter reports a response cut mid-body (the upstream reset the connection after
 * sending the head) as `ERR_BAD_RESPONSE` "stream has been aborted", the response attached: the
 * request reached the server, so it is retried as after a reset, when sending it twice is safe.
 */
function cutMidBody(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; response?: unknown } | undefined;
  return (
    e?.code === 'ERR_BAD_RESPONSE' && e.response !== undefined && e.message === 'stream has been aborted'
  );
}

/** Whether a failed attempt (error) may be retried. */
export function retryableError(error: unknown, call: Call<unknown>): boolean {
  if (call.signal.aborted) return false;
  if (cutMidBody(error)) return call.idempotent && call.replayable;
  const code = errorCode(error);
  if (code === undefined) return false;
  // A streamed body may have been partly consumed even when the connection then failed.
  if (NEVER_SENT.has(code)) return call.replayable || code === 'MESH_CIRCUIT_OPEN';
  if (isMeshError(error) && code !== 'MESH_TIMEOUT') return false;
  return MAYBE_SENT.has(code) && call.idempotent && call.replayable;
}

/** Whether a reply's status may be retried. */
export function retryableReply(reply: Reply, call: Call<unknown>, statuses: readonly number[]): boolean {
  return call.idempotent && call.replayable && statuses.includes(reply.status) && !call.signal.aborted;
}
