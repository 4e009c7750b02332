/**
 * The real servers the compatibility suite talks to, all on loopback: the main HTTP server, a
 * second one (another host, for redirects leaving the origin), HTTPS with a self-signed
 * certificate, HTTPS that requires a client certificate, a Unix-socket server, and a forward
 * proxy (absolute-form requests and CONNECT tunnels) that marks what it carried.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handler, Observed } from './routes.js';
import { makePki, type Pki } from './tls.js';

/** What the proxy carried. */
export interface Proxied {
  /** The absolute-form URL, or `CONNECT host:port`. */
  target: string;
  proxyAuthorization: string | undefined;
}

type AnyServer = http.Server | https.Server | net.Server;

export class Servers {
  readonly observed = new Observed();
  readonly proxied: Proxied[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #servers: AnyServer[] = [];
  readonly #sockets = new Set<Socket>();
  /** Main HTTP origin, e.g. `http://127.0.0.1:40001`. */
  http = '';
  /** Another HTTP origin: "another host". */
  other = '';
  /** HTTPS origin presenting `pki.server`. */
  https = '';
  /** HTTPS origin that requires a client certificate issued as `pki.client`. */
  mtls = '';
  /** Forward proxy origin. */
  proxy = '';
  /** A port nothing listens on. */
  closed = '';
  /** Path of the Unix-socket HTTP server. */
  readonly socketPath = join(tmpdir(), `axios-compat-${process.pid}.sock`);

  private constructor(readonly pki: Pki) {}

  static async start(): Promise<Servers> {
    const s = new Servers(await makePki());
    const routes = handler(s.observed, s.#timers);
    s.http = await s.#listen(http.createServer(routes), 'http');
    s.other = await s.#listen(http.createServer(routes), 'http');
    const { server, client } = s.pki;
    s.https = await s.#listen(https.createServer({ ...server }, routes), 'https');
    s.mtls = await s.#listen(
      https.createServer({ ...server, ca: client.cert, requestCert: true, rejectUnauthorized: true }, routes),
      'https',
    );
    s.proxy = await s.#listen(s.#proxyServer(), 'http');
    const unix = s.#track(http.createServer(routes));
    unix.listen(s.socketPath);
    await once(unix, 'listening');
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    s.closed = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise((resolve) => probe.close(resolve));
    return s;
  }

  /** Port of an origin. */
  static port(origin: string): number {
    return Number(new URL(origin).port);
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(this.#servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }

  #track<S extends AnyServer>(server: S): S {
    this.#servers.push(server);
    const onSocket = (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    };
    server.on(server instanceof https.Server ? 'secureConnection' : 'connection', onSocket);
    if (server instanceof https.Server) server.on('connection', onSocket);
    // A client walking away mid-request is normal here; the servers keep going.
    server.on('clientError', (_err: Error, socket: Socket) => socket.destroy());
    return server;
  }

  async #listen(server: AnyServer, scheme: 'http' | 'https'): Promise<string> {
    this.#track(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A forward proxy: absolute-form HTTP requests are re-sent, CONNECT is tunnelled. */
  #proxyServer(): http.Server {
    const proxy = http.createServer((req, res) => {
      this.proxied.push({ target: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'] });
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end('absolute-form required');
        return;
      }
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      const out = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: req.method,
          headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, { ...up.headers, 'x-via-proxy': 'compat' });
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    proxy.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
      this.proxied.push({
        target: `CONNECT ${req.url}`,
        proxyAuthorization: req.headers['proxy-authorization'],
      });
      const [host = '', port = '443'] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      this.#sockets.add(upstream);
      upstream.on('close', () => this.#sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    return proxy;
  }
}
