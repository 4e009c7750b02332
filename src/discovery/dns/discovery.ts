/**
 * DNS discovery: each watched service's DNS name (a Kubernetes headless Service, its SRV records,
 * Consul DNS, any zone) resolved with node:dns and re-resolved on the records' TTL.
 *
 * This file is the facade: options, the service-to-name mapping, one watch per service shared by its
 * subscribers, `close()`. The refresh loop and its rules (TTL, backoff, the grace of empty answers)
 * live in `watch.ts`; one resolution (A, AAAA, SRV priority and weight) in `resolve.ts`.
 *
 * State is bounded: one watch (and one `Resolver`) per service with a subscriber, dropped when its last
 * subscriber leaves; at most `maxRecords` records per answer.
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { MeshError } from '../../errors/mesh-error.js';
import { parseWith } from '../../errors/validate.js';
import type { Discovery, EndpointsListener, Subscription } from '../discovery.js';
import { expand, nameProblem } from './name.js';
import { DNS_DEFAULTS, type DnsDiscoveryOptions, dnsDiscoverySchema } from './options.js';
import type { DnsTarget } from './resolve.js';
import { type DnsSettings, DnsWatch } from './watch.js';

export type { DnsDiscoveryOptions, DnsRecordType, DnsServiceOptions } from './options.js';
export type { DnsTarget } from './resolve.js';

/**
 * Options of {@link DnsDiscovery}: the mesh option block ({@link DnsDiscoveryOptions}), with the same
 * fields, defaults and docs, plus the injectable clock and random source.
 */
export interface DnsOptions extends DnsDiscoveryOptions {
  /** Time source of the refresh timers and the grace of empty answers. @defaultValue the system clock */
  clock?: Clock;
  /** Random source in [0, 1) for the refresh jitter. @defaultValue `Math.random` */
  random?: () => number;
}

/** A {@link Discovery} that resolves DNS names and follows their TTLs. */
export class DnsDiscovery implements Discovery {
  readonly #options: DnsDiscoveryOptions;
  readonly #settings: DnsSettings;
  readonly #watches = new Map<string, DnsWatch>();
  /** Watches whose last subscriber left, still winding down: close() waits for them too. */
  readonly #stopping = new Set<Promise<void>>();
  #closed = false;

  /**
   * @param options - see {@link DnsOptions}; validated by the same schema as `discovery: { dns }`.
   *   No query is sent until the first subscription.
   * @throws MeshError `MESH_BAD_OPTIONS` naming the offending option (`dns.servers[0]: ...`).
   */
  constructor(options: DnsOptions = {}) {
    const { clock, random, ...block } = options;
    if (clock !== undefined && typeof clock?.setTimeout !== 'function') {
      throw new MeshError('MESH_BAD_OPTIONS', 'dns.clock: expected a Clock');
    }
    if (random !== undefined && typeof random !== 'function') {
      throw new MeshError('MESH_BAD_OPTIONS', 'dns.random: expected a function returning [0, 1)');
    }
    this.#options = parseWith(dnsDiscoverySchema, block, 'dns') as DnsDiscoveryOptions;
    const o = this.#options;
    this.#settings = {
      clock: clock ?? systemClock,
      random: random ?? Math.random,
      servers: o.servers,
      minRefresh: o.minRefresh ?? DNS_DEFAULTS.minRefresh,
      maxRefresh: o.maxRefresh ?? DNS_DEFAULTS.maxRefresh,
      jitter: o.jitter ?? DNS_DEFAULTS.jitter,
      emptyGracePeriod: o.emptyGracePeriod ?? DNS_DEFAULTS.emptyGracePeriod,
      maxRecords: o.maxRecords ?? DNS_DEFAULTS.maxRecords,
      timeout: o.timeout ?? DNS_DEFAULTS.timeout,
      tries: o.tries ?? DNS_DEFAULTS.tries,
    };
  }

  /**
   * What `service` resolves to: its DNS name, record type, port and scheme, from its entry under
   * `services` or the defaults.
   * @throws MeshError `MESH_BAD_REQUEST` when the service name does not make a valid DNS name.
   */
  target(service: string): DnsTarget {
    const found = this.#target(service);
    if (typeof found === 'string') throw new MeshError('MESH_BAD_REQUEST', found, { service });
    return found;
  }

  /** The target of `service`, or why it has none. */
  #target(service: string): DnsTarget | string {
    const o = this.#options;
    const own = Object.hasOwn(o.services ?? {}, service) ? o.services![service]! : {};
    const scheme = own.scheme ?? o.scheme ?? DNS_DEFAULTS.scheme;
    const type = own.type ?? o.type ?? DNS_DEFAULTS.type;
    const name = expand(
      own.name ?? o.name ?? DNS_DEFAULTS.name,
      service,
      o.namespace ?? DNS_DEFAULTS.namespace,
    );
    const problem = nameProblem(name);
    if (problem) {
      const shown = service.slice(0, 80);
      return `service "${shown}" does not make a DNS name (${problem}); map it under dns.services`;
    }
    const port = own.port ?? o.port ?? (scheme === 'https' ? 443 : 80);
    return Object.freeze({ name, type, port, scheme });
  }

  /** Watch `service`; the first subscriber starts its refresh loop, the last one to leave ends it. */
  subscribe(service: string, onUpdate: EndpointsListener, onError?: (error: Error) => void): Subscription {
    if (this.#closed) throw new MeshError('MESH_CLOSED', 'dns discovery is closed', { service });
    if (typeof service !== 'string' || service === '') {
      throw new MeshError('MESH_BAD_OPTIONS', 'service name must be a non-empty string');
    }
    let watch = this.#watches.get(service);
    if (!watch) {
      const target = this.#target(service);
      if (typeof target === 'string') {
        // No watch is kept for a name that cannot be asked for: nothing to release, nothing grows.
        const ready = Promise.reject(new MeshError('MESH_DISCOVERY_UNAVAILABLE', target, { service }));
        ready.catch(() => {});
        return { ready, close: () => {} };
      }
      watch = new DnsWatch(service, target, this.#settings);
      this.#watches.set(service, watch);
      watch.start();
    }
    const current = watch;
    const { subscriber, ready } = current.add(onUpdate, onError);
    return {
      ready,
      close: () => {
        if (!current.remove(subscriber)) return;
        if (current.idle && this.#watches.get(service) === current) {
          this.#watches.delete(service);
          const stopping = current.stop().finally(() => this.#stopping.delete(stopping));
          this.#stopping.add(stopping);
        }
      },
    };
  }

  /**
   * Whether the sidecar may forward to `service`: it is listed under `services`, or watched right
   * now. DNS could answer for any name, so the names a sidecar serves are the ones configured.
   */
  knows(service: string): boolean {
    return Object.hasOwn(this.#options.services ?? {}, service) || this.#watches.has(service);
  }

  /** Services listed under `services` (those a sidecar forwards to without a prior request). */
  services(): string[] {
    return Object.keys(this.#options.services ?? {});
  }

  /** Cancel every query in flight and every refresh timer, and wait for the loops to return. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all([...watches.map((w) => w.stop()), ...this.#stopping]);
  }
}
