/**
 * Consul discovery: one long-lived blocking query per watched service on `/v1/health/service/:name`,
 * behind the {@link Discovery} interface so the `consul` package (whose HTTP layer is no longer
 * maintained upstream, see DEPENDENCY-NOTES) can be replaced without touching the mesh.
 *
 * This file is the facade: options, one watch per service shared by its subscribers, `close()`.
 * The blocking-query loop and its rules (HashiCorp's
 * https://developer.hashicorp.com/consul/api-docs/features/blocking) live in `consul-watch.ts`; the
 * agent address, token and HTTP client in `consul-connection.ts`.
 *
 * Built on the `consul` package's plain `health.service` call, not its `watch` (which can end silently,
 * fires on equal bodies and neither rate-limits nor jitters: see DEPENDENCY-NOTES).
 */
import { type Clock, systemClock } from '../core/clock.js';
import { MeshError } from '../errors/mesh-error.js';
import { type ConsulConnectionOptions, openConsul, positive } from './consul-connection.js';
import type { ConsulDiscoveryOptions } from './consul-options.js';
import { ConsulRegistrar, type ConsulRegistrarOptions } from './consul-registration.js';
import { MAX_WAIT, ServiceWatch, type Settings } from './consul-watch.js';
import type { Discovery, EndpointsListener, Subscription } from './discovery.js';

export type { ConsulConnectionOptions } from './consul-connection.js';

/**
 * Options of {@link ConsulDiscovery}: where the agent is, what to watch and how patiently. The
 * same fields, defaults and docs as the mesh option block ({@link ConsulDiscoveryOptions}),
 * plus the injectable clock and random source.
 */
export interface ConsulOptions
  extends ConsulConnectionOptions,
    Omit<ConsulDiscoveryOptions, keyof ConsulConnectionOptions | 'services' | 'tags'> {
  /** Only instances carrying every one of these tags. @defaultValue `[]` (no tag filter) */
  tags?: readonly string[];
  /** Time source for backoff, rate limit and `initialTimeout`. @defaultValue the system clock */
  clock?: Clock;
  /** Random source in [0, 1) for backoff jitter. @defaultValue `Math.random` */
  random?: () => number;
}

/** A {@link Discovery} backed by Consul's health endpoint, kept current with blocking queries. */
export class ConsulDiscovery implements Discovery {
  readonly #settings: Settings;
  readonly #watches = new Map<string, ServiceWatch>();
  /** Watches whose last subscriber left, still winding down: close() waits for them too. */
  readonly #stopping = new Set<Promise<void>>();
  #closed = false;

  /**
   * @param options - see {@link ConsulOptions}; the agent's address and token default to
   *   `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`. No request is made until the first subscription.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option.
   */
  constructor(options: ConsulOptions = {}) {
    const wait = positive(options.wait, 300_000, 'consul.wait');
    if (wait > MAX_WAIT) throw new MeshError('MESH_BAD_OPTIONS', 'consul.wait must be at most 600000 ms');
    const tags = [...(options.tags ?? [])];
    if (!tags.every((t) => typeof t === 'string' && t !== '')) {
      throw new MeshError('MESH_BAD_OPTIONS', 'consul.tags must be non-empty strings');
    }
    const query: Settings['query'] = {
      ...(options.passingOnly !== false && { passing: true }),
      ...(tags.length > 0 && { tag: tags }),
      ...(options.datacenter !== undefined && { dc: options.datacenter }),
      ...(options.near !== undefined && { near: options.near }),
      ...(options.stale === true && { stale: true }),
    };
    this.#settings = {
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
      query,
      tags,
      passingOnly: options.passingOnly !== false,
      wait,
      minWakeupInterval: positive(options.minWakeupInterval, 250, 'consul.minWakeupInterval'),
      backoffBase: positive(options.backoffBase, 250, 'consul.backoffBase'),
      backoffMax: positive(options.backoffMax, 30_000, 'consul.backoffMax'),
      initialTimeout: positive(options.initialTimeout, 10_000, 'consul.initialTimeout'),
      // Last: it opens a connection pool, which must not leak when validation above throws.
      session: openConsul(options),
    };
  }

  /** Watch `service`; the first subscriber starts its blocking query, the last one to leave ends it. */
  subscribe(service: string, onUpdate: EndpointsListener, onError?: (error: Error) => void): Subscription {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'consul discovery is closed', { service });
    if (typeof service !== 'string' || service === '') {
      throw new MeshError('MESH_BAD_OPTIONS', 'service name must be a non-empty string');
    }
    let watch = this.#watches.get(service);
    const fresh = !watch;
    if (!watch) this.#watches.set(service, (watch = new ServiceWatch(service, this.#settings)));
    const { subscriber, ready } = watch.add(onUpdate, onError);
    if (fresh) watch.start();
    return {
      ready,
      close: () => {
        if (!watch.remove(subscriber)) return;
        if (watch.idle && this.#watches.get(service) === watch) {
          this.#watches.delete(service);
          const stopping = watch.stop().finally(() => this.#stopping.delete(stopping));
          this.#stopping.add(stopping);
        }
      },
    };
  }

  /**
   * Whether `service` is watched right now (listed up front, or requested since). Consul cannot say
   * whether a service exists without a query, so "known" means "watched" here; the sidecar forwards
   * only to services its discovery knows.
   */
  knows(service: string): boolean {
    return this.#watches.has(service);
  }

  /**
   * A {@link ConsulRegistrar} for the same agent: same address, TLS trust, token and request timeout,
   * as resolved (environment included) when this discovery was built. The caller owns and closes it.
   */
  createRegistrar(options: Pick<ConsulRegistrarOptions, 'clock' | 'onError'> = {}): ConsulRegistrar {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'consul discovery is closed');
    const { session } = this.#settings;
    const { host, port, secure, ca, token } = session.connection;
    // `env: {}`: everything is explicit already; the environment may have changed since.
    const connection: ConsulConnectionOptions = { host, port, secure, ca, token, env: {} };
    return new ConsulRegistrar({ ...options, ...connection, requestTimeout: session.requestTimeout });
  }

  /** Abort every blocking query at once, wait for the loops to return, and close the connection pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all([...watches.map((w) => w.stop()), ...this.#stopping]);
    this.#settings.session.destroy();
  }
}
