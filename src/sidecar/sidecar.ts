/**
 * mesh-sidecar: the mesh's request-delivery core behind an HTTP proxy listener, for apps in
 * any language. It builds one {@link Mesh} from the same options a `MeshClient` takes, on the
 * sidecar's position (undici, responses buffered for retries up to a limit), so a service moved
 * between the two positions keeps its policy. Upgrade requests (WebSocket) run the same pipeline
 * over a transport that hands back the upgraded socket.
 *
 * Lifecycle: `start()` listens on the proxy and admin addresses; `drain()` (SIGTERM) stops
 * accepting, waits for in-flight requests up to `drainTimeout`, then closes everything.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Handler } from '../core/call.js';
import { explain } from '../mesh/explain.js';
import { Mesh } from '../mesh/mesh.js';
import type { ConfigureOptions } from '../options/index.js';
import { redactUrl } from '../telemetry/logger.js';
import { sidecarRegistry } from '../telemetry/telemetry.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import { ProxyFront } from './front.js';
import { handleIngress } from './ingress.js';
import { serverOptions } from './limits.js';
import { parseSidecarConfig, type SidecarConfig } from './options.js';
import { SidecarPosition } from './position.js';
import { SidecarStats } from './stats.js';
import { type UpgradeReply, upgradeTransport } from './upgrade.js';

/** The sidecar's state, as `/stats` reports it. */
export interface SidecarStatsReport {
  listen: string;
  ready: boolean;
  inFlight: number;
  /** Client connections open now (tunnels included), and refused at the cap since start. */
  connections: { open: number; refused: number };
  /** Bytes held in retry buffers now. */
  bufferedBytes: number;
  /** Requests refused before routing (unknown service, malformed, CONNECT), by code. */
  refused: Record<string, number>;
  services: Record<string, unknown>;
}

export class Sidecar {
  readonly config: SidecarConfig;
  /** @internal The request-delivery core. */
  readonly mesh: Mesh<ProxyRequest, ProxyReply>;
  /** The Prometheus registry admin `/metrics` serves: `telemetry.metrics.registry`, else the sidecar's own. */
  readonly registry: Registry;
  /** @internal What `/stats` reports, per service. */
  readonly stats = new SidecarStats();
  readonly #upgradeTransport = upgradeTransport();
  readonly #front: ProxyFront;
  readonly #proxy: http.Server;
  readonly #admin: http.Server;
  #inFlight = 0;
  #draining = false;
  #idle: (() => void) | undefined;

