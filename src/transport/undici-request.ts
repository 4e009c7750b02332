/**
 * The request the undici transport sends, as axios's http adapter would send it: the URL joined
 * as axios's `combineURLs` joins it, the headers with axios's defaults (User-Agent,
 * Accept-Encoding) and its value clean-up, Basic auth; and `response.request` / `error.request`
 * in ClientRequest's terms.
 */
import axios, { type InternalAxiosRequestConfig } from 'axios';
import { ACCEPT_ENCODING, ACCEPT_ENCODING_ZSTD } from './decode.js';

/** Hop-by-hop headers undici manages itself (and refuses from callers). */
const NOT_SENT = new Set(['keep-alive', 'transfer-encoding', 'upgrade', 'expect']);
/** A value axios would change: characters outside a byte string, or outer spaces and tabs. */
const DIRTY = /[^\t\x20-\x7e\x80-\xff]|^[\t ]|[\t ]$/;
const INVALID = /[^\t\x20-\x7e\x80-\xff]+/g;

/** `response.request` and `error.request`: the request as sent, in ClientRequest's terms. */
export class UndiciRequest {
  readonly #headers: Record<string, string | string[]>;

  constructor(
    readonly method: string,
    readonly protocol: string,
    readonly host: string,
    readonly path: string,
    headers: Record<string, string | string[]>,
  ) {
    // Not enumerable: a logged or serialised error must not carry Authorization.
    this.#headers = headers;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.#headers[name.toLowerCase()];
  }

  getHeaders(): Record<string, string | string[]> {
    return { ...this.#headers };
  }
}

/** axios's `combineURLs`: one slash between the base and the relative URL. */
export function join(base: string, url: string): string {
  return url ? `${base.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}` : base;
}

function clean(value: string): string {
  return DIRTY.test(value) ? value.replace(INVALID, '').replace(/^[\t ]+|[\t ]+$/g, '') : value;
}

/** The headers as axios's adapter would send them, plus whether the caller named the two it defaults. */
export function outgoing(config: InternalAxiosRequestConfig): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const source = config.headers as unknown as Record<string, unknown>;
  let agentNamed = false;
  let encodingNamed = false;
  for (const name of Object.keys(source)) {
    const key = name.toLowerCase();
    const value = source[name];
    // A header the caller set, even to false (meaning "send none"), is not defaulted.
    if (key === 'user-agent') agentNamed = value !== undefined;
    else if (key === 'accept-encoding') encodingNamed = value !== undefined;
    if (value === undefined || value === null || value === false || NOT_SENT.has(key)) continue;
    headers[key] = Array.isArray(value) ? value.map((v) => clean(String(v))) : clean(String(value));
  }
  if (!agentNamed) headers['user-agent'] = `axios/${axios.VERSION}`;
  if (!encodingNamed) {
    const zstd = (config.transitional as { advertiseZstdAcceptEncoding?: boolean } | undefined)
      ?.advertiseZstdAcceptEncoding;
    headers['accept-encoding'] = zstd === true ? ACCEPT_ENCODING_ZSTD : ACCEPT_ENCODING;
  }
  if (config.auth) {
    const { username = '', password = '' } = config.auth;
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  return headers;
}
