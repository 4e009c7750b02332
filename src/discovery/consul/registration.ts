/**
 * Self-registration with the local Consul agent: a server announces itself, keeps its TTL check
 * passing, stays registered when the agent forgets it, and withdraws on `deregister()` or `close()`.
 *
 * Registration and deregistration follow https://developer.hashicorp.com/consul/api-docs/agent/service,
 * TTL updates https://developer.hashicorp.com/consul/api-docs/agent/check#ttl-check-pass, and check
 * semantics https://developer.hashicorp.com/consul/docs/services/usage/checks: a service's only check
 * gets the ID `service:<serviceId>`, durations travel as Go duration strings (`"10s"`, `"500ms"`), and a
 * TTL check goes critical when no update arrives within its TTL, which is why we beat at a third of it.
 *
 * An agent restarted without its data directory has forgotten every service registered through it,
 * whatever the check kind. Like Consul's own anti-entropy, the registrar confirms its registrations
 * every `registrationCheckInterval` (one `GET /v1/agent/services` for all of them) and registers
 * again whatever is missing; a TTL heart-beat answered 404 does the same at once.
 *
 * Calls go through `agentRequest` rather than the `consul` package: the package drops `Weights` from
 * registrations and keeps an error text only under 80 characters, and the agent's refusals
 * ("Invalid Service Meta: …", "Permission denied: … lacks permission 'service:write' …") must reach
 * the user whole.
 */
import { type Clock, systemClock, type TimerHandle } from '../../core/clock.js';
import { MeshError } from '../../errors/mesh-error.js';
import {
  agentRequest,
  type ConsulConnectionOptions,
  type ConsulSession,
  codeOf,
  openConsul,
  positive,
  statusOf,
} from './connection.js';
import { type ConsulServiceBody, type ServiceRegistration, toConsulService } from './service-body.js';

export type { ServiceCheckOptions, ServiceRegistration, ServiceWeights } from './service-body.js';

/** Options of {@link ConsulRegistrar}. */
export interface ConsulRegistrarOptions extends ConsulConnectionOptions {
  /** Time source for heart-beats and registration checks. @defaultValue the system clock */
  clock?: Clock;
  /**
   * Told about heart-beats, registration checks and re-registrations that failed, with the
   * registration concerned; the next attempt is made on schedule. @defaultValue ignore them
   */
  onError?: (error: Error, registration: Registration) => void;
  /** How often the registrations are confirmed on the agent, in ms. @defaultValue `30000` */
  registrationCheckInterval?: number;
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
  readonly body: ConsulServiceBody;
  stop(): void;
  /** A re-registration in flight, shared by whoever noticed the agent forgot. */
  restoring: Promise<void> | undefined;
  /** Being deregistered: never registered again. */
  leaving: boolean;
}

/** Registers instances with the local Consul agent, keeps their TTL checks alive and them registered. */
export class ConsulRegistrar {
  readonly #session: ConsulSession;
  readonly #clock: Clock;
  readonly #onError: ConsulRegistrarOptions['onError'];
  readonly #interval: number;
  readonly #abort = new AbortController();
  readonly #live = new Map<string, Live>();
  /** Instances whose registration is in flight: close() removes them too, as the agent may have them. */
  readonly #pending = new Set<string>();
  #checkTimer: TimerHandle | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  /**
   * @param options - the agent (address and token default to `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`),
   *   the clock of heart-beats and where their failures go.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option.
   */
  constructor(options: ConsulRegistrarOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError;
    this.#interval = positive(options.registrationCheckInterval, 30_000, 'consul.registrationCheckInterval');
    this.#session = openConsul(options);
  }

  /**
   * Register an instance; TTL checks start passing and are heart-beaten until deregistration.
   * @throws MeshError `MESH_BAD_OPTIONS` for a registration Consul would refuse (checked here, naming
   *   the field) or did refuse (a 400, with the agent's words); `MESH_DISCOVERY_UNAVAILABLE` when the
   *   agent could not be reached or denied it (ACLs); `MESH_CLOSED`.
   */
  async register(registration: ServiceRegistration): Promise<Registration> {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'the consul registrar is closed');
    const body = toConsulService(registration);
    const id = body.ID;
    if (this.#live.has(id) || this.#pending.has(id)) {
      throw new MeshError('MESH_BAD_OPTIONS', `register.id "${id}" is already registered by this registrar`);
    }
    this.#pending.add(id);
    try {
      await this.#put(body);
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
        await this.#call('heart-beat', 'PUT', `/v1/agent/check/pass/${encodeURIComponent(checkId)}`);
      } catch (error) {
        if (this.#abort.signal.aborted || !beating) return;
        // The agent forgot us (restarted without its data dir): announce again rather than stay missing.
        if (statusOf(error) === 404) await this.#restore(live);
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
      name: body.Name,
      id,
      checkId,
      stopHeartbeat: stop,
      // Shared while in flight (close() joins it rather than racing it); a failure may be retried.
      deregister: () =>
        (deregistering ??= (async () => {
          stop();
          live.leaving = true;
          try {
            await this.#deregister(id);
            this.#live.delete(id);
          } catch (error) {
            deregistering = undefined;
            live.leaving = false;
            throw error;
          }
        })()),
    };
    const live: Live = { registration: handle, body, stop, restoring: undefined, leaving: false };
    this.#live.set(id, live);
    schedule();
    this.#scheduleCheck();
    return handle;
  }

