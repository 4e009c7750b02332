/**
 * Redirects on the undici transport, followed as axios's adapter follows them (it uses
 * follow-redirects) and within the mesh's redirect policy (`redirect/policy.ts`), so a request
 * ends the same way on both transports: any 3xx with a `Location`, up to the request's
 * `maxRedirects` (or the policy's `max`), then `ERR_FR_TOO_MANY_REDIRECTS`; 303, and 301/302
 * after a POST, become a GET without the body or its `Content-*` headers; 307 and 308 (and
 * 301/302 after other methods) send the method and body again; credentials (`Authorization`,
 * `Cookie`, `Proxy-Authorization`, `sensitiveHeaders`) do not go to another origin; the caller's
 * `beforeRedirect` sees each hop (follow-redirects' options: `href`, `path`, `method`,
 * `headers`, ...) and may change its headers and method.
 *
 * A streamed request body is kept while it is sent, so a 307/308 can send it again, as
 * follow-redirects keeps it (`maxRedirects: 0` or `redirects.follow: 'none'` stream it without
 * keeping a copy). The bodies of the redirect responses are discarded.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { AxiosError, type InternalAxiosRequestConfig } from 'axios';
import type { Dispatcher } from 'undici';
import type { Call } from '../core/call.js';
import { MeshError } from '../errors/mesh-error.js';
import { type Hop, isRedirect, nextHop, redirectedMethod } from '../redirect/policy.js';

/** One request on the wire: where it went and what it sent. */
export interface Exchange<R> {
  readonly origin: string;
  /** Path and query. */
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: unknown;
  /** The request as `response.request` shows it. */
  readonly request: R;
}

/** What the loop needs of the transport: send a hop, describe a request. */
export interface Hops<R> {
  send(hop: Exchange<R>): Promise<Dispatcher.ResponseData>;
  describe(method: string, url: URL, headers: Record<string, string | string[]>): R;
}

/** Headers that never go to another origin. */
const CREDENTIALS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * Records a streamed request body while it is sent, for a redirect that sends it again. It
 * holds no chunk of its own (a high-water mark of 0): it passes each one on only when undici
 * reads it, so a short body is not drained ahead of time and still goes out chunked, as the
 * caller's stream would.
 */
export class BodyRecorder extends Transform {
  readonly #chunks: Buffer[] = [];
  #complete = false;

  constructor() {
    super({ highWaterMark: 0 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#chunks.push(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#complete = true;
    done();
  }

  /** The whole body, or undefined while it is still being sent. */
  bytes(): Buffer | undefined {
    return this.#complete ? Buffer.concat(this.#chunks) : undefined;
  }
}

/** The body to send again: the caller's bytes, or what the recorder kept of a stream. */
function replay(config: InternalAxiosRequestConfig, recorder: BodyRecorder | undefined): unknown {
  if (recorder) return recorder.bytes();
  const data = config.data as unknown;
  return data instanceof ArrayBuffer ? Buffer.from(data) : data;
}

/**
 * Follow `res` (a redirect) and the redirects after it; resolves with the last hop and its
 * response, which is not a redirect the request follows: an ordinary response, or a redirect
 * the policy refuses (with the refusal, for the edge to raise; see `markRefused`).
 */
export async function followRedirects<R>(
  call: Call<InternalAxiosRequestConfig>,
  first: Exchange<R>,
  firstResponse: Dispatcher.ResponseData,
  max: number,
  hops: Hops<R>,
  recorder: BodyRecorder | undefined,
): Promise<{ hop: Exchange<R>; res: Dispatcher.ResponseData; refusal?: MeshError }> {
  const config = call.request;
  const rule = call.redirects!;
  const endpoint = first.origin;
  const host = first.headers.host;
  const scope = {
    service: call.service,
    endpoint,
    host: typeof host === 'string' ? host.toLowerCase() : undefined,
  };
  let hop = first;
  let res = firstResponse;
  let count = 0;
  while (isRedirect(res.statusCode, res.headers.location)) {
    const location = res.headers.location;
    if (++count > max) {
      res.body.dump().catch(() => undefined);
      throw new AxiosError(
        'Maximum number of redirects exceeded',
        'ERR_FR_TOO_MANY_REDIRECTS',
        config,
        hop.request,
      );
    }
    const current = new URL(hop.path, hop.origin);
    let next: Hop;
    try {
      next = nextHop(new URL(location, current), scope, rule);
    } catch (err) {
      // A refused redirect is the endpoint's answer: the response, which the transport marks.
      if (err instanceof MeshError) return { hop, res, refusal: err };
      res.body.dump().catch(() => undefined);
      throw AxiosError.from(err as Error, 'ERR_FR_REDIRECTION_FAILURE', config, hop.request);
    }
    res.body.dump().catch(() => undefined);
    const redirected = redirectedMethod(res.statusCode, hop.method);
    let method = redirected.method;
    let headers: Record<string, string | string[]> = { ...hop.headers };
    let body: unknown = null;
    if (redirected.dropBody) {
      for (const name of Object.keys(headers)) if (name.startsWith('content-')) delete headers[name];
    } else if (hop.body !== null) {
      body = replay(config, recorder);
      if (body === undefined) {
        throw new MeshError(
          'MESH_REDIRECT_REFUSED',
          `a ${res.statusCode} redirect came while the streamed request body was still being sent`,
          { service: call.service },
        );
      }
    }
    if (next.url.origin !== current.origin) {
      const sensitive = Array.isArray(config.sensitiveHeaders) ? config.sensitiveHeaders : [];
      for (const name of [...CREDENTIALS, ...sensitive]) delete headers[String(name).toLowerCase()];
      if (!next.onEndpoint) delete headers.host;
    }
    const own = config.beforeRedirect as
      | ((options: Record<string, unknown>, response: object, request: object) => void)
      | undefined;
    if (own) {
      const options = hopOptions(next.url, method, headers);
      own(
        options,
        { headers: res.headers, statusCode: res.statusCode },
        {
          url: current.href,
          method: hop.method,
          headers: { host: current.host, ...hop.headers },
        },
      );
      method = String(options.method ?? method).toUpperCase();
      headers = lowerCased(options.headers as Record<string, unknown> | undefined);
    }
    const path = next.url.pathname + next.url.search;
    hop = {
      origin: next.url.origin,
      path,
      method,
      headers,
      body,
      request: hops.describe(method, next.url, headers),
    };
    res = await hops.send(hop);
  }
  return { hop, res };
}

/** The next hop as follow-redirects hands it to `beforeRedirect`. */
function hopOptions(
  url: URL,
  method: string,
  headers: Record<string, string | string[]>,
): Record<string, unknown> {
  return {
    protocol: url.protocol,
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    host: url.host,
    port: url.port === '' ? '' : Number(url.port),
    pathname: url.pathname,
    search: url.search,
    hash: url.hash,
    path: url.pathname + url.search,
    href: url.href,
    method,
    headers: { ...headers },
  };
}

function lowerCased(headers: Record<string, unknown> | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}
