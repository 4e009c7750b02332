/**
 * The request-delivery core shared by both positions: the fat client (`MeshClient`) and the
 * sidecar (`mesh-sidecar`) each own one. It holds what is per process, not per request: the
 * validated options, the event emitter, discovery, the clock, the shutdown signal, and one
 * {@link ServiceRuntime} per service, created on first use (or at construction for the services
 * `discovery.consul.services` lists, so their endpoints are known before the first request).
 *
 * Discovery built from the options (`static`, `consul`) is the mesh's own and closes with it; a
 * {@link Discovery} object passed in belongs to the caller.
 *
 * Telemetry (metrics, tracing, logs) is per process too: built here from the options, before any
 * runtime exists so that it hears the first endpoint sets; each runtime's pipeline asks it for
 * its filters.
 */
import { setMaxListeners } from 'node:events';
import { type Clock, systemClock } from './core/clock.js';
import { ConsulDiscovery } from './discovery/consul.js';
import type { Discovery } from './discovery/discovery.js';
import { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
import { MeshError } from './errors.js';
import { type ResolvedOptions, resolvePolicy, type ServicePolicy } from './options.js';
import { ServiceRuntime } from './service.js';
import { MeshEmitter } from './telemetry/events.js';
import { Telemetry, type TelemetryHost } from './telemetry/telemetry.js';

export class Mesh {
  readonly events = new MeshEmitter();
  readonly discovery: Discovery;
  readonly clock: Clock;
  readonly random: () => number;
  readonly telemetry: Telemetry;
  readonly #ownsDiscovery: boolean;
  readonly #shutdown = new AbortController();
  readonly #runtimes = new Map<string, ServiceRuntime>();
  readonly #policies = new Map<string, ServicePolicy>();

  /** @param host - where the mesh runs (the sidecar passes its position and registry). */
  constructor(
    readonly options: ResolvedOptions,
    host: TelemetryHost = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.telemetry = new Telemetry(options.telemetry, options.logger, host);
    this.telemetry.attach(this);
    const discovery = options.discovery;
    let watchNow: readonly string[] = [];
    if ('subscribe' in discovery) {
      this.discovery = discovery;
      this.#ownsDiscovery = false;
    } else if ('consul' in discovery) {
      const { services = [], ...consul } = discovery.consul;
      // CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN fill what the options leave out (ConsulDiscovery reads them).
      this.discovery = new ConsulDiscovery({ ...consul, clock: this.clock, random: this.random });
      this.#ownsDiscovery = true;
      watchNow = services;
    } else {
      this.discovery = new StaticDiscovery(discovery.static as Record<string, StaticEndpoints>);
      this.#ownsDiscovery = true;
    }
    // Every in-flight request listens for shutdown: many listeners are expected.
    setMaxListeners(0, this.#shutdown.signal);
    try {
      // A runtime subscribes to discovery as it is created: this starts the listed services' watches.
      for (const service of watchNow) this.runtime(service);
    } catch (error) {
      // Nobody will get a handle to close: release the watches and sockets opened so far.
      void this.close().catch(() => undefined);
      throw error;
    }
  }

  /** Aborts, with a `MESH_CLOSED` reason, when the mesh closes. */
  get shutdown(): AbortSignal {
    return this.#shutdown.signal;
  }

  get closed(): boolean {
    return this.#shutdown.signal.aborted;
  }

  /** The policy in force for `service` (global options with its overrides merged in). */
  policy(service: string): ServicePolicy {
    let policy = this.#policies.get(service);
    if (!policy) {
      policy = resolvePolicy(this.options, service);
      this.#policies.set(service, policy);
    }
    return policy;
  }

  /** The runtime of `service`, created (and its discovery watch started) on first use. */
  runtime(service: string): ServiceRuntime {
    if (this.closed) throw new MeshError('MESH_CLOSED', 'the mesh was closed', { service });
    let runtime = this.#runtimes.get(service);
    if (!runtime) {
      runtime = new ServiceRuntime(service, this.policy(service), this);
      this.#runtimes.set(service, runtime);
    }
    return runtime;
  }

  /** Runtimes created so far. */
  runtimes(): IterableIterator<ServiceRuntime> {
    return this.#runtimes.values();
  }

  /** Abort in-flight requests, stop every watch and timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#shutdown.abort(new MeshError('MESH_CLOSED', 'the mesh was closed'));
    for (const runtime of this.#runtimes.values()) runtime.close();
    this.#runtimes.clear();
    this.telemetry.close();
    if (this.#ownsDiscovery) await this.discovery.close();
    this.events.removeAllListeners();
  }
}
