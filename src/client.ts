/**
 * MeshClient: the fat client. Options become one {@link ServiceRuntime} per service (created on
 * first use) and a pipeline over the axios http transport; the mesh plugs into axios as its
 * adapter, so `mesh.service('users')` is an ordinary AxiosInstance whose interceptors,
 * transforms, params and auth all keep working.
 */

import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import axios, {
  AxiosError,
  type AxiosInstance,
  type AxiosResponse,
  CanceledError,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from './core/call.js';
import { systemClock } from './core/clock.js';
import type { EndpointSnapshot } from './core/endpoint.js';
import type { Discovery } from './discovery/discovery.js';
import { StaticDiscovery } from './discovery/static.js';
import { MeshError } from './errors.js';
import { type MeshClientOptions, parseOptions, type ResolvedOptions, resolvePolicy } from './options.js';
import { pipeline } from './pipeline.js';
import { IDEMPOTENT_METHODS } from './retry/policy.js';
import { ServiceRuntime } from './service.js';
import { MeshEmitter, type MeshEvents } from './telemetry/events.js';
import { axiosTransport } from './transport/axios.js';

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

/** An in-process service mesh client. */
export class MeshClient {
  readonly #options: ResolvedOptions;
  readonly #events = new MeshEmitter();
  readonly #discovery: Discovery;
  readonly #ownsDiscovery: boolean;
  readonly #shutdown = new AbortController();
  readonly #services = new Map<string, { runtime: ServiceRuntime; handler: AxiosHandler }>();
  readonly #instances = new Map<string, AxiosInstance>();
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent = new https.Agent({ keepAlive: true });
  readonly #http: AxiosInstance;
  readonly #transport = axiosTransport();
  #closed = false;

  /**
   * @param options - see {@link MeshClientOptions}; validated here.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option's path.
   */
  constructor(options: MeshClientOptions = {}) {
    this.#options = parseOptions(options);
    const discovery = this.#options.discovery;
    this.#ownsDiscovery = 'static' in discovery && !('subscribe' in discovery);
    this.#discovery = this.#ownsDiscovery
      ? new StaticDiscovery(
          (discovery as { static: ConstructorParameters<typeof StaticDiscovery>[0] }).static,
        )
      : (discovery as Discovery);
    // Every in-flight request listens for shutdown: many listeners are expected.
    setMaxListeners(0, this.#shutdown.signal);
    this.#http = this.#createInstance(undefined);
  }

  /** The discovery in use; a {@link StaticDiscovery} unless the options gave another. */
  get discovery(): Discovery {
    return this.#discovery;
  }

  /**
   * Send one request to `config.service` through the mesh.
   * Resolves or rejects exactly as axios would; the mesh's own refusals are {@link MeshError}s.
   */
  request<T = unknown, D = unknown>(config: MeshRequestConfig<D>): Promise<AxiosResponse<T, D>> {
    return this.#http.request<T, AxiosResponse<T, D>, D>(config);
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

  /** Snapshots of a service's endpoints: URL, breaker state, in-flight, latency estimate. */
  endpoints(name: string): EndpointSnapshot[] {
    if (this.#closed) return [];
    return this.#runtime(name).runtime.snapshot();
  }

  /** Listen to a mesh event (see {@link MeshEvents}). */
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#events.on(event, listener as never);
    return this;
  }

  /** Listen to one occurrence of a mesh event. */
  once<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): this {
    this.#events.once(event, listener as never);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof MeshEvents>(event: E, listener?: MeshEvents[E]): this {
    this.#events.off(event, listener as never);
    return this;
  }

  /**
   * Release everything: in-flight requests fail with `MESH_CLOSED`, discovery watches, breaker
   * timers and pooled sockets are closed. Later requests fail with `MESH_CLOSED`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#shutdown.abort(new MeshError('MESH_CLOSED', 'the mesh client was closed'));
    for (const { runtime } of this.#services.values()) runtime.close();
    this.#services.clear();
    if (this.#ownsDiscovery) await this.#discovery.close();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
    this.#events.removeAllListeners();
  }

  #createInstance(service: string | undefined): AxiosInstance {
    const policy = resolvePolicy(this.#options, service ?? '');
    return axios.create({
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
      ...policy.axios,
      adapter: (config) => this.#dispatch(service ?? config.service, config),
    });
  }

  #runtime(name: string) {
    let entry = this.#services.get(name);
    if (!entry) {
      const runtime = new ServiceRuntime(name, resolvePolicy(this.#options, name), {
        clock: this.#options.clock ?? systemClock,
        random: this.#options.random ?? Math.random,
        events: this.#events,
        discovery: this.#discovery,
        shutdown: this.#shutdown.signal,
      });
      entry = { runtime, handler: pipeline(runtime)(this.#transport) };
      this.#services.set(name, entry);
    }
    return entry;
  }

  async #dispatch(service: string | undefined, config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'the mesh client was closed', { service });
    if (!service) throw new MeshError('MESH_BAD_REQUEST', 'no service named: set config.service');
    const url = config.url ?? '';
    if (/^[a-z][a-z\d+.-]*:/i.test(url) || /^[a-z][a-z\d+.-]*:/i.test(config.baseURL ?? '')) {
      throw new MeshError('MESH_BAD_REQUEST', 'URLs must be relative: the mesh chooses the host', {
        service,
      });
    }
    const { runtime, handler } = this.#runtime(service);
    const method = (config.method ?? 'get').toUpperCase();
    const total = config.timeout ? config.timeout : runtime.policy.timeout.total;
    const callerSignal = (config.signal as AbortSignal | undefined) ?? this.#shutdown.signal;
    const call: AxiosCall = {
      service,
      method,
      path: url,
      hashKey: config.hashKey,
      idempotent: config.idempotent ?? IDEMPOTENT_METHODS.has(method),
      replayable: !isStream(config.data),
      request: config,
      signal: callerSignal,
      deadline: total === false ? Number.POSITIVE_INFINITY : runtime.clock.now() + total,
      attempt: 0,
      tried: [],
      endpoint: undefined,
    };
    let reply: AxiosResponse;
    try {
      reply = await handler(call);
    } catch (err) {
      if (config.signal?.aborted && !(err instanceof CanceledError))
        throw new CanceledError(undefined, undefined, config);
      throw err;
    }
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
}

function isStream(data: unknown): boolean {
  return typeof (data as { pipe?: unknown } | null)?.pipe === 'function';
}
