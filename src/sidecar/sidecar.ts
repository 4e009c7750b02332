/**
 * mesh-sidecar: the mesh's request-delivery core behind an HTTP proxy listener, for apps in
 * any language. It builds one {@link Mesh} from the same options a `MeshClient` takes, on the
 * sidecar's position (undici, responses buffered for retries up to a limit), so a service moved
 * between the two positions keeps its policy. Upgrade requests (WebSocket) run the same pipeline
 * over a transport that hands back the upgraded socket.
 *
 * With `tls`, the sidecar has an identity: it dials mesh endpoints with mutual TLS (the
 * service's `mtls` policy) and, with `inbound`, it also listens for other workloads' traffic to
 * the local app (`inbound/`), verifying their certificates and authorizing them.
 *
 * Lifecycle: `start()` listens on the proxy, admin (and inbound) addresses; `drain()` (SIGTERM)
 * stops accepting, waits for in-flight requests up to `drainTimeout`, then closes everything.
 *
 * As one of several worker processes (`workers`, see `workers/`), a sidecar opens no admin
 * listener (the primary serves it), and takes its share of the limits that bound the whole
 * sidecar: the connection cap, the buffer budget and the services' concurrency and rate limits.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Handler } from '../core/call.js';
import { dialsMtls, MeshTls } from '../identity/connect.js';
import { openIdentity } from '../identity/open.js';
import type { IdentitySource } from '../identity/source.js';
import { explain } from '../mesh/explain.js';
import { Mesh } from '../mesh/mesh.js';
import type { ConfigureOptions } from '../options/index.js';
import { redactUrl } from '../telemetry/logger.js';
import { sidecarRegistry } from '../telemetry/telemetry.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import { createAdminServer } from './admin.js';
import { ProxyFront } from './front.js';
import { Inbound, type InboundReport } from './inbound/inbound.js';
import { handleIngress } from './ingress.js';
import { serverOptions } from './limits.js';
import { parseSidecarConfig, type SidecarConfig, workerLimits } from './options.js';
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
  /** Worker processes the sidecar runs on (`workers`; 1: one process). */
  workers: number;
  services: Record<string, unknown>;
  /** This workload's identity and its mutual-TLS handshakes, with `tls`. */
  tls?: {
    identity: string | undefined;
    /** The certificate in force: its serial number (colon-hex) and end of validity. */
    serial: string | undefined;
    notAfter: string | undefined;
    source: string;
    handshakes: { full: number; resumed: number; refused: number };
  };
  /** The inbound listener, with `inbound`. */
  inbound?: InboundReport;
}

/** Which of the sidecar's worker processes this one is. */
export interface WorkerRole {
  /** From 0. */
  index: number;
  /** Workers in all (at least 2). */
  count: number;
}

export class Sidecar {
  /** The configuration in force; a worker's carries its share of `maxConnections` and `bufferBudgetBytes`. */
  readonly config: SidecarConfig;
  /** @internal Set when this sidecar is one of several worker processes. */
  readonly role: WorkerRole | undefined;
  /** @internal The request-delivery core. */
  readonly mesh: Mesh<ProxyRequest, ProxyReply>;
  /** The Prometheus registry admin `/metrics` serves: `telemetry.metrics.registry`, else the sidecar's own. */
  readonly registry: Registry;
  /** @internal What `/stats` reports, per service. */
  readonly stats = new SidecarStats();
  /** @internal The inbound side, with `inbound` in the config. */
  readonly inbound: Inbound | undefined;
  readonly #upgradeTransport: ReturnType<typeof upgradeTransport>;
  readonly #identity: IdentitySource | undefined;
  readonly #tls: MeshTls | undefined;
  readonly #front: ProxyFront;
  readonly #proxy: http.Server;
  /** None in a worker: the primary serves admin. */
  readonly #admin: http.Server | undefined;

