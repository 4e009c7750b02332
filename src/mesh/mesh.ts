/**
 * The request-delivery core shared by both positions: the fat client (`MeshClient`) and the
 * sidecar (`mesh-sidecar`) each own one. It holds what is per process, not per request: the
 * validated options, the event emitter, discovery, the clock, the shutdown signal, one
 * {@link ServiceState} per service, created on first use (or at construction for the services a
 * discovery block lists, so their endpoints are known before the first request), and each
 * service's pipeline over the position's transport, built on its first request.
 *
 * Discovery built from the options (a source block such as `static` or `consul`) is the mesh's
 * own and closes with it; a {@link Discovery} object passed in belongs to the caller.
 *
 * Options can change while it runs: {@link Mesh.configure} (from `MeshClient.configure()` or
 * `Sidecar.configure()`) and the control plane's Consul KV key (`controlPlane`, overrides kept on
 * top of the configured options) reconfigure the live services; the next request of each builds
 * a new pipeline, while requests in flight finish on the one they started on.
 *
 * Telemetry (metrics, tracing, logs) is per process too: built here from the options, before any
 * service exists so that it hears the first endpoint sets; the telemetry stages read it.
 */
import { setMaxListeners } from 'node:events';
import { type ControlPlaneOptions, KvWatch } from '../control/consul-kv.js';
import type { Handler, Reply } from '../core/call.js';
import { type Clock, systemClock } from '../core/clock.js';
import type { ConsulDiscoveryOptions } from '../discovery/consul/options.js';
import type { Discovery } from '../discovery/discovery.js';
import { DISCOVERY_SOURCES, sourceOf } from '../discovery/options.js';
import { MeshError } from '../errors/mesh-error.js';
import {
  type ConfigureOptions,
  type MeshClientOptions,
  mergeOptions,
  parseConfigure,
  parseOptions,
  policyFor,
  type ResolvedOptions,
  type ServicePolicy,
} from '../options/index.js';
import { MeshEmitter } from '../telemetry/events.js';
import { Telemetry, type TelemetryHost } from '../telemetry/telemetry.js';
import { pipeline } from './pipeline.js';
import type { Position } from './position.js';
import { type MeshEnv, ServiceState } from './service.js';

export class Mesh<Req = unknown, Rep extends Reply = Reply> {
  readonly events = new MeshEmitter();
  readonly discovery: Discovery;
  readonly clock: Clock;
  readonly random: () => number;
  readonly telemetry: Telemetry;
  /** Where this mesh's pipelines run, and what they send with. */
  readonly position: Position<Req, Rep>;
  readonly #ownsDiscovery: boolean;
  readonly #shutdown = new AbortController();
  readonly #services = new Map<string, ServiceState>();
  readonly #policies = new Map<string, ServicePolicy>();
  /** Each service's pipeline, per transport it runs over (the position's, or another one). */
  readonly #handlers = new Map<Handler<Req, Reply> | undefined, Map<string, Handler<Req, Reply>>>();
  /** The options in force: `#base` with the control plane's overrides on top. */
  #options: ResolvedOptions;
  #raw: MeshClientOptions;
  /** The options given at construction, with each `configure()` merged in (as written). */
  #base: MeshClientOptions;
  /** The control plane's overrides, when its key holds a good value. */
  #overlay: ConfigureOptions | undefined;
  #control: KvWatch | undefined;

