/**
 * Zone-aware preference: keep traffic in this process's zone (cheaper, faster, no cross-zone
 * transfer) while the zone is healthy enough, and spill the rest to the other zones when it is
 * not. The spill-over follows Envoy's priority levels with an overprovisioning factor (the local
 * zone as priority 0, the others as priority 1): the local zone takes
 * min(1, healthy share / `minHealthyPercent`) of the traffic and the other zones the rest, so
 * with the default 70% (Envoy's factor 1.4 is 71.4%) nothing moves while 70% of the local
 * endpoints are in rotation, and traffic shifts smoothly, not all at once, as more fail. As with
 * Envoy's zone-aware routing, destinations smaller than `minClusterSize` ignore zones: with
 * few endpoints the local ones would be overloaded.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView } from '../core/view.js';
import type { ZonePolicy } from './options.js';
import type { Subset, SubsetCache } from './subsets.js';

/** Chooses, per request, between the local and the other zones of a destination. */
export class ZonePreference {
  readonly #local: string;
  readonly #key: string;
  readonly #minHealthy: number;
  readonly #minSize: number;

  constructor(
    options: ZonePolicy,
    private readonly subsets: SubsetCache,
    private readonly random: () => number,
  ) {
    this.#local = options.local;
    this.#key = options.zoneKey;
    this.#minHealthy = options.minHealthyPercent;
    this.#minSize = options.minClusterSize;
  }

  /** Whether `ep` is in this process's zone. */
  isLocal(ep: Endpoint): boolean {
    const key = this.#key;
    return ep.meta[key] === this.#local || (ep.tags.length > 0 && ep.tags.includes(`${key}=${this.#local}`));
  }

  /** The part of `base` this request should go to. */
  choose(base: Subset): EndpointView {
    if (base.all.length < this.#minSize) return base;
    const local = this.subsets.get(`${base.label}|local`, (ep) => base.includes(ep) && this.isLocal(ep));
    const members = local.all.length;
    // No local endpoints at all: zones do not apply to this destination.
    if (members === 0) return base;
    const healthy = (local.ready.length * 100) / members;
    if (healthy >= this.#minHealthy) return local;
    const remote = this.subsets.get(`${base.label}|remote`, (ep) => base.includes(ep) && !this.isLocal(ep));
    if (remote.ready.length === 0) return local.ready.length > 0 ? local : base;
    return this.random() * this.#minHealthy < healthy ? local : remote;
  }
}
