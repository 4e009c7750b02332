/**
 * The floor: the least a Node.js proxy can do, run as its own process so mesh-sidecar can be
 * measured against it. A `node:http` server whose handler forwards each request to one
 * `undici.Pool` per upstream origin (round-robin over the service's endpoints, keep-alive),
 * streaming the request body up and the response (status and headers) back. No policy, no
 * retries, no timeouts of its own, no telemetry. Every Node proxy pays for this much (the HTTP
 * parser on both sides, two sockets per request, the event loop); what mesh-sidecar costs above
 * it is the price of the mesh, not of Node.
 *
 * Correct all the same: hop-by-hop fields (RFC 9110 section 7.6.1: `Connection` and every field
 * it names, `Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`) are not
 * forwarded in either direction, `Via` records the hop (section 7.6.3), and a request that gets
 * no answer from upstream (refused, reset, no such service) is answered 502.
 *
 * Usage: `node node-proxy.js '{"listen":"127.0.0.1:0","services":{"users":["http://127.0.0.1:8080"]}}'`.
 * The service is the request's `Host` without its port (what a MeshClient in sidecar mode sends),
 * or the host of an absolute-form target (what a client with a proxy set sends). Once it accepts
 * connections it prints one line, `{"msg":"listening","listen":"http://127.0.0.1:<port>"}`.
 */
import http from 'node:http';
import { type Dispatcher, Pool } from 'undici';

interface FloorConfig {
  listen?: string;
  services: Record<string, string[]>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
]);

type Fields = Record<string, string | string[] | undefined>;

/** `headers` without the hop-by-hop fields, nor those its `Connection` names. */
function endToEnd(headers: Fields): Record<string, string | string[]> {
  const named = headers.connection === undefined ? [] : String(headers.connection).toLowerCase().split(',');
  const listed = new Set(named.map((n) => n.trim()));
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name) && !listed.has(name)) out[name] = value;
  }
  return out;
}

const config = JSON.parse(process.argv[2] ?? '') as FloorConfig;
const services = new Map(
  Object.entries(config.services).map(([name, urls]) => [
    name.toLowerCase(),
    { pools: urls.map((u) => new Pool(new URL(u).origin)), next: 0 },
  ]),
);

function badGateway(res: http.ServerResponse, why: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`bad gateway: ${why}\n`);
}

const server = http.createServer((req, res) => {
  let path = req.url ?? '/';
  let host = req.headers.host ?? '';
  if (!path.startsWith('/')) {
    try {
      const target = new URL(path);
      host = target.host;
      path = target.pathname + target.search;
    } catch {
      badGateway(res, 'unreadable request target');
      return;
    }
  }
  const service = services.get(host.replace(/:\d*$/, '').toLowerCase());
  if (!service) {
    badGateway(res, 'no such service');
    return;
  }
  const pool = service.pools[service.next++ % service.pools.length]!;
  const headers = endToEnd(req.headers);
  headers.via = req.headers.via ? `${req.headers.via}, 1.1 node-proxy` : '1.1 node-proxy';
  // node:http answered `Expect: 100-continue` itself, and undici refuses to send the field on.
  delete headers.expect;
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  // The caller went away: stop the upstream exchange too.
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  pool
    .stream(
      {
        path,
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: hasBody ? req : undefined,
        signal: abort.signal,
      },
      ({ statusCode, headers: upstream }) => {
        res.writeHead(statusCode, endToEnd(upstream as Fields));
        return res;
      },
    )
    .catch((err: { code?: string }) => badGateway(res, err.code ?? 'upstream failed'));
});

const [, host = '127.0.0.1', port = '0'] = /^(.*):(\d+)$/.exec(config.listen ?? '127.0.0.1:0') ?? [];
server.listen(Number(port), host.replace(/^\[|\]$/g, ''), () => {
  const { address, port: bound } = server.address() as { address: string; port: number };
  const shown = address.includes(':') ? `[${address}]` : address;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', listen: `http://${shown}:${bound}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
