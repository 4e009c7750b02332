/**
 * Self-registration with the local Consul agent: a server announces itself, keeps its TTL check
 * passing, and withdraws on `deregister()` or `close()`.
 *
 * Registration and deregistration follow https://developer.hashicorp.com/consul/api-docs/agent/service,
 * TTL updates https://developer.hashicorp.com/consul/api-docs/agent/check#ttl-check-pass, and check
 * semantics https://developer.hashicorp.com/consul/docs/services/usage/checks: a service's only check
 * gets the ID `service:<serviceId>`, durations travel as Go duration strings (`"10s"`, `"500ms"`), and a
 * TTL check goes critical when no update arrives within its TTL, which is why we beat at a third of it.
 */
import { hostname } from 'node:os';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { MeshError } from '../errors/mesh-error.js';
import {
  type ConsulConnectionOptions,
  type ConsulSession,
  consulRequest,
  openConsul,
  type RequestControl,
  sanitizeConsulError,
} from './consul-connection.js';

/** Options of {@link ConsulRegistrar}. */
export interface ConsulRegistrarOptions extends ConsulConnectionOptions {
  /** Time source for heart-beats. @defaultValue the system clock */
  clock?: Clock;
  /**
   * Told about heart-beats (and re-registrations) that failed, with the registration concerned; the
   * next heart-beat is tried on schedule. @defaultValue ignore them
   */
  onError?: (error: Error, registration: Registration) => void;
}

/** The health check that decides whether the registered instance receives traffic. */
export interface ServiceCheckOptions {
  /** URL the agent GETs every `interval`: 2xx passing, 429 warning, else critical. @defaultValue none */
  http?: string;
  /** TTL in ms; the registrar reports "passing" every `ttl / 3` ms. @defaultValue none */
  ttl?: number;
  /** Interval of an `http` check, in ms (required with `http`). @defaultValue none */
  interval?: number;
  /** Time limit of one `http` check, in ms. @defaultValue `min(interval, 10000)` */
  timeout?: number;
  /** Let the agent remove the service once critical this long, in ms. @defaultValue never */
  deregisterCriticalServiceAfter?: number;
}

/** What to register: one instance of a service. */
export interface ServiceRegistration {
  /** Logical service name, as clients look it up. */
  name: string;
  /** Instance ID, unique on this agent. @defaultValue `<name>-<address or host name>-<port>` */
  id?: string;
  /** Address clients connect to. @defaultValue the agent's node address */
  address?: string;
  /** Port clients connect to. */
  port: number;
  /** Tags (e.g. `v2`, `canary`). @defaultValue `[]` */
  tags?: readonly string[];
  /** Metadata (e.g. `version`, `zone`; `scheme: https` makes clients use HTTPS). @defaultValue `{}` */
  meta?: Readonly<Record<string, string>>;
  /** The instance's health check: exactly one of `http` or `ttl`. */
  check: ServiceCheckOptions;
}

/** A live registration. */
export interface Registration {
  /** The service name it was registered under. */
  readonly name: string;
  /** The instance ID the agent knows it by. */
  readonly id: string;
  /** The ID of its check, `service:<id>`. */
  readonly checkId: string;
  /** Stop TTL heart-beats without deregistering: the check goes critical one TTL later (a drain). */
  stopHeartbeat(): void;
  /** Stop heart-beats and remove the instance from the agent; calls made meanwhile share one attempt. */
  deregister(): Promise<void>;
}

interface Live {
  readonly registration: Registration;
  stop(): void;
}

/** Registers instances with the local Consul agent and keeps their TTL checks alive. */
export class ConsulRegistrar {
  readonly #session: ConsulSession;
  readonly #clock: Clock;
  readonly #onError: ConsulRegistrarOptions['onError'];
  readonly #abort = new AbortController();
  readonly #live = new Map<string, Live>();
  /** Instances whose registration is in flight: close() removes them too, as the agent may have them. */
  readonly #pending = new Set<string>();
  #closed = false;

  /**
   * @param options - the agent (address and token default to `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`),
   *   the clock of heart-beats and where their failures go.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option.
   */
  constructor(options: ConsulRegistrarOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError;
    this.#session = openConsul(options);
  }

