/**
 * The sidecar's inbound side: traffic for the local app from other workloads. It is the same
 * pipeline model as the outbound side, not a second one: a {@link Mesh} of its own whose one
 * service is the app (static discovery of `inbound.app`), built from the same options schema, so
 * the server-side policy (concurrency and rate limits, the deadline, bounded by the caller's) runs
 * in the very stages the outbound side uses; its request spans are SERVER spans continuing the
 * caller's trace and its metrics carry the prefix `<prefix>inbound_`. The `authorization` stage,
 * made by this position only, judges each request by the caller's verified identity before the
 * limits or the app see it.
 *
 * Requests are received by the sidecar's ingress (the same screening, limits and refusals), which
 * hands the inbound the routed request to inspect: the caller's certificate is read once per
 * connection, its identity recorded for the pipeline, and sent to the app in
 * `x-forwarded-client-cert` (Envoy's format: `By=<our id>;Hash=<sha256>;URI=<caller id>`), after
 * any such header the caller sent was dropped.
 */
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import type { Caller } from '../../authz/rules.js';
import { Authorizer, CallerMetrics, callerStage } from '../../authz/stage.js';
import type { Handler } from '../../core/call.js';
import { systemClock } from '../../core/clock.js';
import type { ConsulConnectionOptions } from '../../discovery/consul/connection.js';
import { colonHex, identityOfSans } from '../../identity/certificate.js';
import type { IdentitySource } from '../../identity/source.js';
import { explain } from '../../mesh/explain.js';
import { Mesh } from '../../mesh/mesh.js';
import type { MeshClientOptions, ResolvedOptions } from '../../options/index.js';
import type { ProxyReply, ProxyRequest } from '../../transport/undici.js';
import { address } from '../address.js';
import { ProxyFront } from '../front.js';
import { handleIngress, type IngressContext } from '../ingress.js';
import type { SidecarConfig } from '../options.js';
import type { Refusal } from '../refusal.js';
import { SidecarStats } from '../stats.js';
import { type UpgradeReply, upgradeTransport } from '../upgrade.js';
import { createInboundServer } from './listener.js';
import { InboundPosition } from './position.js';

/** The header that tells the app who called (Envoy's `x-forwarded-client-cert`). */
export const CLIENT_CERT_HEADER = 'x-forwarded-client-cert';

/** What the inbound takes from the sidecar. */
export interface InboundHost {
  registry: Registry;
  identity: IdentitySource | undefined;
  /** The agent intentions are asked when `authorization.consul` names none. */
  defaultConnection?: ConsulConnectionOptions | undefined;
  /** A worker's share of the app's limits (1/N of N workers); absent: all of them. */
  limitShare?: number | undefined;
}

/** The inbound side's state in `/stats`. */
export interface InboundReport {
  listen: string;
  mtls: 'strict' | 'permissive' | 'off';
  service: string;
  app: string;
  inFlight: number;
  connections: { open: number; refused: number };
  /** Requests and handshakes refused before they were routed, by code. */
  refused: Record<string, number>;
  stats: unknown;
}

type Policy = NonNullable<SidecarConfig['inbound']>;

export class Inbound {
  readonly mesh: Mesh<ProxyRequest, ProxyReply>;
  readonly service: string;
  readonly stats = new SidecarStats();
  readonly #config: SidecarConfig;
  readonly #policy: Policy;
  readonly #host: InboundHost;
  readonly #front: ProxyFront;
  readonly #position: InboundPosition;
  readonly #authorizer: Authorizer | undefined;
  readonly #upgrade = upgradeTransport();
  /** The caller of each TLS connection and the header naming it, read once (`null`: no verified identity). */
  readonly #callers = new WeakMap<object, { caller: Caller; header: string } | null>();
  #server: http.Server | undefined;

