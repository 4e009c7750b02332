/**
 * MeshClient: the fat client. It owns a {@link Mesh} core (one runtime per service, created on
 * first use) and runs the pipeline over the axios http transport; the mesh plugs into axios as its
 * adapter, so `mesh.service('users')` is an ordinary AxiosInstance whose interceptors,
 * transforms, params and auth all keep working.
 *
 * A server process also announces itself with {@link MeshClient.register} (Consul self-registration,
 * TTL checks heart-beaten by the library); `close()` withdraws what is still registered.
 */

import http from 'node:http';
import https from 'node:https';
import axios, {
  AxiosError,
  type AxiosInstance,
  type AxiosResponse,
  CanceledError,
  type InternalAxiosRequestConfig,
} from 'axios';
import { Agent } from 'undici';
import { type Call, compose, type Handler } from './core/call.js';
import type { EndpointSnapshot } from './core/endpoint.js';
import { ConsulDiscovery } from './discovery/consul.js';
import { resolveConsulConnection } from './discovery/consul-connection.js';
import { type RegisterOptions, registerOptionsSchema } from './discovery/consul-options.js';
import {
  ConsulRegistrar,
  type Registration,
  type ServiceRegistration,
} from './discovery/consul-registration.js';
import type { Discovery } from './discovery/discovery.js';
import { MeshError } from './errors.js';
import { explain, type PolicyReport } from './explain.js';
import { Mesh } from './mesh.js';
import { type MeshClientOptions, parseOptions, parseWith } from './options.js';
import type { ConfigureOptions } from './options-configure.js';
import { pipeline } from './pipeline.js';
import { IDEMPOTENT_METHODS } from './retry/policy.js';
import type { MeshEvents } from './telemetry/events.js';
import { deadline } from './timeout/deadline.js';
import { perTryTimeout } from './timeout/per-try.js';
import { remainingDeadline } from './timeout/propagation.js';
import { axiosTransport } from './transport/axios.js';
import { undiciAxiosTransport } from './transport/axios-undici.js';
import { SidecarRoute } from './transport/via-sidecar.js';

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
export type MeshRequestConfig<D = unknown> = import('axios').AxiosRequestConfig<D> & { service: string };

type AxiosCall = Call<InternalAxiosRequestConfig>;
type AxiosHandler = Handler<InternalAxiosRequestConfig, AxiosResponse>;

interface ServiceEntry {
  direct: AxiosHandler | undefined;
  sidecar: { route: SidecarRoute; handler: AxiosHandler } | undefined;
}

/** An in-process service mesh client. */
export class MeshClient {
  readonly #mesh: Mesh;
  readonly #services = new Map<string, ServiceEntry>();
  readonly #instances = new Map<string, AxiosInstance>();
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent = new https.Agent({ keepAlive: true });
  readonly #http: AxiosInstance;
  readonly #transport = axiosTransport();
  #undici: { agent: Agent; transport: AxiosHandler } | undefined;
  /** One registrar per agent registered with, created on first use; keyed by agent address and token. */
  readonly #registrars = new Map<string, ConsulRegistrar>();
  #closing: Promise<void> | undefined;

  /**
   * @param options - see {@link MeshClientOptions}; validated here.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option's path.
   */
  constructor(options: MeshClientOptions = {}) {
    this.#mesh = new Mesh(parseOptions(options), { position: 'client' });
    // After a change of options (configure(), the control plane) the next request composes a new
    // pipeline; requests in flight hold the one they started on.
    this.#mesh.onConfigure(() => {
      for (const entry of this.#services.values()) entry.direct = undefined;
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
   * kept), `mode` and `sidecar` of services already used, and `axios` defaults of instances
   * already created.
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
    return this.#mesh.runtime(name).snapshot();
  }

