/**
 * Consul discovery behind the {@link Discovery} interface, so that the `consul` package (whose HTTP
 * layer is no longer maintained upstream) can be replaced without touching the mesh.
 *
 * However many services are watched, the agent sees at most `readConcurrency + 1` connections from
 * it: ONE blocking query on `/v1/health/state/any` detects change across every service
 * (`feed.ts`), and non-blocking reads of `/v1/health/service/:name`, at most
 * `readConcurrency` at a time, fetch only the services that changed (`reads.ts`). Consul
 * allows 200 connections per client IP by default and answers 429 past that (Consul's
 * `agent/config/default.go`, `http_max_conns_per_client`), shared by every process on a host, so
 * one blocking query per service would not scale past a few hundred services per host.
 *
 * This file is the facade: options, one view per service shared by its subscribers, `close()`.
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { MeshError } from '../../errors/mesh-error.js';
import type { Discovery, EndpointsListener, Subscription } from '../discovery.js';
import {
  type ConsulConnectionOptions,
  consulRequest,
  openConsul,
  positive,
  sanitizeConsulError,
} from './connection.js';
import { ChangeFeed } from './feed.js';
import type { ConsulDiscoveryOptions } from './options.js';
import { ServiceReader, type Settings } from './reads.js';
import { ConsulRegistrar, type ConsulRegistrarOptions } from './registration.js';
import { ServiceView } from './watch.js';

export type { ConsulConnectionOptions } from './connection.js';

/** Consul's own cap on `wait`, in ms. */
const MAX_WAIT = 600_000;

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
  /** Random source in [0, 1) for backoff and wake-up jitter. @defaultValue `Math.random` */
  random?: () => number;
}