  /** Register an instance; TTL checks start passing and are heart-beaten until deregistration. */
  async register(registration: ServiceRegistration): Promise<Registration> {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'the consul registrar is closed');
    const body = toConsulService(registration);
    const id = body.id;
    if (this.#live.has(id) || this.#pending.has(id)) {
      throw new MeshError('MESH_BAD_OPTIONS', `register.id "${id}" is already registered by this registrar`);
    }
    this.#pending.add(id);
    try {
      await this.#call('register service', (ctl) =>
        this.#session.client.agent.service.register({ ...body, ...ctl }),
      );
    } finally {
      this.#pending.delete(id);
    }
    // close() ran meanwhile: it has already deregistered this id as a pending one.
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'the consul registrar is closed');
    const checkId = `service:${id}`;
    const ttl = registration.check.ttl;
    let timer: TimerHandle | undefined;
    let beating = ttl !== undefined;
    const beat = async () => {
      try {
        await this.#call('heart-beat', (ctl) =>
          this.#session.client.agent.check.pass({ id: checkId, ...ctl }),
        );
      } catch (error) {
        if (this.#abort.signal.aborted || !beating) return;
        // An agent restarted without its data dir forgets us: announce again rather than stay missing.
        if (statusOf(error) === 404) await this.#reregister(body, handle);
        else this.#report(error, handle);
      }
      schedule();
    };
    const schedule = () => {
      if (beating && ttl !== undefined) timer = this.#clock.setTimeout(() => void beat(), ttl / 3);
    };
    const stop = () => {
      beating = false;
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    };
    let deregistering: Promise<void> | undefined;
    const handle: Registration = {
      name: body.name,
      id,
      checkId,
      stopHeartbeat: stop,
      // Shared while in flight (close() joins it rather than racing it); a failure may be retried.
      deregister: () =>
        (deregistering ??= (async () => {
          stop();
          try {
            await this.#deregister(id);
            this.#live.delete(id);
          } catch (error) {
            deregistering = undefined;
            throw error;
          }
        })()),
    };
    this.#live.set(id, { registration: handle, stop });
    schedule();
    return handle;
  }

  /** Stop every heart-beat and deregister every instance still registered, then release the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new MeshError('MESH_CLOSED', 'the consul registrar is closed'));
    for (const live of this.#live.values()) live.stop();
    const ids = [...this.#live.keys(), ...this.#pending];
    const results = await Promise.allSettled([
      ...[...this.#live.values()].map((live) => live.registration.deregister()),
      ...[...this.#pending].map((id) => this.#deregister(id)),
    ]);
    this.#live.clear();
    this.#session.destroy();
    const failed = ids.filter((_, i) => results[i]?.status === 'rejected');
    if (failed.length > 0) {
      const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      throw new MeshError('MESH_DISCOVERY_UNAVAILABLE', `could not deregister ${failed.join(', ')}`, {
        cause: first?.reason,
      });
    }
  }

  async #deregister(id: string, retried = false): Promise<void> {
    try {
      // Not under the registrar's signal: close() aborts that first and still needs this call.
      await this.#call(
        'deregister service',
        (ctl) => this.#session.client.agent.service.deregister({ id, ...ctl }),
        false,
      );
    } catch (error) {
      // Already gone (reaped after DeregisterCriticalServiceAfter, or removed by an operator): done.
      if (statusOf(error) === 404) return;
      // A pooled keep-alive socket the agent had closed (it restarted, or timed the socket out) fails
      // at once with a reset. Deregistration is idempotent: one more try, on a fresh socket.
      if (!retried && codeOf(error) === 'ECONNRESET') return this.#deregister(id, true);
      throw error;
    }
  }

  async #reregister(body: ConsulService, handle: Registration): Promise<void> {
    try {
      await this.#call('register service', (ctl) =>
        this.#session.client.agent.service.register({ ...body, ...ctl }),
      );
    } catch (error) {
      if (!this.#abort.signal.aborted) this.#report(error, handle);
    }
  }

  /** Hand a heart-beat failure to `onError`; a throwing handler must not become an unhandled rejection. */
  #report(error: unknown, handle: Registration): void {
    try {
      this.#onError?.(error as Error, handle);
    } catch (bug) {
      process.emitWarning(bug instanceof Error ? bug : String(bug), 'MeshListenerWarning');
    }
  }

  /** One agent call under the request timeout; failures become token-free MeshErrors. */
  async #call<T>(what: string, fn: (control: RequestControl) => Promise<T>, abortable = true): Promise<T> {
    const signal = abortable ? this.#abort.signal : undefined;
    try {
      return await consulRequest(signal, this.#session.requestTimeout, false, fn);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const cause = sanitizeConsulError(error, this.#session.connection.token);
      throw new MeshError('MESH_DISCOVERY_UNAVAILABLE', `consul: ${what} failed: ${cause.message}`, {
        cause,
      });
    }
  }
}

