/**
 * undici's failures in the terms axios's http adapter gives them, so that callers (and the
 * mesh's retry policy) see the codes and messages they know: a connection closed before the
 * response is ECONNRESET "socket hang up"; a body cut short is ERR_BAD_RESPONSE "stream has been
 * aborted" (or ECONNRESET "aborted" where axios's own stream pipeline sees it first); a
 * malformed response is an HPE_* parse error; invalid headers are Node's TypeError; everything
 * else is wrapped with `AxiosError.from`, keeping its code. An abort through the attempt's signal
 * is axios's `CanceledError` with the request, as axios's adapter rejects on an abort (the stages
 * above read why from the signal's reason); so is undici's own abort error.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { AxiosError, type AxiosResponse, CanceledError, type InternalAxiosRequestConfig } from 'axios';

type Failure = Error & { code?: string };

/** llhttp's reasons -> Node's HPE codes (undici loses the code: it looks llhttp's number up by name). */
const PARSE_CODES: ReadonlyArray<[RegExp, string]> = [
  [/status code/i, 'HPE_INVALID_STATUS'],
  [/header (value|field) char/i, 'HPE_INVALID_HEADER_TOKEN'],
  [/content-length/i, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  [/chunk size/i, 'HPE_INVALID_CHUNK_SIZE'],
  [/version/i, 'HPE_INVALID_VERSION'],
  [/transfer-encoding/i, 'HPE_INVALID_TRANSFER_ENCODING'],
];

function withCause(error: AxiosError, cause: unknown): AxiosError {
  // Not enumerable, as AxiosError.from does: the cause holds sockets, which loggers cannot print.
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

/** Node's error for a response cut short. */
export function aborted(cause: Error): Error {
  return Object.assign(new Error('aborted', { cause }), { code: 'ECONNRESET' });
}

/** Node's shape of a response parse failure. */
function parseError(e: Failure): Failure {
  if (e.name !== 'HTTPParserError' || (e.code && e.code !== 'HPE_')) return e;
  const reason = /\((.*)\)$/.exec(e.message)?.[1] ?? e.message;
  const code = PARSE_CODES.find(([pattern]) => pattern.test(reason))?.[1] ?? 'HPE_INVALID_CONSTANT';
  return Object.assign(new Error(`Parse Error: ${reason}`, { cause: e }), { code });
}

/** A failure while reading a buffered body. */
export function bodyError(
  err: unknown,
  aborting: boolean,
  config: InternalAxiosRequestConfig,
  response: AxiosResponse,
  piped: boolean,
): unknown {
  if (aborting) return new CanceledError(undefined, config, response.request);
  if (err instanceof AxiosError) return err;
  const e = err as Failure;
  if (e.code === 'UND_ERR_ABORTED')
    return withCause(new CanceledError(undefined, config, response.request), e);
  if (e.code === 'UND_ERR_SOCKET') {
    // axios reports the cut body itself, unless its stream pipeline (decoding, progress) saw it first.
    if (piped) return AxiosError.from(aborted(e), undefined, config, response.request, response);
    const error = new AxiosError(
      'stream has been aborted',
      AxiosError.ERR_BAD_RESPONSE,
      config,
      response.request,
      response,
    );
    return withCause(error, e);
  }
  return AxiosError.from(parseError(e), undefined, config, response.request, response);
}

/** A failure before the response headers. */
export function requestError(
  err: unknown,
  aborting: boolean,
  config: InternalAxiosRequestConfig,
  request: unknown,
  headers: Record<string, string | string[]>,
): unknown {
  if (aborting) return new CanceledError(undefined, config, request);
  if (err instanceof AxiosError) return err;
  const e = err as Failure;
  switch (e.code) {
    case 'UND_ERR_SOCKET':
      return withCause(new AxiosError('socket hang up', 'ECONNRESET', config, request), e);
    case 'UND_ERR_ABORTED':
      return withCause(new CanceledError(undefined, config, request), e);
    case 'UND_ERR_INVALID_ARG':
      // Node's own validation error, as the http adapter would surface it.
      for (const [name, value] of Object.entries(headers)) {
        try {
          validateHeaderName(name);
          for (const v of Array.isArray(value) ? value : [value]) validateHeaderValue(name, v);
        } catch (invalid) {
          return invalid;
        }
      }
      return AxiosError.from(e, AxiosError.ERR_BAD_OPTION_VALUE, config, request);
    default:
      return AxiosError.from(parseError(e), undefined, config, request);
  }
}