  /** @param config - the options object of `MeshClient` plus `listen`, `admin`, ...; validated here. */
  constructor(config: unknown) {
    this.config = parseSidecarConfig(config);
    this.registry = sidecarRegistry(this.config.options.telemetry);
    this.#front = new ProxyFront(this.config);
    const position = new SidecarPosition({
      responseBufferBytes: this.config.responseBufferBytes,
      admission: this.#front.admission,
    });
    this.mesh = new Mesh(this.config.mesh, position, { registry: this.registry });
    const ctx = {
      handler: (service: string) => this.#handler(service),
      deadline: (service: string, callerLeftMs: number | undefined) => {
        const { total, propagate } = this.mesh.policy(service).timeout;
        const own = total === false ? Number.POSITIVE_INFINITY : total;
        const left = propagate && callerLeftMs !== undefined ? Math.min(own, callerLeftMs) : own;
        return this.mesh.clock.now() + left;
      },
      retryBufferBytes: this.config.retryBufferBytes,
      maxHeadersCount: this.config.maxHeadersCount,
      admission: this.#front.admission,
      stats: this.stats,
      logger: this.mesh.telemetry.logger,
      now: () => this.mesh.clock.now(),
    };
    this.#proxy = http.createServer(serverOptions(this.config), (req, res) => {
      this.#inFlight++;
      res.on('close', () => {
        if (--this.#inFlight === 0) this.#idle?.();
        if (this.#draining) this.#proxy.closeIdleConnections();
      });
      handleIngress(ctx, req, res).catch((err: unknown) => res.destroy(err as Error));
    });
    this.#front.attach(
      this.#proxy,
      {
        ...ctx,
        upgradeHandler: (service: string) => this.#upgradeHandler(service),
        tunnelIdleTimeout: this.config.tunnelIdleTimeout,
      },
      this.stats,
    );
    this.#admin = http.createServer((req, res) => this.#serveAdmin(req, res));
  }

  /** The proxy's bound address (after `start()`; port 0 in the config picks a free one). */
  get address(): string {
    const a = this.#proxy.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  /** The admin listener's bound address. */
  get adminAddress(): string {
    const a = this.#admin.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  /** Listen on both addresses; a failure names the option (`options.listen` or `options.admin`) and closes both. */
  async start(): Promise<this> {
    const listen = async (server: http.Server, name: 'listen' | 'admin') => {
      const { host, port } = this.config[name];
      server.listen(port, host);
      try {
        await once(server, 'listening');
      } catch (err) {
        throw new Error(`options.${name} (${host}:${port}): ${(err as Error).message}`, { cause: err });
      }
    };
    const results = await Promise.allSettled([listen(this.#proxy, 'listen'), listen(this.#admin, 'admin')]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    return this;
  }

  /** Stop accepting, let in-flight requests finish (bounded by `drainTimeout`), then close. */
  async drain(): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      const closed = new Promise((resolve) => this.#proxy.close(resolve));
      this.#proxy.closeIdleConnections();
      if (this.#inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            this.#idle = resolve;
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, this.config.drainTimeout);
          }),
        ]);
        clearTimeout(timer);
      }
      this.#proxy.closeAllConnections();
      await closed;
    }
    await this.close();
  }

  /** Close at once: in-flight requests are cut. */
  async close(): Promise<void> {
    this.#draining = true;
    this.#proxy.closeAllConnections();
    this.#front.close();
    this.#admin.closeAllConnections();
    await Promise.all([
      new Promise((resolve) => (this.#proxy.listening ? this.#proxy.close(resolve) : resolve(undefined))),
      new Promise((resolve) => (this.#admin.listening ? this.#admin.close(resolve) : resolve(undefined))),
      this.mesh.close(),
    ]);
  }

  /**
   * Change policy options live, as `MeshClient.configure()` does: validated (`MESH_BAD_OPTIONS`
   * naming the path), merged onto those in force, applied from the next request on while
   * requests in flight finish on their pipeline.
   */
  configure(partial: ConfigureOptions): void {
    this.mesh.configure(partial);
  }

  /** The state `/stats` serves. */
  report(): SidecarStatsReport {
    const services: Record<string, unknown> = {};
    const runtimes = new Map([...this.mesh.services()].map((r) => [r.service, r]));
    for (const name of new Set([...this.stats.services(), ...runtimes.keys()])) {
      const runtime = runtimes.get(name);
      services[name] = {
        ...(this.stats.get(name) ?? { requests: 0 }),
        policy: explain(name, this.mesh.policy(name), this.mesh.options, 'sidecar'),
        // An endpoint URL may carry credentials (`http://user:pass@host`): never shown.
        endpoints: (runtime?.snapshot() ?? []).map((e) => ({
          ...e,
          id: redactUrl(e.id),
          url: redactUrl(e.url),
        })),
      };
    }
    const { admission } = this.#front;
    return {
      listen: this.address,
      ready: !this.#draining,
      inFlight: this.#inFlight,
      connections: { open: admission.connections, refused: admission.refusedConnections },
      bufferedBytes: admission.buffered,
      refused: this.stats.refused(),
      services,
    };
  }

  /** Services the sidecar forwards to: those discovery lists, and those named under `services`. */
  routes(service: string): boolean {
    // Own keys only: `constructor` or `__proto__` in Host must not pass as a configured service.
    return (
      this.mesh.discovery.knows?.(service) === true || Object.hasOwn(this.mesh.options.services, service)
    );
  }

  #handler(service: string): Handler<ProxyRequest, ProxyReply> | undefined {
    return !this.mesh.closed && this.routes(service) ? this.mesh.handler(service) : undefined;
  }

  /** The pipeline for `service` over the upgrade transport (WebSocket handshakes). */
  #upgradeHandler(service: string): Handler<ProxyRequest, UpgradeReply> | undefined {
    return !this.mesh.closed && this.routes(service)
      ? this.mesh.handler(service, this.#upgradeTransport)
      : undefined;
  }

  #serveAdmin(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      this.#serveMetrics(res);
      return;
    }
    const [status, body] = this.#adminRoute(req.method ?? 'GET', path);
    const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(text);
  }

  #adminRoute(method: string, path: string): [number, unknown] {
    if (method !== 'GET' && method !== 'HEAD') return [405, 'method not allowed\n'];
    switch (path) {
      case '/healthz':
        return [200, 'ok\n'];
      case '/ready':
        return this.#draining ? [503, 'draining\n'] : [200, 'ready\n'];
      case '/stats':
        return [200, this.report()];
      default:
        return [404, 'not found: try /healthz, /ready, /stats, /metrics\n'];
    }
  }

  /** `/metrics`: the registry in the Prometheus text format (its collectors run at scrape time). */
  #serveMetrics(res: http.ServerResponse): void {
    this.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${(error as Error).message}\n`);
      },
    );
  }
}

/** Validate `config`, start a sidecar and resolve once it listens. */
export function startSidecar(config: unknown): Promise<Sidecar> {
  return new Sidecar(config).start();
}
