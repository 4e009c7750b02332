/**
 * Errors the mesh itself raises.
 *
 * HTTP error statuses stay axios errors (an `AxiosError` with `response`), exactly as without the
 * mesh; everything the mesh refuses or gives up on is a {@link MeshError} with a stable `code`
 * that callers can switch on. Messages never carry header values or registry tokens.
 */

/** Stable codes of {@link MeshError}. */
export type MeshErrorCode =
  /** The options given to `new MeshClient()` (or the sidecar's config file) are invalid. */
  | 'MESH_BAD_OPTIONS'
  /** A request the mesh cannot deliver as asked (no `service`, an absolute URL, ...). */
  | 'MESH_BAD_REQUEST'
  /** The sidecar was asked for a service it does not route to (it is not an open proxy). */
  | 'MESH_UNKNOWN_SERVICE'
  /** Discovery knows no endpoint for the service. */
  | 'MESH_NO_ENDPOINTS'
  /** Every endpoint the request could use has an open circuit breaker. */
  | 'MESH_CIRCUIT_OPEN'
  /** The request's total deadline (or its last per-try timeout) passed. */
  | 'MESH_TIMEOUT'
  /** The service's rate limit refused the request. */
  | 'MESH_RATE_LIMITED'
  /** The service's concurrency limit (and its queue) is full. */
  | 'MESH_BULKHEAD_FULL'
  /** The sidecar is over one of its own limits (connections, retry-buffer bytes): try again later. */
  | 'MESH_OVERLOADED'
  /** The sidecar could not be reached and no fallback is configured. */
  | 'MESH_SIDECAR_UNREACHABLE'
  /** Discovery could not produce a first endpoint set for the service. */
  | 'MESH_DISCOVERY_UNAVAILABLE'
  /** The client was closed before or while the request ran. */
  | 'MESH_CLOSED'
  /**
   * A response redirected the request where the `redirects` policy does not follow (off the
   * endpoint the request was sent to); the message names the target's origin only.
   */
  | 'MESH_REDIRECT_REFUSED'
  /**
   * A mesh endpoint's certificate does not verify against the trust bundle (another CA, expired,
   * not yet valid): refused during the handshake, before anything was sent.
   */
  | 'MESH_PEER_UNTRUSTED'
  /**
   * A mesh endpoint presented a valid certificate whose SPIFFE ID is not one the service may
   * present (or none): refused during the handshake, before anything was sent.
   */
  | 'MESH_PEER_IDENTITY'
  /** No TLS material to present yet (Consul's CA has not answered within `tls.initialTimeout`). */
  | 'MESH_TLS_UNAVAILABLE'
  /** A plaintext request reached a listener that accepts mutual TLS only (the inbound in `strict` mode). */
  | 'MESH_TLS_REQUIRED'
  /** The inbound's authorization denied the caller (403): the application never saw the request. */
  | 'MESH_FORBIDDEN'
  /** The inbound could not decide on authorization (Consul intentions unreachable): refused with 503. */
  | 'MESH_AUTHZ_UNAVAILABLE';

/** Context a {@link MeshError} may carry. None of it is secret. */
export interface MeshErrorDetails {
  /** The logical service the request was for. */
  service?: string;
  /** The endpoint (URL) involved, when one was. */
  endpoint?: string;
  /** The error that led to this one. */
  cause?: unknown;
}

/** The one error class the mesh throws for failures of its own making. */
export class MeshError extends Error {
  override readonly name = 'MeshError';
  /** Stable, machine-readable reason. */
  readonly code: MeshErrorCode;
  /** The logical service, when the error concerns one. */
  readonly service: string | undefined;
  /** The endpoint URL, when the error concerns one. */
  readonly endpoint: string | undefined;

  constructor(code: MeshErrorCode, message: string, details: MeshErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.service = details.service;
    this.endpoint = details.endpoint;
  }
}

/** True when `err` is a {@link MeshError}, optionally of the given code. */
export function isMeshError(err: unknown, code?: MeshErrorCode): err is MeshError {
  return err instanceof MeshError && (code === undefined || err.code === code);
}
