/**
 * What the axios transports (axios's http adapter, undici, the hand-off to a sidecar) do the
 * same way: apply the redirect policy to axios's own redirect following, and keep listening to
 * the caller's cancellation while a streamed response body is being read, as axios's adapter
 * does until the stream ends.
 */
import { STATUS_CODES } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { AxiosHeaders, type AxiosResponse, CanceledError, type InternalAxiosRequestConfig } from 'axios';
import type { Call } from '../core/call.js';
import type { MeshError } from '../errors/mesh-error.js';
import { type Hop, isRelative, markRefused, maxHops, nextHop } from '../redirect/policy.js';

/**
 * The config one attempt hands axios's http adapter: the caller's own fields, with the attempt's
 * on top, in a new object (the caller's stays as it was, for `err.config`). Not a spread: axios
 * merges configs with computed keys, which leaves them in V8's dictionary mode, and spreading one
 * costs microseconds per attempt; copying key by key costs a fifth of that and gives a
 * fast-mode object, faster to read for the adapter too. Symbol keys are copied as a spread would.
 */
export function attemptConfig(
  config: InternalAxiosRequestConfig,
  own: Partial<InternalAxiosRequestConfig>,
): InternalAxiosRequestConfig {
  const copy: Record<PropertyKey, unknown> = {};
  const source = config as unknown as Record<PropertyKey, unknown>;
  const keys = Object.keys(source);
  for (let i = 0; i < keys.length; i++) copy[keys[i]!] = source[keys[i]!];
  for (const symbol of Object.getOwnPropertySymbols(source)) {
    if (Object.prototype.propertyIsEnumerable.call(source, symbol)) copy[symbol] = source[symbol];
  }
  return Object.assign(copy, own) as unknown as InternalAxiosRequestConfig;
}

/** follow-redirects' hook before each hop: the next hop's options, what answered, what was sent. */
export type BeforeRedirect = (
  options: Record<string, unknown>,
  response: { headers: Record<string, unknown>; statusCode: number },
  request: { url: string; method: string; headers: Record<string, unknown> },
) => void;

/**
 * The redirect settings for axios's http adapter (which follows with follow-redirects): how many
 * hops, and a `beforeRedirect` that applies the mesh's policy to each hop before the caller's own
 * hook sees it. `endpoint` is where the request was sent (the endpoint, or the sidecar). No hop at
 * all (`maxRedirects: 0`) makes the adapter use Node's http directly, as axios does.
 *
 * A hop the policy refuses stops follow-redirects (the hook throws); {@link RedirectGuard.recover}
 * then turns that failure back into the 3xx the endpoint sent (its status and headers; its body
 * is gone), marked with the refusal for the edge to raise.
 */
export class RedirectGuard {
  readonly maxRedirects: number;
  readonly beforeRedirect: BeforeRedirect | undefined;
  #refused: { error: MeshError; status: number; headers: Record<string, unknown> } | undefined;

  constructor(call: Call<InternalAxiosRequestConfig>, endpoint: string, host: string | undefined) {
    const config = call.request;
    this.maxRedirects = maxHops(call.redirects, config.maxRedirects);
    if (this.maxRedirects === 0) {
      this.beforeRedirect = undefined;
      return;
    }
    const rule = call.redirects!;
    const own = config.beforeRedirect as BeforeRedirect | undefined;
    // Whether the hop that answered was on the endpoint: a relative Location then is too.
    let here = true;
    this.beforeRedirect = (options, response, request) => {
      const scope = { service: call.service, endpoint, host: host ?? hostHeader(config) };
      const target = new URL(String(options.href));
      let url: URL;
      if (here && isRelative(String(response.headers.location))) {
        // follow-redirects resolves a relative Location against the request's Host, if it set one.
        url = new URL(target.pathname + target.search, endpoint);
      } else {
        let hop: Hop;
        try {
          hop = nextHop(target, scope, rule);
        } catch (error) {
          this.#refused = {
            error: error as MeshError,
            status: response.statusCode,
            headers: response.headers,
          };
          throw error;
        }
        url = hop.url;
        here = hop.onEndpoint;
      }
      // Back onto the endpoint, Host kept (unless a proxy carries the request: the proxy then
      // gets the absolute URL, as axios sends it).
      if (url.origin !== target.origin && String(options.path).startsWith('/')) {
        Object.assign(options, {
          protocol: url.protocol,
          hostname: url.hostname,
          host: url.host,
          port: url.port === '' ? '' : Number(url.port),
          path: url.pathname + url.search,
          href: url.href,
        });
        if (scope.host) (options.headers as Record<string, unknown>).Host = scope.host;
      }
      own?.(options, response, request);
    };
  }

  /** The refused redirect as the reply (marked with its refusal) when `err` is one; else `err` again. */
  recover(err: unknown, config: InternalAxiosRequestConfig): AxiosResponse {
    const refused = this.#refused;
    if (!refused) throw err;
    const reply: AxiosResponse = {
      status: refused.status,
      statusText: STATUS_CODES[refused.status] ?? '',
      headers: new AxiosHeaders(refused.headers as Record<string, string>),
      config,
      request: (err as { request?: unknown }).request,
      data: '',
    };
    return markRefused(reply, refused.error);
  }
}

function hostHeader(config: InternalAxiosRequestConfig): string | undefined {
  const value = config.headers.get('host');
  return typeof value === 'string' && value ? value.toLowerCase() : undefined;
}

interface TokenLike {
  subscribe(listener: (reason: unknown) => void): void;
  unsubscribe(listener: (reason: unknown) => void): void;
}

/**
 * Destroy `body` with the caller's cancellation once it comes, until the body is done: a
 * CanceledError ('canceled') for `config.signal`, the token's own reason for `config.cancelToken`.
 * Nothing is subscribed when the caller gave neither.
 */
export function cancelBodyOnAbort(
  body: Readable,
  config: InternalAxiosRequestConfig,
  request?: unknown,
): void {
  const signal = config.signal as AbortSignal | undefined;
  const token = config.cancelToken as TokenLike | undefined;
  if (!signal && !token) return;
  const onSignal = () => body.destroy(new CanceledError(undefined, config, request));
  const onToken = (reason: unknown) =>
    body.destroy(reason instanceof Error ? reason : new CanceledError(undefined, config, request));
  if (signal?.aborted) {
    onSignal();
    return;
  }
  signal?.addEventListener?.('abort', onSignal);
  token?.subscribe(onToken);
  const stop = finished(body, () => {
    stop();
    signal?.removeEventListener?.('abort', onSignal);
    token?.unsubscribe(onToken);
  });
}