/** The registration body in the shape the `consul` package expects. */
interface ConsulService {
  name: string;
  id: string;
  address?: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  check: {
    name: string;
    timeout: string;
    http?: string;
    interval?: string;
    ttl?: string;
    status?: string;
    deregistercriticalserviceafter?: string;
  };
}

/** Validate a {@link ServiceRegistration} and translate it; errors name the offending field. */
function toConsulService(r: ServiceRegistration): ConsulService {
  const bad = (field: string, rule: string) => new MeshError('MESH_BAD_OPTIONS', `register.${field} ${rule}`);
  if (!r || typeof r !== 'object') throw bad('', 'must be an object');
  if (!isText(r.name)) throw bad('name', 'must be a non-empty string');
  if (r.id !== undefined && !isText(r.id)) throw bad('id', 'must be a non-empty string');
  if (r.address !== undefined && !isText(r.address)) throw bad('address', 'must be a non-empty string');
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535)
    throw bad('port', 'must be an integer from 1 to 65535');
  if (r.tags !== undefined && !(Array.isArray(r.tags) && r.tags.every(isText))) {
    throw bad('tags', 'must be an array of non-empty strings');
  }
  if (
    r.meta !== undefined &&
    !(r.meta && typeof r.meta === 'object' && Object.values(r.meta).every(isString))
  ) {
    throw bad('meta', 'must map names to strings');
  }
  const c = r.check;
  if (!c || typeof c !== 'object') throw bad('check', 'is required ({ http, interval } or { ttl })');
  if ((c.http === undefined) === (c.ttl === undefined))
    throw bad('check', 'must set exactly one of http or ttl');
  const check: ConsulService['check'] = { name: `Service '${r.name}' check`, timeout: '10s' };
  if (c.http !== undefined) {
    if (!isText(c.http) || !/^https?:\/\/./i.test(c.http)) throw bad('check.http', 'must be an http(s) URL');
    if (c.interval === undefined) throw bad('check.interval', 'is required with check.http');
    check.http = c.http;
    check.interval = duration(c.interval, () => bad('check.interval', 'must be a positive number of ms'));
    const timeout = c.timeout ?? Math.min(c.interval, 10_000);
    check.timeout = duration(timeout, () => bad('check.timeout', 'must be a positive number of ms'));
  } else {
    check.ttl = duration(c.ttl, () => bad('check.ttl', 'must be a positive number of ms'));
    // The caller registers when it is ready to serve; Consul would otherwise start the TTL critical.
    check.status = 'passing';
  }
  if (c.deregisterCriticalServiceAfter !== undefined) {
    check.deregistercriticalserviceafter = duration(c.deregisterCriticalServiceAfter, () =>
      bad('check.deregisterCriticalServiceAfter', 'must be a positive number of ms'),
    );
  }
  // Stable across restarts, so a restarted instance replaces its old entry instead of adding one.
  const id = r.id ?? `${r.name}-${r.address ?? hostname()}-${r.port}`;
  return {
    name: r.name,
    id,
    ...(r.address !== undefined && { address: r.address }),
    port: r.port,
    ...(r.tags !== undefined && { tags: [...r.tags] }),
    ...(r.meta !== undefined && { meta: { ...r.meta } }),
    check,
  };
}

/** A Go duration string for `ms` milliseconds: `"10s"` when whole seconds, else `"1500ms"`. */
function duration(ms: number | undefined, invalid: () => Error): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw invalid();
  const whole = Math.ceil(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** The HTTP status behind a failure of {@link ConsulRegistrar}'s calls, if the agent answered. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { cause?: { statusCode?: unknown } } | undefined)?.cause?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The socket error code behind a failure of {@link ConsulRegistrar}'s calls, if any. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
