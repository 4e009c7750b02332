/**
 * The proxy listener's edges beyond plain requests: the connection cap, `Upgrade` tunnels,
 * `CONNECT`, the parser's own refusals, and the graceful stop.
 *
 * - `CONNECT` gets 405: the sidecar forwards HTTP requests to the services it knows and opens
 *   no raw tunnel to an address a client names (node:http would close the connection without
 *   a word).
 * - The parser's refusals (malformed framing, headers over `maxHeaderBytes`, a header or
 *   request timeout) get node:http's statuses (400, 431, 408) with the sidecar's `x-mesh-error`
 *   and JSON body, and are counted under `/stats` `refused`.
 * - Draining is Envoy's and HAProxy's soft stop: stop accepting, close the keep-alive
 *   connections that carry nothing (and each one as soon as its request ends), give the
 *   requests in flight a bounded time to finish, then close what is left.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { Admission } from './admission.js';
import type { IngressLimits } from './limits.js';
import { applyServerLimits } from './limits.js';
import { rawRefusal } from './refusal.js';
import type { SidecarStats } from './stats.js';
import { handleUpgrade, type UpgradeContext } from './upgrade.js';

const CONNECT_REFUSED = rawRefusal(
  405,
  'MESH_BAD_REQUEST',
  'CONNECT is not supported: the sidecar forwards HTTP requests to the services it knows',
).replace('\r\nvia:', '\r\nallow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\nvia:');

/** The parser's error codes and what a client is answered. */
function parserRefusal(code: string | undefined): [number, string, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'MESH_BAD_REQUEST', 'the request headers are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'MESH_TIMEOUT', 'the request was not received in time'];
    default:
      return [400, 'MESH_BAD_REQUEST', 'the request is malformed'];
  }
}

/** Handles the proxy server's connections beyond its request handler; close it with the server. */
export class ProxyFront {
  readonly admission: Admission;
  readonly tunnels = new Set<Duplex>();
  #server: http.Server | undefined;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #draining = false;

  constructor(readonly limits: IngressLimits) {
    this.admission = new Admission(limits);
  }

  /** Wire the limits, cap, upgrade, CONNECT and parser-error handling onto `server`. */
  attach(server: http.Server, ctx: Omit<UpgradeContext, 'tunnels' | 'admission'>, stats: SidecarStats): void {
    this.#server = server;
    applyServerLimits(server, this.limits);
    this.admission.attach(server);
    const upgradeCtx: UpgradeContext = { ...ctx, admission: this.admission, tunnels: this.tunnels };
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      handleUpgrade(upgradeCtx, req, socket, head).catch(() => socket.destroy());
    });
    server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
      stats.refuse('MESH_BAD_REQUEST');
      socket.on('error', () => socket.destroy());
      socket.end(CONNECT_REFUSED);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      socket.on('error', () => undefined);
      const code = err.code;
      // A connection the client reset, or one already answered: nothing to say on it.
      const answered = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
        ?.headersSent;
      if (code === 'ECONNRESET' || !socket.writable || answered || this.admission.refused(socket)) {
        socket.destroy();
        return;
      }
      const [status, meshCode, message] = parserRefusal(code);
      stats.refuse(meshCode);
      socket.end(rawRefusal(status, meshCode, message));
    });
  }

  /** Requests the server's handler has been given and not yet finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True from the start of drain() or close(): the listener takes no new work. */
  get draining(): boolean {
    return this.#draining;
  }

  /** `handler`, with the requests it serves counted so that drain() can wait for them. */
  counted(handler: http.RequestListener): http.RequestListener {
    return (req, res) => {
      this.#inFlight++;
      res.on('close', () => {
        if (--this.#inFlight === 0) this.#idle?.();
        if (this.#draining) this.#server?.closeIdleConnections();
      });
      handler(req, res);
    };
  }

  /** Stop accepting; wait for the requests in flight (at most `ms`), then close every connection. */
  async drain(ms: number): Promise<void> {
    this.#draining = true;
    const server = this.#server;
    if (!server?.listening) return;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#idle = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
        }),
      ]);
      clearTimeout(timer);
    }
    server.closeAllConnections();
    await closed;
  }

  /** End every tunnel and client connection (the sidecar is closing). */
  close(): void {
    this.#draining = true;
    for (const tunnel of this.tunnels) tunnel.destroy();
    this.tunnels.clear();
    this.admission.closeAll();
  }
}