  /**
   * @param config - the options object of `MeshClient` plus `listen`, `admin`, ...; validated here.
   * @param role - @internal set by a worker process of a sidecar that runs several.
   */
  constructor(config: unknown, role?: WorkerRole) {
    const parsed = parseSidecarConfig(config);
    this.role = role;
    this.config = role ? workerLimits(parsed, role.count) : parsed;
    this.registry = sidecarRegistry(this.config.options.telemetry);
    this.#front = new ProxyFront(this.config);
    const limitShare = role ? 1 / role.count : undefined;
    const position = new SidecarPosition(
      { responseBufferBytes: this.config.responseBufferBytes, admission: this.#front.admission },
      limitShare,
    );
    this.mesh = new Mesh(this.config.mesh, position, { registry: this.registry });
    const { tls } = this.config.options;
    const discovery = this.config.options.discovery;
    const consul = 'consul' in discovery ? discovery.consul : undefined;
    try {
      if (tls) {
        this.#identity = openIdentity(tls, {
          clock: this.mesh.clock,
          random: this.mesh.random,
          events: this.mesh.events,
          defaultConnection: consul,
        });
        this.#tls = new MeshTls(this.#identity, { clock: this.mesh.clock, ...tls });
        position.useTls(this.#tls);
      }
      this.inbound = this.config.inbound
        ? new Inbound(this.config, {
            registry: this.registry,
            identity: this.#identity,
            defaultConnection: consul,
            limitShare,
          })
        : undefined;
    } catch (error) {
      // Nobody gets a handle to close: release what was opened.
      void this.#identity?.close();
      void this.mesh.close();
      throw error;
    }
    this.#logIdentity();
    const meshTls = this.#tls;
    this.#upgradeTransport = upgradeTransport((call) => {
      const mtls = this.mesh.policy(call.service).mtls;
      return meshTls && dialsMtls(call.endpoint, mtls) ? meshTls.httpAgent(call.service, mtls) : undefined;
    });
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
    this.#proxy = http.createServer(
      serverOptions(this.config),
      this.#front.counted((req, res) => {
        handleIngress(ctx, req, res).catch((err: unknown) => res.destroy(err as Error));
      }),
    );
    this.#front.attach(
      this.#proxy,
      {
        ...ctx,
        upgradeHandler: (service: string) => this.#upgradeHandler(service),
        tunnelIdleTimeout: this.config.tunnelIdleTimeout,
      },
      this.stats,
    );
    this.#admin = role
      ? undefined
      : createAdminServer({
          notReady: () => (this.#front.draining ? 'draining' : undefined),
          stats: () => this.report(),
          metrics: async () => ({
            contentType: this.registry.contentType,
            text: await this.registry.metrics(),
          }),
        });
  }

  /** The proxy's bound address (after `start()`; port 0 in the config picks a free one); empty once closed. */
  get address(): string {
    const a = this.#proxy.address() as AddressInfo | null;
    return a ? `http://${a.address}:${a.port}` : '';
  }

  /** The admin listener's bound address (empty in a worker, which has none). */
  get adminAddress(): string {
    const a = this.#admin?.address() as AddressInfo | null | undefined;
    return a ? `http://${a.address}:${a.port}` : '';
  }

  /**
   * Listen on every address; a failure names the option (`options.listen`, `options.admin`,
   * `options.inbound.listen`) and closes everything.
   */
  async start(): Promise<this> {
    const listen = async (server: http.Server, name: 'listen' | 'admin') => {
      const { host, port } = this.config[name];
      // The proxy's accept queue holds as many connections as it may have open (HAProxy's
      // `backlog` defaults to `maxconn` alike): a burst of connects past node's default of 511
      // would otherwise wait in the kernel for SYN retransmits, or never be accepted.
      server.listen({ port, host, ...(name === 'listen' && { backlog: this.config.maxConnections }) });
      try {
        await once(server, 'listening');
      } catch (err) {
        throw new Error(`options.${name} (${host}:${port}): ${(err as Error).message}`, { cause: err });
      }
    };
    // In a worker, node:cluster pairs each listen() with the primary's socket by the order of the
    // calls (port 0 included): the proxy's comes first, the inbound's after, in every worker alike.
    const results = await Promise.allSettled([
      listen(this.#proxy, 'listen'),
      ...(this.#admin ? [listen(this.#admin, 'admin')] : []),
      ...(this.inbound ? [this.inbound.start()] : []),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    return this;
  }

  /** Stop accepting, let in-flight requests finish (bounded by `drainTimeout`), then close. */
  async drain(): Promise<void> {
    if (!this.#front.draining) {
      await Promise.all([
        this.#front.drain(this.config.drainTimeout),
        this.inbound?.drain(this.config.drainTimeout),
      ]);
    }
    await this.close();
  }

  /** Close at once: in-flight requests are cut. */
  async close(): Promise<void> {
    this.#proxy.closeAllConnections();
    this.#front.close();
    const admin = this.#admin;
    admin?.closeAllConnections();
    await Promise.all([
      new Promise((resolve) => (this.#proxy.listening ? this.#proxy.close(resolve) : resolve(undefined))),
      new Promise((resolve) => (admin?.listening ? admin.close(resolve) : resolve(undefined))),
      this.mesh.close(),
      this.inbound?.close(),
      this.#tls?.close(),
      this.#identity?.close(),
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
      ready: !this.#front.draining,
      inFlight: this.#front.inFlight,
      connections: { open: admission.connections, refused: admission.refusedConnections },
      bufferedBytes: admission.buffered,
      refused: this.stats.refused(),
      workers: this.role?.count ?? this.config.workers,
      services,
      ...(this.#tls ? { tls: this.#tlsReport(this.#tls) } : {}),
      ...(this.inbound ? { inbound: this.inbound.report() } : {}),
    };
  }

  /** The inbound listener's address (after `start()`), `https://` when it speaks mutual TLS. */
  get inboundAddress(): string | undefined {
    return this.inbound?.address;
  }

  #tlsReport(tls: MeshTls): NonNullable<SidecarStatsReport['tls']> {
    const material = tls.source.current();
    return {
      identity: material?.identity.id,
      serial: material?.facts.serial,
      notAfter: material?.facts.notAfter.toISOString(),
      source: tls.source.kind,
      handshakes: tls.handshakes,
    };
  }

  /** Rotations, refused material and denials, in the sidecar's log. */
  #logIdentity(): void {
    const logger = this.mesh.telemetry.logger;
    if (!logger) return;
    this.mesh.events.on('tls-rotated', (e) =>
      logger.info({ ...e, notAfter: e.notAfter.toISOString() }, 'tls material in force'),
    );
    this.mesh.events.on('tls-error', (e) =>
      logger.warn(
        { source: e.source, error: e.error.message },
        'tls material refused; the last good one stays',
      ),
    );
    this.inbound?.mesh.events.on('authz-denied', (e) => logger.info({ ...e }, 'request denied'));
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
}

/** Validate `config`, start a sidecar and resolve once it listens. */
export function startSidecar(config: unknown): Promise<Sidecar> {
  return new Sidecar(config).start();
}
