/**
 * What a failed attempt says about delivery, in one place: whether the request provably never
 * reached a server (safe to send anywhere again, whatever the method), whether it may have
 * (safe to repeat only when the request is idempotent), or neither (the error is final).
 *
 * The codes are those Node's sockets (`ECONNREFUSED`, ...), axios (`ECONNABORTED`), undici
 * (`UND_ERR_*`) and the mesh itself (`MESH_*`) use. The retry policy, the sidecar hand-off's
 * fallback, the metrics' error labels and the attempt events all read them from here.
 */
import type { Call, Reply } from '../core/call.js';
import { isMeshError } from './mesh-error.js';

/** Failures before any byte reached a server. */
const NEVER_SENT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'MESH_CIRCUIT_OPEN',
]);

/** Transport failures after which the server may or may not have seen the request. */
const MAYBE_SENT: ReadonlySet<string> = new Set([
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

/** Failures to reach a proxy at all: nothing was sent, and the proxy is not there. */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
]);

/** A connection the peer dropped: it may have seen the request. */
const CONNECTION_LOST: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

/** The error code of a failed attempt: the error's own, or its cause's. */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  // axios wraps socket errors as ERR_NETWORK / ERR_BAD_RESPONSE: the socket's code says more.
  if (typeof e?.code === 'string' && e.code !== 'ERR_NETWORK' && e.code !== 'ERR_BAD_RESPONSE') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return typeof e?.code === 'string' ? e.code : undefined;
}

/** The failure provably happened before the request reached a server. */
export function neverSent(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NEVER_SENT.has(code);
}

/**
 * axios's http adapter reports a response cut mid-body (the upstream reset the connection after
 * sending the head) as `ERR_BAD_RESPONSE` "stream has been aborted", with the response attached:
 * the request reached the server, as after a reset.
 */
function cutMidBody(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; response?: unknown } | undefined;
  return (
    e?.code === 'ERR_BAD_RESPONSE' && e.response !== undefined && e.message === 'stream has been aborted'
  );
}

/**
 * A transport failure after which the server may have seen the request (a reset, a timeout, a
 * response cut mid-body); the mesh's own refusals other than a timeout are not.
 */
export function maybeSent(error: unknown): boolean {
  if (cutMidBody(error)) return true;
  const code = errorCode(error);
  if (code === undefined || !MAYBE_SENT.has(code)) return false;
  return !isMeshError(error) || code === 'MESH_TIMEOUT';
}

/** A proxy could not be reached (refused, no route, no such host): it never saw the request. */
export function unreachable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && UNREACHABLE.has(code);
}

/** The peer dropped the connection (reset, broken pipe): it may have seen the request. */
export function connectionLost(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && CONNECTION_LOST.has(code);
}

/** An attempt's outcome: the reply it got, or the error it failed with. */
export type Outcome = { reply: Reply } | { error: unknown };

/**
 * Whether an attempt's outcome counts as a failure of its endpoint (for breakers and outlier
 * detection): a 5xx reply, or any error except the caller walking away or the mesh closing
 * (an aborted attempt says nothing about the endpoint unless the abort was a timeout).
 */
export function countsAgainst(outcome: Outcome, call: Call<unknown>): boolean {
  if ('reply' in outcome) return outcome.reply.status >= 500;
  return !callerGaveUp(call);
}

/** The attempt was aborted by its caller or the mesh closing, not by a timeout. */
export function callerGaveUp(call: Call<unknown>): boolean {
  return call.signal.aborted && !isMeshError(call.signal.reason, 'MESH_TIMEOUT');
}
