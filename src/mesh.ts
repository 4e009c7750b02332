/**
 * The request-delivery core shared by both positions: the fat client (`MeshClient`) and the
 * sidecar (`mesh-sidecar`) each own one. It holds what is per process, not per request: the
 * validated options, the event emitter, discovery, the clock, the shutdown signal, and one
 * {@link ServiceRuntime} per service, created on first use.
 */
import { setMaxListeners } from 'node:events';
import { type Clock, systemClock } from './core/clock.js';
import type { Discovery } from './discovery/discovery.js';
import { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
import { MeshError } from './errors.js';
import { type ResolvedOptions, resolvePolicy, type ServicePolicy } from './options.js';
import { ServiceRuntime } from './service.js';
import { MeshEmitter } from './telemetry/events.js';

export class Mesh {
  readonly events = new MeshEmitter();
  readonly discovery: Discovery;
  readonly clock: Clock;
  readonly random: () => number;
  readonly #ownsDiscovery: boolean;
  readonly #shutdown = new AbortController();
  readonly #runtimes = new Map<string, ServiceRuntime>();
  readonly #policies = new Map<string, ServicePolicy>();

  constructor(readonly options: ResolvedOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    const discovery = options.discovery;
    if ('subscribe' in discovery) {
      this.discovery = discovery;
      this.#ownsDiscovery = false;
    } else {
      this.discovery = new StaticDiscovery(discovery.static as Record<string, StaticEndpoints>);
      this.#ownsDiscovery = true;
    }
    // Every in-flight request listens for shutdown: many listeners are expected.
    setMaxListeners(0, this.#shutdown.signal);
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
    if (this.#ownsDiscovery) await this.discovery.close();
    this.events.removeAllListeners();
  }
}