  /** Listen to a mesh event (see {@link MeshEvents}). */
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#mesh.events.on(event, listener as never);
    return this;
  }

  /** Listen to one occurrence of a mesh event. */
  once<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#mesh.events.once(event, listener as never);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof MeshEvents>(event: E, listener?: MeshEvents[E]): this {
    this.#mesh.events.off(event, listener as never);
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
    return this.#registrar(options).register(registration);
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
    const registrars = [...this.#registrars.values()];
    this.#registrars.clear();
    // Side by side: withdrawing from Consul does not wait for in-flight requests, nor they for it.
    const results = await Promise.allSettled([...registrars.map((r) => r.close()), this.#mesh.close()]);
    this.#services.clear();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
    await this.#undici?.agent.close();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The registrar for the agent `options` name (or discovery's), created on first use. */
  #registrar(options: RegisterOptions): ConsulRegistrar {
    const { consul } = parseWith(registerOptionsSchema, options, 'register.options') as RegisterOptions;
    const discovery = this.#mesh.discovery;
    let key = 'discovery';
    if (consul) {
      const { host, port, secure, ca, token } = resolveConsulConnection(consul);
      // Only ever a map key, never printed: registrations with one agent and token share a registrar.
      key = JSON.stringify([host, port, secure, ca, token, consul.requestTimeout]);
    } else if (!(discovery instanceof ConsulDiscovery)) {
      throw new MeshError(
        'MESH_BAD_OPTIONS',
        'register() needs Consul: set discovery: { consul: {...} }, or pass register(registration, { consul: {...} })',
      );
    }
    let registrar = this.#registrars.get(key);
    if (!registrar) {
      const events = this.#mesh.events;
      const onError = (error: Error, registration: Registration) =>
        events.emit('discovery-error', { service: registration.name, error });
      const own = { clock: this.#mesh.clock, onError };
      registrar = consul
        ? new ConsulRegistrar({ ...consul, ...own })
        : (discovery as ConsulDiscovery).createRegistrar(own);
      this.#registrars.set(key, registrar);
    }
    return registrar;
  }

  #createInstance(service: string | undefined): AxiosInstance {
    return axios.create({
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
      ...this.#mesh.policy(service ?? '').axios,
      adapter: (config) => this.#dispatch(service ?? config.service, config),
    });
  }

  #entry(service: string): ServiceEntry {
    let entry = this.#services.get(service);
    if (!entry) {
      const mesh = this.#mesh;
      const policy = mesh.policy(service);
      const route =
        policy.mode === 'sidecar' ? new SidecarRoute(service, policy.sidecar, mesh.clock) : undefined;
      entry = {
        direct: undefined,
        // The sidecar runs the policy; the client keeps only the deadline (and the caller's signal).
        sidecar: route && {
          route,
          handler: compose(
            ...mesh.telemetry.handOffFilters(service),
            deadline(mesh.clock, mesh.shutdown),
            perTryTimeout(mesh.clock, false, mesh.shutdown, policy.timeout.propagate),
          )(route.transport),
        },
      };
      this.#services.set(service, entry);
    }
    return entry;
  }

  #transportFor(service: string): AxiosHandler {
    if (this.#mesh.policy(service).transport === 'axios') return this.#transport;
    if (!this.#undici) {
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      this.#undici = { agent, transport: undiciAxiosTransport(agent) };
    }
    return this.#undici.transport;
  }

  /** The in-process pipeline; built, and discovery watched, only when first needed. */
  #direct(entry: ServiceEntry, call: AxiosCall): Promise<AxiosResponse> {
    entry.direct ??= pipeline(this.#mesh.runtime(call.service))(this.#transportFor(call.service));
    return entry.direct(call);
  }

  async #dispatch(service: string | undefined, config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
    if (this.#mesh.closed) throw new MeshError('MESH_CLOSED', 'the mesh client was closed', { service });
    if (!service) throw new MeshError('MESH_BAD_REQUEST', 'no service named: set config.service');
    const url = config.url ?? '';
    if (ABSOLUTE.test(url) || ABSOLUTE.test(config.baseURL ?? '')) {
      throw new MeshError('MESH_BAD_REQUEST', 'URLs must be relative: the mesh chooses the host', {
        service,
      });
    }
    const entry = this.#entry(service);
    const policy = this.#mesh.policy(service);
    const method = (config.method ?? 'get').toUpperCase();
    // The smallest of: the request's own timeout (or the policy's), and what the caller of the
    // request being handled has left (see withIncomingDeadline).
    let total = config.timeout ? config.timeout : policy.timeout.total;
    const inherited = remainingDeadline();
    if (inherited !== undefined && (total === false || inherited < total)) total = inherited;
    const call: AxiosCall = {
      service,
      method,
      path: url,
      hashKey: config.hashKey,
      // As the sidecar does: an Idempotency-Key header makes any method safe to send twice.
      idempotent:
        config.idempotent ?? (IDEMPOTENT_METHODS.has(method) || config.headers.has('idempotency-key')),
      replayable: !isStream(config.data),
      request: config,
      signal: (config.signal as AbortSignal | undefined) ?? this.#mesh.shutdown,
      deadline: total === false ? Number.POSITIVE_INFINITY : this.#mesh.clock.now() + total,
      attempt: 0,
      tried: [],
      endpoint: undefined,
      headers: undefined,
    };
    try {
      const reply = entry.sidecar ? await this.#viaSidecar(entry, call) : await this.#direct(entry, call);
      return settle(reply, config);
    } catch (err) {
      if (config.signal?.aborted && !(err instanceof CanceledError))
        throw new CanceledError(undefined, undefined, config);
      throw err;
    }
  }

  /** Sidecar mode: through the sidecar while it answers, else the configured fallback. */
  async #viaSidecar(entry: ServiceEntry, call: AxiosCall): Promise<AxiosResponse> {
    const { route, handler } = entry.sidecar!;
    let reason = 'SIDECAR_DOWN';
    if (route.up) {
      try {
        return await handler(call);
      } catch (err) {
        const code = route.fallbackReason(err, call as Call<unknown>);
        if (code === undefined) throw err;
        reason = code;
      }
    }
    const action = route.options.fallback;
    const events = this.#mesh.events;
    if (events.wants('sidecar-fallback')) {
      events.emit('sidecar-fallback', { service: call.service, sidecar: route.options.url, reason, action });
    }
    if (action === 'none') {
      throw new MeshError(
        'MESH_SIDECAR_UNREACHABLE',
        `sidecar ${route.options.url} unreachable (${reason})`,
        {
          service: call.service,
        },
      );
    }
    return this.#direct(entry, call);
  }
}

const ABSOLUTE = /^[a-z][a-z\d+.-]*:/i;

function isStream(data: unknown): boolean {
  return typeof (data as { pipe?: unknown } | null)?.pipe === 'function';
}

/** Apply the caller's `validateStatus` once, after the mesh is done, as axios's `settle` does. */
function settle(reply: AxiosResponse, config: InternalAxiosRequestConfig): AxiosResponse {
  reply.config = config;
  const validate = config.validateStatus;
  if (!validate || validate(reply.status)) return reply;
  throw new AxiosError(
    `Request failed with status code ${reply.status}`,
    reply.status >= 400 && reply.status < 500 ? AxiosError.ERR_BAD_REQUEST : AxiosError.ERR_BAD_RESPONSE,
    config,
    reply.request,
    reply,
  );
}