  constructor(config: SidecarConfig, host: InboundHost) {
    const policy = config.inbound!;
    this.#config = config;
    this.#policy = policy;
    this.#host = host;
    this.#front = new ProxyFront(config);
    const material = host.identity?.current();
    const consulService = config.options.tls?.consul?.service;
    this.service = policy.service ?? material?.identity.workload ?? consulService ?? 'app';
    const telemetry = config.options.telemetry;
    const metrics = telemetry.metrics;
    const prefix = `${metrics === false ? 'mesh_client_' : metrics.prefix}inbound_`;
    const callerMetrics =
      metrics === false
        ? undefined
        : new CallerMetrics(metrics.registry ?? host.registry, prefix, policy.maxCallerLabels);
    const clock = config.options.clock;
    this.#authorizer =
      policy.authorization === false
        ? undefined
        : new Authorizer(policy.authorization, {
            target: this.service,
            clock: clock ?? systemClock,
            defaultConnection: host.defaultConnection,
          });
    const identifies = policy.mtls !== 'off';
    const authorizer = this.#authorizer;
    this.#position = new InboundPosition(
      (service, peerOf) =>
        identifies || authorizer
          ? callerStage({ service, authorizer, peerOf, events: this.mesh.events, metrics: callerMetrics })
          : undefined,
      host.limitShare,
    );
    this.mesh = new Mesh(inboundOptions(config.options, policy, this.service, prefix), this.#position, {
      registry: host.registry,
    });
  }

  /** The bound address (after `start()`). */
  get address(): string {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    return a ? `${this.#policy.mtls === 'off' ? 'http' : 'https'}://${a.address}:${a.port}` : '';
  }

  /** Listen, once the TLS material is there (Consul's CA may take its first answer's time). */
  async start(): Promise<void> {
    const material = this.#policy.mtls === 'off' ? undefined : await this.#host.identity!.ready();
    const ctx = this.#ingressContext();
    const server = createInboundServer(
      {
        mode: this.#policy.mtls,
        limits: this.#config,
        source: this.#host.identity,
        handler: this.#front.counted((req, res) => {
          handleIngress(ctx, req, res).catch((err: unknown) => res.destroy(err as Error));
        }),
        front: this.#front,
        upgrade: {
          ...ctx,
          upgradeHandler: (service: string) => this.#upgradeHandler(service),
          tunnelIdleTimeout: this.#config.tunnelIdleTimeout,
        },
        stats: this.stats,
      },
      material,
    );
    this.#server = server;
    const { host, port } = address(this.#policy.listen);
    // As the proxy's: the accept queue holds as many connections as may be open.
    server.listen({ port, host, backlog: this.#config.maxConnections });
    try {
      await once(server, 'listening');
    } catch (err) {
      throw new Error(`options.inbound.listen (${host}:${port}): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stop accepting; wait for in-flight requests (at most `ms`), then close. */
  async drain(ms: number): Promise<void> {
    await this.#front.drain(ms);
    await this.close();
  }

  async close(): Promise<void> {
    const server = this.#server;
    server?.closeAllConnections();
    this.#front.close();
    this.#authorizer?.close();
    await Promise.all([
      new Promise((resolve) => (server?.listening ? server.close(resolve) : resolve(undefined))),
      this.mesh.close(),
    ]);
  }

  report(): InboundReport {
    const { admission } = this.#front;
    return {
      listen: this.address,
      mtls: this.#policy.mtls,
      service: this.service,
      app: this.#policy.app,
      inFlight: this.#front.inFlight,
      connections: { open: admission.connections, refused: admission.refusedConnections },
      refused: this.stats.refused(),
      stats: {
        ...(this.stats.get(this.service) ?? { requests: 0 }),
        policy: explain(this.service, this.mesh.policy(this.service), this.mesh.options, 'sidecar'),
      },
    };
  }

  /** The verified caller of a TLS connection and its header, or `null` when its certificate names no workload. */
  #identify(socket: TLSSocket): { caller: Caller; header: string } | null {
    const cert = socket.getPeerCertificate();
    const identity = identityOfSans(cert.subjectaltname);
    if (typeof identity === 'string') return null;
    const caller = { id: identity.id, serial: colonHex(cert.serialNumber ?? '') };
    // Our identity as the connection saw it: a rotation applies to the connections made after it.
    const own = this.#host.identity?.current()?.identity.id;
    const hash = cert.fingerprint256?.replace(/:/g, '').toLowerCase();
    return { caller, header: `${own ? `By=${own};` : ''}Hash=${hash};URI=${caller.id}` };
  }

  #handler(): Handler<ProxyRequest, ProxyReply> | undefined {
    return this.mesh.closed ? undefined : this.mesh.handler(this.service);
  }

  #upgradeHandler(_service: string): Handler<ProxyRequest, UpgradeReply> | undefined {
    return this.mesh.closed ? undefined : this.mesh.handler(this.service, this.#upgrade);
  }

  #ingressContext(): IngressContext {
    const mesh = this.mesh;
    const timeout = this.#policy.timeout;
    return {
      // Whatever authority the caller addressed (a sidecar dials the endpoint's address), the app is the service.
      handler: () => this.#handler(),
      deadline: (_service, callerLeftMs) => {
        const own = timeout === false ? Number.POSITIVE_INFINITY : timeout;
        return mesh.clock.now() + (callerLeftMs === undefined ? own : Math.min(own, callerLeftMs));
      },
      retryBufferBytes: this.#config.retryBufferBytes,
      maxHeadersCount: this.#config.maxHeadersCount,
      admission: this.#front.admission,
      stats: this.stats,
      logger: mesh.telemetry.logger,
      now: () => mesh.clock.now(),
      inspect: (req, headers) => this.#inspect(req, headers),
      service: this.service,
    };
  }

  /** Read the caller's certificate, record its identity, and set the headers that carry it to the app. */
  #inspect(req: http.IncomingMessage, headers: Record<string, string | string[]>): Refusal | undefined {
    // Only this hop may say who called: a caller's own header would be believed by the app.
    delete headers[CLIENT_CERT_HEADER];
    const forwardedHost = req.headers['x-forwarded-host'];
    if (typeof forwardedHost === 'string') headers['x-forwarded-host'] = forwardedHost;
    const socket = req.socket as TLSSocket;
    let known = this.#callers.get(socket);
    if (known === undefined) {
      known = socket.encrypted && socket.authorized ? this.#identify(socket) : null;
      this.#callers.set(socket, known);
    }
    if (known) {
      this.#position.identify(headers, known.caller);
      headers[CLIENT_CERT_HEADER] = known.header;
      return undefined;
    }
    if (this.#policy.mtls === 'strict') {
      // The chain verified but the certificate names no workload: the caller cannot be judged.
      return {
        status: 403,
        code: 'MESH_FORBIDDEN',
        message: 'the client certificate carries no SPIFFE ID: the caller has no mesh identity',
      };
    }
    return undefined;
  }
}

/**
 * The inbound mesh's options: one service, the app, and the server-side policy of the inbound block.
 * Retries, breakers, outlier detection and hedging are off: there is one local app, and a caller's
 * mesh retries on another instance.
 */
function inboundOptions(
  options: ResolvedOptions,
  policy: Policy,
  service: string,
  prefix: string,
): MeshClientOptions {
  const metrics = options.telemetry.metrics;
  return {
    discovery: { static: { [service]: [policy.app] } },
    loadBalancer: 'round-robin',
    retry: false,
    circuitBreaker: false,
    outlierDetection: false,
    hedge: false,
    timeout: { total: policy.timeout, perTry: false, propagate: true },
    limits: policy.limits,
    mtls: { mode: 'off' },
    telemetry: {
      metrics: metrics === false ? false : { ...metrics, prefix },
      tracing: options.telemetry.tracing,
    },
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
  };
}
