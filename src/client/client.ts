/**
 * MeshClient: the fat client, the library's public face. It owns a {@link Mesh} core (one state
 * per service, created on first use) on the fat client's position; the mesh plugs into axios as
 * its adapter (`adapter.ts`), so `mesh.service('users')` is an ordinary AxiosInstance whose
 * interceptors, transforms, params and auth all keep working.
 *
 * A server process also announces itself with {@link MeshClient.register} (Consul
 * self-registration, TTL checks heart-beaten by the library); `close()` withdraws what is still
 * registered.
 */
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import type { EndpointSnapshot } from '../core/endpoint.js';
import type { RegisterOptions } from '../discovery/consul/options.js';
import type { Registration, ServiceRegistration } from '../discovery/consul/registration.js';
import type { Discovery } from '../discovery/discovery.js';
import { Registrars } from '../discovery/registrars.js';
import { MeshError } from '../errors/mesh-error.js';
import { explain, type PolicyReport } from '../mesh/explain.js';
import { Mesh } from '../mesh/mesh.js';
import type { ConfigureOptions, MeshClientOptions } from '../options/index.js';
import type { MeshEvents } from '../telemetry/events.js';
import { type ClientMesh, meshAdapter } from './adapter.js';
import { attachTls } from './mtls.js';
import { ClientPosition } from './position.js';

declare module 'axios' {
  interface AxiosRequestConfig {
    /** mesh-client: the logical service to call (required by `MeshClient.request`). */
    service?: string;
    /** mesh-client: key for consistent hashing with the `ring-hash` balancer. */
    hashKey?: string;
    /** mesh-client: declare the request safe to send twice (e.g. a POST with an idempotency key). */
    idempotent?: boolean;
  }
}

/** A request for {@link MeshClient.request}: an axios config naming its service. */
export type MeshRequestConfig<D = unknown> = AxiosRequestConfig<D> & { service: string };

/** An in-process service mesh client. */
export class MeshClient {
  readonly #position = new ClientPosition();
  readonly #mesh: ClientMesh;
  readonly #registrars: Registrars;
  readonly #instances = new Map<string, AxiosInstance>();
  readonly #http: AxiosInstance;
  #closing: Promise<void> | undefined;

  /**
   * @param options - see {@link MeshClientOptions}; validated here.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option's path.
   */
  constructor(options: MeshClientOptions = {}) {
    this.#mesh = new Mesh(options, this.#position);
    attachTls(this.#mesh, this.#position);
    const events = this.#mesh.events;
    this.#registrars = new Registrars({
      discovery: this.#mesh.discovery,
      clock: this.#mesh.clock,
      onError: (error, registration) => events.emit('discovery-error', { service: registration.name, error }),
    });
    this.#http = this.#createInstance(undefined);
  }

  /** The discovery in use: a {@link StaticDiscovery}, a {@link ConsulDiscovery}, or the one the options gave. */
  get discovery(): Discovery {
    return this.#mesh.discovery;
  }

  /**
   * Send one request to `config.service` through the mesh.
   * Resolves or rejects exactly as axios would; the mesh's own refusals are {@link MeshError}s.
   */
  request<T = unknown, D = unknown>(config: MeshRequestConfig<D>): Promise<AxiosResponse<T, D>> {
    // Through the service's own instance, so its per-service axios defaults apply too.
    const instance =
      typeof config.service === 'string' && config.service ? this.service(config.service) : this.#http;
    return instance.request<T, AxiosResponse<T, D>, D>(config);
  }

  /**
   * An AxiosInstance bound to `name`: `mesh.service('users').get('/users/42')`. The instance is
   * cached per service; add interceptors to it as to any axios instance.
   */
  service(name: string): AxiosInstance {
    let instance = this.#instances.get(name);
    if (!instance) {
      instance = this.#createInstance(name);
      this.#instances.set(name, instance);
    }
    return instance;
  }

  /**
   * Which layer applies which part of `service`'s policy (this client, the sidecar, or none),
   * and the options this client does not apply for it.
   */
  explain(service: string): PolicyReport {
    return explain(service, this.#mesh.policy(service), this.#mesh.options, 'client');
  }

  /**
   * Change policy options live: `partial` names any policy option, globally or under `services`
   * (e.g. a canary's weights: `{ services: { users: { routing: { default: { split } } } } }`). It
   * is validated as the constructor's options are, merged onto the options in force (objects
   * merge; `false`, arrays and values replace; `routing`'s parts replace as a whole) and applied
   * from the next request on: each live service's pipeline is rebuilt from its kept state
   * (endpoints, load estimates, breakers, budgets, slots, tokens, subsets), and requests in flight
   * finish on the pipeline they started on. Not applied live: `loadBalancer` (the balancer is
   * kept) and `axios` defaults of instances already created.
   *
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending path (rooted at `options`);
   *   nothing is changed then. `MESH_CLOSED` after `close()`.
   */
  configure(partial: ConfigureOptions): void {
    if (this.#closing || this.#mesh.closed) throw new MeshError('MESH_CLOSED', 'the mesh client was closed');
    this.#mesh.configure(partial);
  }

  /** Snapshots of a service's endpoints: URL, breaker state, in-flight, latency estimate. */
  endpoints(name: string): EndpointSnapshot[] {
    if (this.#mesh.closed) return [];
    return this.#mesh.service(name).snapshot();
  }

  /** Listen to a mesh event (see {@link MeshEvents}). */
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#mesh.events.on(event, listener);
    return this;
  }

  /** Listen to one occurrence of a mesh event. */
  once<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#mesh.events.once(event, listener);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof MeshEvents>(event: E, listener?: MeshEvents[E]): this {
    this.#mesh.events.off(event, listener);
    return this;
  }

  /**
   * Register an instance of a service with Consul (this process's server, usually) and keep its TTL
   * check passing until `deregister()` on the handle or {@link MeshClient.close}. Heart-beat failures
   * are emitted as `discovery-error` events naming the registered service.
   *
   * The agent is the one of `discovery.consul`, unless `options.consul` names one; with any other
   * discovery, `options.consul` is required.
   *
   * @throws MeshError `MESH_BAD_OPTIONS` for an invalid registration or options (naming the field),
   *   `MESH_DISCOVERY_UNAVAILABLE` when the agent refused or could not be reached, `MESH_CLOSED`.
   */
  async register(registration: ServiceRegistration, options: RegisterOptions = {}): Promise<Registration> {
    if (this.#closing) throw new MeshError('MESH_CLOSED', 'the mesh client was closed');
    return this.#registrars.register(registration, options);
  }

  /**
   * Release everything: what {@link MeshClient.register} registered is deregistered, in-flight
   * requests fail with `MESH_CLOSED`, discovery watches, heart-beats, breaker timers and pooled
   * sockets are closed. Later requests fail with `MESH_CLOSED`.
   *
   * Deregistration is bounded by Consul's `requestTimeout` (10 s by default) and never holds the rest
   * back: when it fails (Consul unreachable), everything else is still released, then this rejects
   * with `MESH_DISCOVERY_UNAVAILABLE` naming the instances left registered (their TTL checks go
   * critical for lack of heart-beats).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Side by side: withdrawing from Consul does not wait for in-flight requests, nor they for it.
    const results = await Promise.allSettled([this.#registrars.close(), this.#mesh.close()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #createInstance(service: string | undefined): AxiosInstance {
    return axios.create({
      httpAgent: this.#position.httpAgent,
      httpsAgent: this.#position.httpsAgent,
      ...this.#mesh.policy(service ?? '').axios,
      adapter: meshAdapter(this.#mesh, service),
    });
  }
}