  /** Stop every heart-beat and deregister every instance still registered, then release the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new MeshError('MESH_CLOSED', 'the consul registrar is closed'));
    if (this.#checkTimer !== undefined) this.#clock.clearTimeout(this.#checkTimer);
    await this.#checking;
    const lives = [...this.#live.values()];
    for (const live of lives) live.stop();
    const ids = [...lives.map((l) => l.registration.id), ...this.#pending];
    const results = await Promise.allSettled([
      ...lives.map((live) => live.registration.deregister()),
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

  /** The periodic confirmation, one at a time, while anything is registered. */
  #scheduleCheck(): void {
    if (this.#checkTimer !== undefined || this.#closed || this.#live.size === 0) return;
    this.#checkTimer = this.#clock.setTimeout(() => {
      this.#checkTimer = undefined;
      this.#checking = this.#confirm().finally(() => {
        this.#checking = undefined;
        this.#scheduleCheck();
      });
    }, this.#interval);
  }

  /** Anti-entropy: list the agent's services and register again what it no longer has. */
  async #confirm(): Promise<void> {
    let known: Record<string, unknown>;
    try {
      known = ((await this.#call('registration check', 'GET', '/v1/agent/services')) ?? {}) as Record<
        string,
        unknown
      >;
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      for (const live of this.#live.values()) this.#report(error, live.registration);
      return;
    }
    await Promise.all(
      [...this.#live.values()]
        .filter((live) => !live.leaving && !(live.body.ID in known))
        .map((live) => this.#restore(live)),
    );
  }

  /** Register `live` again (once at a time), reporting a failure to `onError`. */
  #restore(live: Live): Promise<void> {
    live.restoring ??= (async () => {
      try {
        if (this.#live.get(live.body.ID) === live && !live.leaving) await this.#put(live.body);
      } catch (error) {
        if (!this.#abort.signal.aborted) this.#report(error, live.registration);
      } finally {
        live.restoring = undefined;
      }
    })();
    return live.restoring;
  }

  /** `PUT /v1/agent/service/register`; an agent's 400 is the registration's fault, said in its words. */
  async #put(body: ConsulServiceBody): Promise<void> {
    try {
      await this.#call('register service', 'PUT', '/v1/agent/service/register', body);
    } catch (error) {
      if (statusOf(error) !== 400) throw error;
      const reason = (error as Error).message.replace(/^consul: register service failed: /, '');
      throw new MeshError('MESH_BAD_OPTIONS', `register: the consul agent refused "${body.ID}": ${reason}`, {
        cause: (error as Error).cause,
      });
    }
  }

  async #deregister(id: string, retried = false): Promise<void> {
    try {
      // Not under the registrar's signal: close() aborts that first and still needs this call.
      await this.#call(
        'deregister service',
        'PUT',
        `/v1/agent/service/deregister/${encodeURIComponent(id)}`,
        undefined,
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

  /** Hand a failure to `onError`; a throwing handler must not become an unhandled rejection. */
  #report(error: unknown, handle: Registration): void {
    try {
      this.#onError?.(error as Error, handle);
    } catch (bug) {
      process.emitWarning(bug instanceof Error ? bug : String(bug), 'MeshListenerWarning');
    }
  }

  /** One agent call under the request timeout; failures become token-free MeshErrors. */
  async #call(
    what: string,
    method: 'GET' | 'PUT',
    path: string,
    body?: unknown,
    abortable = true,
  ): Promise<unknown> {
    const signal = abortable ? this.#abort.signal : undefined;
    try {
      return await agentRequest(this.#session, method, path, body, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const cause = error as Error;
      throw new MeshError('MESH_DISCOVERY_UNAVAILABLE', `consul: ${what} failed: ${cause.message}`, {
        cause,
      });
    }
  }
}
