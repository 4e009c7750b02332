/**
 * What the ingress checks before it routes a request, each check a refusal a client can read:
 *
 * - more header fields than `maxHeadersCount`: 431 (node:http would keep the first ones and
 *   drop the rest silently, a `Content-Length` among them);
 * - more than one `Host`, or a `Host` that is not a host (RFC 9112 section 3.2): 400;
 * - an absolute-form target whose host differs from `Host`: 400. RFC 9112 section 3.2.2 has a
 *   proxy ignore `Host` there, but an upstream or a log that reads `Host` (or the
 *   `X-Forwarded-Host` built from it) would then see another service than the one routed to;
 *   HAProxy refuses the same mismatch;
 * - userinfo in the target (RFC 9110 section 4.2.4 says to treat it as an error): 400;
 * - a transfer coding other than `chunked`: 501 (RFC 9112 section 6.1), since the body would
 *   otherwise reach the upstream decoded of `chunked` only, with no sign of its other codings.
 *
 * Framing itself (CL.TE, duplicate lengths, bare LF, obs-fold) is node:http's strict parser's.
 */
import type { IncomingMessage } from 'node:http';
import type { Refusal } from './refusal.js';

/** Where a request is going. */
export interface Target {
  service: string;
  /** Path and query as sent. */
  path: string;
  /** The authority the client addressed, for `X-Forwarded-Host`. */
  authority: string;
}

/** A `Host` value: reg-name, IPv4 or bracketed IPv6, then an optional port. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::(\d{0,5}))?$/;

function bad(message: string, status = 400): Refusal {
  return { status, code: 'MESH_BAD_REQUEST', message, close: true };
}

/** The host part of an authority, brackets of an IPv6 literal removed; undefined when it is not one. */
function hostOf(authority: string): string | undefined {
  const m = HOST.exec(authority);
  if (!m) return undefined;
  const host = m[1]!;
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** The request's target, or why it is refused. */
export function screen(req: IncomingMessage, maxHeadersCount: number): Target | Refusal {
  const raw = req.rawHeaders;
  if (raw.length / 2 > maxHeadersCount) {
    return bad(`more than ${maxHeadersCount} header fields`, 431);
  }
  let hosts = 0;
  // Only four-letter names are lower-cased: one string fewer per header field.
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return bad('more than one Host header');

  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    return bad('transfer codings other than chunked are not supported', 501);
  }

  const host = req.headers.host;
  const hostName = host === undefined ? undefined : hostOf(host);
  if (host !== undefined && (hostName === undefined || hostName === '')) return bad('invalid Host header');

  const url = req.url ?? '/';
  if (url.startsWith('/')) {
    if (hostName === undefined) return bad('no service: use absolute-form or Host');
    return { service: hostName, path: url, authority: host! };
  }
  if (!/^http:\/\//i.test(url)) return bad('only origin-form and http:// absolute-form targets are routed');
  const rest = url.slice('http://'.length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority.includes('@')) return bad('userinfo in the request target');
  const service = hostOf(authority);
  if (service === undefined || service === '') return bad('invalid host in the request target');
  if (hostName !== undefined && hostName.toLowerCase() !== service.toLowerCase()) {
    return bad('the request target and Host name different hosts');
  }
  let path = end < 0 ? '/' : rest.slice(end).split('#')[0]!;
  if (!path.startsWith('/')) path = `/${path}`;
  // Hosts are case-insensitive; the absolute form's is routed as the URL parser would give it.
  return { service: service.toLowerCase(), path, authority };
}

/** True for a refusal, false for a target. */
export function isRefusal(v: Target | Refusal): v is Refusal {
  return 'status' in v;
}