/** A {@link Discovery} backed by Consul's health endpoints: one change feed, bounded reads. */
export class ConsulDiscovery implements Discovery {
  readonly #settings: Settings;
  readonly #registrationCheckInterval: number | undefined;
  readonly #views = new Map<string, ServiceView>();
  readonly #reader: ServiceReader;
  readonly #feed: ChangeFeed;
  #started = false;
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
    const readConcurrency = options.readConcurrency ?? 4;
    if (!Number.isInteger(readConcurrency) || readConcurrency < 1 || readConcurrency > 64) {
      throw new MeshError('MESH_BAD_OPTIONS', 'consul.readConcurrency must be an integer from 1 to 64');
    }
    const remoteAddress = options.remoteAddress ?? 'wan';
    if (remoteAddress !== 'wan' && remoteAddress !== 'lan') {
      throw new MeshError('MESH_BAD_OPTIONS', "consul.remoteAddress must be 'wan' or 'lan'");
    }
    if (options.registrationCheckInterval !== undefined) {
      positive(options.registrationCheckInterval, 30_000, 'consul.registrationCheckInterval');
    }
    this.#registrationCheckInterval = options.registrationCheckInterval;
    const passingOnly = options.passingOnly !== false;
    this.#settings = {
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
      query: {
        ...(passingOnly && { passing: true }),
        ...(tags.length > 0 && { tag: tags }),
        ...(options.datacenter !== undefined && { dc: options.datacenter }),
        ...(options.near !== undefined && { near: options.near }),
        ...(options.stale === true && { stale: true }),
      },
      rules: { tags, passingOnly },
      remoteAddress,
      datacenter: options.datacenter,
      wait,
      minWakeupInterval: positive(options.minWakeupInterval, 250, 'consul.minWakeupInterval'),
      backoffBase: positive(options.backoffBase, 250, 'consul.backoffBase'),
      backoffMax: positive(options.backoffMax, 30_000, 'consul.backoffMax'),
      initialTimeout: positive(options.initialTimeout, 10_000, 'consul.initialTimeout'),
      readConcurrency,
      // Last: it opens a connection pool, which must not leak when validation above throws. The
      // pool never needs more sockets than the feed, the reads and the one datacenter lookup.
      session: openConsul(options, readConcurrency + 2),
    };
    this.#reader = new ServiceReader(this.#settings, this.#views);
    this.#feed = new ChangeFeed(this.#settings, this.#views, this.#reader);
    this.#reader.afterRead = (view) => this.#feed.reprint(view);
  }

  /** Watch `service`; its first subscriber queues its first read, the last one to leave forgets it. */
  subscribe(service: string, onUpdate: EndpointsListener, onError?: (error: Error) => void): Subscription {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'consul discovery is closed', { service });
    if (typeof service !== 'string' || service === '') {
      throw new MeshError('MESH_BAD_OPTIONS', 'service name must be a non-empty string');
    }
    let view = this.#views.get(service);
    if (!view) {
      const { clock, initialTimeout } = this.#settings;
      this.#views.set(service, (view = new ServiceView(service, clock, initialTimeout)));
      this.#reader.request(service);
    }
    const { subscriber, ready } = view.add(onUpdate, onError);
    this.#start();
    return {
      ready,
      close: () => {
        if (!view.remove(subscriber)) return;
        if (view.idle && this.#views.get(service) === view) {
          this.#views.delete(service);
          this.#reader.forget(view);
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
    return this.#views.has(service);
  }

  /**
   * A {@link ConsulRegistrar} for the same agent: same address, TLS trust, token, request timeout and
   * registration check interval, as resolved (environment included) when this discovery was built.
   * The caller owns and closes it.
   */
  createRegistrar(options: Pick<ConsulRegistrarOptions, 'clock' | 'onError'> = {}): ConsulRegistrar {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'consul discovery is closed');
    const { session } = this.#settings;
    const { host, port, secure, ca, token } = session.connection;
    // `env: {}`: everything is explicit already; the environment may have changed since.
    const connection: ConsulConnectionOptions = { host, port, secure, ca, token, env: {} };
    return new ConsulRegistrar({
      ...options,
      ...connection,
      requestTimeout: session.requestTimeout,
      ...(this.#registrationCheckInterval !== undefined && {
        registrationCheckInterval: this.#registrationCheckInterval,
      }),
    });
  }

  /** Abort the change feed and every read at once, wait for them to return, close the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const view of this.#views.values()) view.close();
    await Promise.all([this.#feed.stop(), this.#reader.close()]);
    this.#views.clear();
    this.#settings.session.destroy();
  }

  /** On the first subscription: the feed, the datacenter lookup, then the reads. */
  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#feed.start();
    void Promise.all([this.#feed.settled, this.#addressKind()]).then(() => {
      if (!this.#closed) this.#reader.resume();
    });
  }

  /**
   * Which address to dial. `Service.Address` is the LAN address (Consul's `agent/health_endpoint.go`
   * translates it only with `translate_wan_addrs`); an instance in another datacenter is reached
   * through its WAN tagged address. So with `datacenter` set to another datacenter than the agent's
   * (read once from `/v1/agent/self`), the WAN address is used unless `remoteAddress: 'lan'`.
   */
  async #addressKind(): Promise<void> {
    const { datacenter, remoteAddress, session } = this.#settings;
    if (datacenter === undefined || remoteAddress === 'lan') return;
    try {
      const agent = session.client.agent;
      const self = agent.self.bind(agent) as unknown as (opts: object) => Promise<unknown>;
      const answer = (await consulRequest(undefined, session.requestTimeout, false, (control) =>
        self({ ...control }),
      )) as { Config?: { Datacenter?: unknown } } | undefined;
      const local = answer?.Config?.Datacenter;
      this.#reader.address = typeof local === 'string' && local === datacenter ? 'lan' : 'wan';
    } catch (error) {
      // Without agent:read the agent will not say; `datacenter` is usually set for another one.
      this.#reader.address = 'wan';
      const cause = sanitizeConsulError(error, session.connection.token);
      const warning = new MeshError(
        'MESH_DISCOVERY_UNAVAILABLE',
        `consul: could not read the agent's datacenter from /v1/agent/self (${cause.message}); ` +
          `instances of datacenter "${datacenter}" are dialled at their WAN address (set remoteAddress: 'lan' to use LAN addresses)`,
        { cause },
      );
      for (const view of this.#views.values()) view.warn(warning);
    }
  }
}