  /**
   * @param raw - the options as the user wrote them (validated here).
   * @param position - the position's request shape and transports.
   * @param host - what telemetry needs to know of the process (the sidecar passes its registry).
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option's path.
   */
  constructor(raw: MeshClientOptions, position: Position<Req, Rep>, host: TelemetryHost = {}) {
    const options = parseOptions(raw);
    this.#options = options;
    this.#raw = raw;
    this.#base = raw;
    this.position = position;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.telemetry = new Telemetry(options.telemetry, options.logger, { ...host, position: position.name });
    this.telemetry.attach(this);
    const source = sourceOf(options.discovery);
    let watchNow: readonly string[] = [];
    if (source) {
      const [name, block] = source;
      const built = DISCOVERY_SOURCES[name].create(block, { clock: this.clock, random: this.random });
      this.discovery = built.discovery;
      this.#ownsDiscovery = true;
      watchNow = built.watch ?? [];
    } else {
      this.discovery = options.discovery as Discovery;
      this.#ownsDiscovery = false;
    }
    if (options.controlPlane) this.#control = this.#watchControlPlane(options.controlPlane);
    // Every in-flight request listens for shutdown: many listeners are expected.
    setMaxListeners(0, this.#shutdown.signal);
    try {
      for (const service of watchNow) this.service(service).watch();
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
   * the options in force, reconfigure each live service (its state kept); the next request of
   * each builds a new pipeline. Control-plane overrides stay on top of what is configured here.
   *
   * @throws MeshError `MESH_BAD_OPTIONS` naming the path under `options`; nothing changes then.
   */
  configure(partial: ConfigureOptions): void {
    if (this.closed) throw new MeshError('MESH_CLOSED', 'the mesh was closed');
    const base = mergeOptions(this.#base, parseConfigure(partial, 'options'));
    const raw = this.#overlay ? mergeOptions(base, this.#overlay) : base;
    const options = parseOptions(raw);
    this.#base = base;
    this.#apply(raw, options);
  }

  #apply(raw: MeshClientOptions, options: ResolvedOptions): void {
    this.#raw = raw;
    this.#options = options;
    this.#policies.clear();
    this.#handlers.clear();
    for (const state of this.#services.values()) state.configure(this.policy(state.service));
  }

  #watchControlPlane(control: ControlPlaneOptions): KvWatch {
    const { key } = control;
    const discovery = this.#options.discovery;
    const consul = control.consul ?? ('consul' in discovery ? connectionOf(discovery.consul) : {});
    const watch = new KvWatch(
      key,
      { ...control, consul },
      {
        clock: this.clock,
        random: this.random,
        onValue: (value, index) => this.#controlValue(key, value, index),
        onError: (error) => this.events.emit('control-plane-error', { key, error }),
      },
    );
    watch.start();
    return watch;
  }

  /** A value of the control-plane key: validated, applied on top of the base options, or rejected. */
  #controlValue(key: string, value: string | undefined, index: number): void {
    if (this.closed) return;
    let overlay: ConfigureOptions | undefined;
    let raw: MeshClientOptions;
    let options: ResolvedOptions;
    try {
      if (value !== undefined) overlay = parseConfigure(JSON.parse(value), 'options');
      raw = overlay ? mergeOptions(this.#base, overlay) : this.#base;
      options = parseOptions(raw);
    } catch (error) {
      const reason =
        error instanceof SyntaxError
          ? new MeshError('MESH_BAD_OPTIONS', `control plane key "${key}": not JSON (${error.message})`)
          : (error as Error);
      this.events.emit('config-rejected', { key, index, error: reason });
      return;
    }
    this.#overlay = overlay;
    this.#apply(raw, options);
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
      policy = policyFor(this.#options, this.#raw, service);
      this.#policies.set(service, policy);
    }
    return policy;
  }

  /** The state of `service`, created on first use. */
  service(name: string): ServiceState {
    if (this.closed) throw new MeshError('MESH_CLOSED', 'the mesh was closed', { service: name });
    let state = this.#services.get(name);
    if (!state) {
      // The state is type-blind to the position's request type; only this mesh's calls reach it.
      state = new ServiceState(name, this.policy(name), this as unknown as MeshEnv);
      this.#services.set(name, state);
    }
    return state;
  }

  /** Services used so far. */
  services(): IterableIterator<ServiceState> {
    return this.#services.values();
  }

  /**
   * The pipeline of `service` over the position's transport, or over `transport` (the sidecar's
   * upgrade transport), built on first use and again after each change of options.
   */
  handler(service: string): Handler<Req, Rep>;
  handler<R extends Reply>(service: string, transport: Handler<Req, R>): Handler<Req, R>;
  handler(service: string, transport?: Handler<Req, Reply>): Handler<Req, Reply> {
    let byService = this.#handlers.get(transport);
    if (!byService) {
      byService = new Map();
      this.#handlers.set(transport, byService);
    }
    let handler = byService.get(service);
    if (!handler) {
      const state = this.service(service);
      handler = pipeline(state, transport ?? this.position.transport(state.policy));
      byService.set(service, handler);
    }
    return handler;
  }

  /** Abort in-flight requests, stop every watch and timer, release the transports' sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.#shutdown.abort(new MeshError('MESH_CLOSED', 'the mesh was closed'));
    for (const state of this.#services.values()) state.close();
    this.#services.clear();
    this.#handlers.clear();
    await this.#control?.close();
    this.telemetry.close();
    if (this.#ownsDiscovery) await this.discovery.close();
    this.events.removeAllListeners();
    await this.position.close?.();
  }
}

/** The connection part of the discovery's Consul options, for the control plane's default agent. */
function connectionOf(consul: ConsulDiscoveryOptions): NonNullable<ControlPlaneOptions['consul']> {
  const { host, port, secure, ca, token, requestTimeout } = consul;
  return Object.fromEntries(
    Object.entries({ host, port, secure, ca, token, requestTimeout }).filter(([, v]) => v !== undefined),
  );
}
