/**
 * Header handling at the proxy boundary (RFC 9110 section 7.6.1): hop-by-hop headers, and any
 * header the `Connection` header names, describe one connection and are not forwarded;
 * `Via` and `X-Forwarded-*` record the hop instead.
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  // Answered by this server already; undici refuses to send it on.
  'expect',
]);

/** Header values as node:http and undici give them. */
export type Headers = Record<string, string | string[] | undefined>;

/** A copy without hop-by-hop headers (nor those `Connection` names), nor the names in `drop`. */
export function endToEnd(
  headers: Headers | IncomingHttpHeaders,
  drop?: ReadonlySet<string>,
): Record<string, string | string[]> {
  const named = headers.connection;
  const listed = named
    ? new Set(
        String(named)
          .toLowerCase()
          .split(/\s*,\s*/),
      )
    : undefined;
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name) || drop?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Append this hop to a comma-separated list header. */
export function appendHop(previous: string | string[] | undefined, hop: string): string {
  if (previous === undefined) return hop;
  return `${Array.isArray(previous) ? previous.join(', ') : previous}, ${hop}`;
}

/**
 * The transfer codings of a response other than `chunked`, or undefined when there are none.
 * The proxy's HTTP client removes the chunked framing only; the other codings (`gzip, chunked`)
 * are still on the bytes, so they are sent on with a fresh `chunked` (RFC 9112 section 6.1).
 */
export function otherCodings(te: string | string[] | undefined): string | undefined {
  // The common cases, without splitting: no coding, or chunked alone.
  if (te === undefined || te === 'chunked') return undefined;
  const codings = (Array.isArray(te) ? te.join(',') : te)
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'chunked');
  return codings.length > 0 ? codings.join(', ') : undefined;
}
