/**
 * The hostile inputs, as exact bytes, with what mesh-sidecar must do with each: its status(es),
 * and exactly what the upstream receives (`''`: nothing at all). The same bytes go to HAProxy
 * for the side-by-side table.
 *
 * Two services are routed: `users` and `orders`. Forwarded requests are pinned byte for byte:
 * the headers the sidecar writes, in its order, with `x-mesh-deadline-ms` off (`propagate: false`)
 * so nothing depends on the clock.
 */

/** One hostile input. */
export interface HostileCase {
  name: string;
  /** The bytes, written in one go. */
  bytes: string;
  /** The statuses mesh-sidecar answers, in order. */
  statuses: number[];
  /** Exactly what the `users` upstream receives, given its port; `''` when nothing may reach it. */
  upstream: (port: number) => string;
}

const NOTHING = () => '';

/** What the sidecar sends upstream for a request to `users` (no body unless given). */
export function forwarded(
  port: number,
  line: string,
  options: { host?: string; extra?: string[]; body?: string } = {},
): string {
  const { host = 'users', extra = [], body } = options;
  return [
    line,
    `host: 127.0.0.1:${port}`,
    'connection: keep-alive',
    ...extra,
    'via: 1.1 mesh-sidecar',
    'x-forwarded-for: 127.0.0.1',
    `x-forwarded-host: ${host}`,
    ...(body === undefined ? [] : [`content-length: ${Buffer.byteLength(body)}`]),
    '',
    body ?? '',
  ].join('\r\n');
}

const padding = Array.from({ length: 1000 }, (_, i) => `x-pad-${i}: p\r\n`).join('');

export const CASES: HostileCase[] = [
  {
    name: 'plain GET (control)',
    bytes: 'GET /x?y=1 HTTP/1.1\r\nHost: users\r\nX-Kept: 1\r\n\r\n',
    statuses: [200],
    upstream: (p) => forwarded(p, 'GET /x?y=1 HTTP/1.1', { extra: ['x-kept: 1'] }),
  },
  {
    name: 'POST with Content-Length (control)',
    bytes: 'POST /p HTTP/1.1\r\nHost: users\r\nContent-Length: 5\r\n\r\nhello',
    statuses: [200],
    upstream: (p) => forwarded(p, 'POST /p HTTP/1.1', { body: 'hello' }),
  },
  {
    name: 'absolute-form, Host agrees',
    bytes: 'GET http://users/a HTTP/1.1\r\nHost: users\r\n\r\n',
    statuses: [200],
    upstream: (p) => forwarded(p, 'GET /a HTTP/1.1'),
  },
  {
    name: 'CL.TE: Content-Length and chunked',
    bytes:
      'POST / HTTP/1.1\r\nHost: users\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'TE.CL: chunked then Content-Length',
    bytes:
      'POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'obfuscated TE: "xchunked"',
    bytes: 'POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    statuses: [501],
    upstream: NOTHING,
  },
  {
    name: 'obfuscated TE: space before colon',
    bytes: 'POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'duplicate Content-Length',
    bytes: 'POST / HTTP/1.1\r\nHost: users\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'bare LF line endings',
    bytes: 'GET / HTTP/1.1\nHost: users\n\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'obs-fold header continuation',
    bytes: 'GET / HTTP/1.1\r\nHost: users\r\nX-A: b\r\n c\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'NUL in a header value',
    bytes: 'GET / HTTP/1.1\r\nHost: users\r\nX-A: a\0b\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'chunk size overflow',
    bytes:
      'POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked',
    bytes:
      'POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    statuses: [501],
    upstream: NOTHING,
  },
  {
    name: '1,000 headers then Content-Length',
    bytes: `POST / HTTP/1.1\r\nHost: users\r\n${padding}Content-Length: 5\r\n\r\nhello`,
    statuses: [431],
    upstream: NOTHING,
  },
  {
    name: 'one 20 KiB header',
    bytes: `GET / HTTP/1.1\r\nHost: users\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`,
    statuses: [431],
    upstream: NOTHING,
  },
  {
    name: 'two Host headers',
    bytes: 'GET / HTTP/1.1\r\nHost: users\r\nHost: orders\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'absolute-form and Host name different services',
    bytes: 'GET http://orders/a HTTP/1.1\r\nHost: users\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'userinfo in the target',
    bytes: 'GET http://u:p@users/a HTTP/1.1\r\nHost: users\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'https:// absolute-form',
    bytes: 'GET https://users/a HTTP/1.1\r\nHost: users\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  {
    name: 'Host: constructor',
    bytes: 'GET / HTTP/1.1\r\nHost: constructor\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'Host: __proto__',
    bytes: 'GET / HTTP/1.1\r\nHost: __proto__\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'Host: toString',
    bytes: 'GET / HTTP/1.1\r\nHost: toString\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'Host: hasOwnProperty',
    bytes: 'GET / HTTP/1.1\r\nHost: hasOwnProperty\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'unknown service',
    bytes: 'GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'absolute-form to an IP (open-proxy probe)',
    bytes: 'GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n',
    statuses: [404],
    upstream: NOTHING,
  },
  {
    name: 'Host with a path in it',
    bytes: 'GET / HTTP/1.1\r\nHost: users/../admin\r\n\r\n',
    statuses: [400],
    upstream: NOTHING,
  },
  { name: 'HTTP/1.0 without Host', bytes: 'GET / HTTP/1.0\r\n\r\n', statuses: [400], upstream: NOTHING },
  {
    name: 'CONNECT',
    bytes: 'CONNECT users:80 HTTP/1.1\r\nHost: users:80\r\n\r\n',
    statuses: [405],
    upstream: NOTHING,
  },
  {
    name: 'pipelined: a good request, then one for an unknown service',
    bytes: 'GET /a HTTP/1.1\r\nHost: users\r\n\r\nGET /b HTTP/1.1\r\nHost: evil\r\n\r\n',
    statuses: [200, 404],
    upstream: (p) => forwarded(p, 'GET /a HTTP/1.1'),
  },
  {
    name: 'hop-by-hop headers named by Connection',
    bytes: 'GET /h HTTP/1.1\r\nHost: users\r\nConnection: x-hop\r\nX-Hop: secret\r\nKeep-Alive: 9\r\n\r\n',
    statuses: [200],
    upstream: (p) => forwarded(p, 'GET /h HTTP/1.1'),
  },
];
