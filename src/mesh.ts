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
 * Options can change while it runs: {@link Mesh.configure} (from `MeshClient.configure()` or
 * `Sidecar.configure()`) and the control plane's Consul KV key (`controlPlane`, overrides kept on
 * top of the configured options) reconfigure the live runtimes and tell each position to rebuild
 * its handlers.
 *
 * Telemetry (metrics, tracing, logs) is per process too: built here from the options, before any
 * runtime exists so that it hears the first endpoint sets; each runtime's pipeline asks it for
 * its filters.
 */
import { setMaxListeners } from 'node:events';
import { type ControlPlaneOptions, KvWatch } from './control/consul-kv.js';
import { type Clock, systemClock } from './core/clock.js';
import { ConsulDiscovery } from './discovery/consul.js';
import type { ConsulDiscoveryOptions } from './discovery/consul-options.js';
import type { Discovery } from './discovery/discovery.js';
import { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
import { MeshError } from './errors.js';
import type { Position } from './governance.js';
import { parseOptions, type ResolvedOptions, resolvePolicy, type ServicePolicy } from './options.js';
import { type ConfigureOptions, mergeOptions, parseConfigure } from './options-configure.js';
import { ServiceRuntime } from './service.js';
import { MeshEmitter } from './telemetry/events.js';
import { Telemetry, type TelemetryHost } from './telemetry/telemetry.js';

export class Mesh {
  readonly events = new MeshEmitter();
  readonly discovery: Discovery;
  readonly clock: Clock;
  readonly random: () => number;
  readonly telemetry: Telemetry;
  /** Where this mesh's pipelines run: the app's process, or a sidecar. */
  readonly position: Position;
  readonly #ownsDiscovery: boolean;
  readonly #shutdown = new AbortController();
  readonly #runtimes = new Map<string, ServiceRuntime>();
  readonly #policies = new Map<string, ServicePolicy>();

  /** @param host - where the mesh runs (the sidecar passes its position and registry). */
  /** The options in force: `#base` with the control plane's overrides on top. */
  #options: ResolvedOptions;
  /** The options given at construction, with each `configure()` merged in. */
  #base: ResolvedOptions;
  /** The control plane's overrides, when its key holds a good value. */
  #overlay: ConfigureOptions | undefined;
  readonly #onConfigure = new Set<() => void>();
  #control: KvWatch | undefined;

  constructor(options: ResolvedOptions, host: TelemetryHost = {}) {
    this.#options = options;
    this.#base = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.position = host.position ?? 'client';
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
    if (options.controlPlane) {
      const control = options.controlPlane;
      const { key } = control;
      const consul = control.consul ?? ('consul' in discovery ? connectionOf(discovery.consul) : {});
      this.#control = new KvWatch(
        key,
        { ...control, consul },
        {
          clock: this.clock,
          random: this.random,
          onValue: (value, index) => this.#controlValue(key, value, index),
          onError: (error) => this.events.emit('control-plane-error', { key, error }),
        },
      );
      this.#control.start();
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

  /** The validated options in force. */
  get options(): ResolvedOptions {
    return this.#options;
  }

  /**
   * Change policy options live (see `MeshClient.configure`): validate `partial`, merge it onto
   * the options in force, reconfigure each live runtime (its state kept) and tell the positions
   * to rebuild their handlers. Control-plane overrides stay on top of what is configured here.
   *
   * @throws MeshError `MESH_BAD_OPTIONS` naming the path under `options`; nothing changes then.
   */
  configure(partial: ConfigureOptions): void {
    if (this.closed) throw new MeshError('MESH_CLOSED', 'the mesh was closed');
    parseConfigure(partial, 'options');
    const base = merged(this.#base, partial);
    const effective = this.#overlay ? merged(base, this.#overlay) : base;
    this.#base = base;
    this.#apply(effective);
  }

  /** Call `listener` after each change of the options in force (handlers must be rebuilt). */
  onConfigure(listener: () => void): void {
    this.#onConfigure.add(listener);
  }

  #apply(effective: ResolvedOptions): void {
    this.#options = effective;
    this.#policies.clear();
    for (const runtime of this.#runtimes.values()) runtime.reconfigure(this.policy(runtime.service));
    for (const listener of this.#onConfigure) listener();
  }

  /** A value of the control-plane key: validated, applied on top of the base options, or rejected. */
  #controlValue(key: string, value: string | undefined, index: number): void {
    if (this.closed) return;
    let overlay: ConfigureOptions | undefined;
    let effective: ResolvedOptions;
    try {
      if (value !== undefined) overlay = parseConfigure(JSON.parse(value), 'options');
      effective = overlay ? merged(this.#base, overlay) : this.#base;
    } catch (error) {
      const reason =
        error instanceof SyntaxError
          ? new MeshError('MESH_BAD_OPTIONS', `control plane key "${key}": not JSON (${error.message})`)
          : (error as Error);
      this.events.emit('config-rejected', { key, index, error: reason });
      return;
    }
    this.#overlay = overlay;
    this.#apply(effective);
    this.events.emit('config-applied', { key, index, present: value !== undefined });
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
    await this.#control?.close();
    this.telemetry.close();
    if (this.#ownsDiscovery) await this.discovery.close();
    this.events.removeAllListeners();
  }
}

/** `partial` merged onto the policy of `base` and validated; what is not policy is kept as it was. */
function merged(base: ResolvedOptions, partial: ConfigureOptions): ResolvedOptions {
  const { discovery, clock, random, telemetry, logger, controlPlane, ...policy } = base;
  const parsed = parseOptions(mergeOptions(policy, partial));
  return { ...parsed, discovery, clock, random, telemetry, logger, controlPlane };
}

/** The connection part of the discovery's Consul options, for the control plane's default agent. */
function connectionOf(consul: ConsulDiscoveryOptions): NonNullable<ControlPlaneOptions['consul']> {
  const { host, port, secure, ca, token, requestTimeout } = consul;
  return Object.fromEntries(
    Object.entries({ host, port, secure, ca, token, requestTimeout }).filter(([, v]) => v !== undefined),
  );
}
