/**
 * The errors a caller of the fat client sees, in axios's terms: what axios's own http adapter
 * would have given for the same request. The pipeline's stages speak {@link MeshError} among
 * themselves (the retry policy, breakers and metrics read its codes); at the edge:
 *
 * - a timeout, whichever limit struck (the request's `timeout`, the policy's deadline or per-try
 *   limit, a deadline inherited from the caller's caller), is axios's timeout error: `AxiosError`
 *   `ECONNABORTED` (`ETIMEDOUT` with `transitional.clarifyTimeoutError`), its message
 *   `timeoutErrorMessage` or `timeout of <timeout>ms exceeded`, the `MESH_TIMEOUT` detail as its
 *   `cause`; also when the headers had already arrived (axios then reports a cut stream, because
 *   its timeout turns into a socket idle timeout once the response has begun);
 * - a cancellation is axios's `CanceledError`: the token's own reason for a `cancelToken`, a
 *   `CanceledError` carrying the caller's config for a `signal`;
 * - every `AxiosError` carries the caller's config, not the copy a transport worked on;
 * - the mesh's refusals stay `MeshError`s.
 */
import { AxiosError, type AxiosResponse, CanceledError, type InternalAxiosRequestConfig } from 'axios';
import { MeshError } from '../errors/mesh-error.js';

/** How the caller cancelled, when it did. */
export interface Cancellation {
  readonly token: { readonly reason?: unknown } | undefined;
  /** The token (rather than the signal) cancelled first. */
  readonly byToken: boolean;
}

/**
 * The request's own timeout in ms (0 for none), parsed as axios's http adapter parses it: any
 * falsy value is none, anything else goes through `parseInt` (so `'250'` is 250), and what does
 * not parse is `ERR_BAD_OPTION_VALUE`. A negative timeout, which would crash axios's adapter
 * (Node's timers refuse it), is `ERR_BAD_OPTION_VALUE` too.
 */
export function requestTimeout(config: InternalAxiosRequestConfig): number {
  const raw = config.timeout as unknown;
  if (!raw) return 0;
  const ms = Number.parseInt(raw as string, 10);
  if (Number.isNaN(ms)) {
    throw new AxiosError(
      'error trying to parse `config.timeout` to int',
      AxiosError.ERR_BAD_OPTION_VALUE,
      config,
    );
  }
  if (ms < 0) {
    throw new AxiosError('`config.timeout` must not be negative', AxiosError.ERR_BAD_OPTION_VALUE, config);
  }
  return ms;
}

/** axios's CanceledError for an aborted `signal`. */
export function canceled(config: InternalAxiosRequestConfig, request?: unknown): CanceledError<unknown> {
  return new CanceledError(undefined, config, request);
}

/** The error axios's `settle` gives for a status the caller's `validateStatus` refuses. */
export function statusError(reply: AxiosResponse, config: InternalAxiosRequestConfig): AxiosError {
  return new AxiosError(
    `Request failed with status code ${reply.status}`,
    reply.status >= 400 && reply.status < 500 ? AxiosError.ERR_BAD_REQUEST : AxiosError.ERR_BAD_RESPONSE,
    config,
    reply.request,
    reply,
  );
}

/** What the caller gets for `err`, the pipeline's failure of the request `config`. */
export function callerError(
  err: unknown,
  config: InternalAxiosRequestConfig,
  cancelled: Cancellation | undefined,
  ownTimeout: boolean,
): unknown {
  if (cancelled) {
    if (cancelled.byToken && cancelled.token?.reason !== undefined) return cancelled.token.reason;
    return canceled(config, requestOf(err));
  }
  if (err instanceof MeshError)
    return err.code === 'MESH_TIMEOUT' ? timeoutError(err, config, ownTimeout) : err;
  if (err instanceof AxiosError) {
    err.config = config;
    if (err.response) err.response.config = config;
  }
  return err;
}

/**
 * axios's timeout error, with the mesh's detail (which limit, which attempt) as its cause. Its
 * message names the request's own timeout when that was the limit (`own`), as axios's does;
 * otherwise the limit that struck.
 */
function timeoutError(cause: MeshError, config: InternalAxiosRequestConfig, own: boolean): AxiosError {
  const detail = cause.message.slice(cause.code.length + 2);
  const message =
    config.timeoutErrorMessage ||
    (own ? `timeout of ${config.timeout as unknown}ms exceeded` : `timeout exceeded: ${detail}`);
  const code = config.transitional?.clarifyTimeoutError ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED;
  const error = new AxiosError(message, code, config, requestOf(cause.cause));
  // Not enumerable, as AxiosError.from makes it: loggers walking own properties skip it.
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

/** The request an attempt's error names (axios's own `request`), if any. */
function requestOf(err: unknown): unknown {
  return (err as { request?: unknown } | undefined)?.request;
}
