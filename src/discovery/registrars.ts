/**
 * Self-registration of a process's own instances: one {@link ConsulRegistrar} per agent (and
 * token) registered with, created on first use, all withdrawn together on `close()`. The agent
 * is the one Consul discovery already talks to, unless a registration names another.
 */
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors/mesh-error.js';
import { requirePeer } from '../errors/peer.js';
import { parseWith } from '../errors/validate.js';
import { resolveConsulConnection } from './consul/connection.js';
import { ConsulDiscovery } from './consul/discovery.js';
import { type RegisterOptions, registerOptionsSchema } from './consul/options.js';
import { ConsulRegistrar, type Registration, type ServiceRegistration } from './consul/registration.js';
import type { Discovery } from './discovery.js';

/** What the registrars need of the process. */
export interface RegistrarsContext {
  /** The discovery in use (its Consul agent is the default one). */
  discovery: Discovery;
  clock: Clock;
  /** Heart-beat and re-registration failures, by the registration they concern; always MeshErrors. */
  onError(error: MeshError, registration: Registration): void;
}

export class Registrars {
  /** Keyed by agent address, TLS trust and token: only ever a map key, never printed. */
  readonly #byAgent = new Map<string, ConsulRegistrar>();

  constructor(private readonly ctx: RegistrarsContext) {}

  /**
   * Register `registration` with the agent `options` names (or discovery's).
   * @throws MeshError `MESH_BAD_OPTIONS` for invalid options or when there is no Consul to use.
   */
  register(registration: ServiceRegistration, options: RegisterOptions = {}): Promise<Registration> {
    return this.#registrar(options).register(registration);
  }

  /** Withdraw everything registered; rejects with the first failure once all were tried. */
  async close(): Promise<void> {
    const registrars = [...this.#byAgent.values()];
    this.#byAgent.clear();
    const results = await Promise.allSettled(registrars.map((r) => r.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #registrar(options: RegisterOptions): ConsulRegistrar {
    const { consul } = parseWith(registerOptionsSchema, options, 'register.options') as RegisterOptions;
    const { discovery, clock, onError } = this.ctx;
    let key = 'discovery';
    if (consul) {
      const { host, port, secure, ca, token } = resolveConsulConnection(consul);
      key = JSON.stringify([host, port, secure, ca, token, consul.requestTimeout]);
    } else if (!(discovery instanceof ConsulDiscovery)) {
      throw new MeshError(
        'MESH_BAD_OPTIONS',
        'register() needs Consul: set discovery: { consul: {...} }, or pass register(registration, { consul: {...} })',
      );
    }
    let registrar = this.#byAgent.get(key);
    if (!registrar) {
      // Registration talks to a Consul agent through the optional `consul` package.
      requirePeer('consul', 'register()');
      // A failure the registrar did not already word as a MeshError becomes one, the original as cause.
      const own = {
        clock,
        onError: (error: Error, registration: Registration) =>
          onError(
            error instanceof MeshError
              ? error
              : new MeshError(
                  'MESH_DISCOVERY_UNAVAILABLE',
                  `consul: keeping the registration of "${registration.name}" failed: ${error.message}`,
                  { service: registration.name, cause: error },
                ),
            registration,
          ),
      };
      registrar = consul
        ? new ConsulRegistrar({ ...consul, ...own })
        : (discovery as ConsulDiscovery).createRegistrar(own);
      this.#byAgent.set(key, registrar);
    }
    return registrar;
  }
}
