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
import { z } from 'zod';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView } from '../core/pool.js';
import type { Subset, SubsetCache } from './subsets.js';

/** Zone-aware routing of one service. */
export interface ZoneAwareOptions {
  /** This process's zone: endpoints whose metadata (or `key=value` tag) `zoneKey` equals it are local. Required. */
  local: string;
  /** The metadata key (or tag prefix) naming an endpoint's zone. @defaultValue `'zone'` */
  zoneKey?: string;
  /**
   * While at least this share (%) of the local endpoints is in rotation, all traffic stays local;
   * below it the local zone takes traffic in proportion and the rest spills to other zones. @defaultValue `70`
   */
  minHealthyPercent?: number;
  /** Destinations with fewer endpoints ignore zones (Envoy's `min_cluster_size`). @defaultValue `6` */
  minClusterSize?: number;
}

/** Validation of {@link ZoneAwareOptions}. */
export const zoneAwareSchema = z.strictObject({
  local: z.string().min(1).describe("This process's zone."),
  zoneKey: z.string().min(1).optional().describe("Metadata key of an endpoint's zone; default 'zone'."),
  minHealthyPercent: z
    .number()
    .gt(0)
    .max(100)
    .optional()
    .describe('Healthy share (%) of the local zone below which traffic spills over; default 70.'),
  minClusterSize: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Destinations with fewer endpoints ignore zones; default 6.'),
});

/** Chooses, per request, between the local and the other zones of a destination. */
export class ZonePreference {
  readonly #local: string;
  readonly #key: string;
  readonly #minHealthy: number;
  readonly #minSize: number;

  constructor(
    options: ZoneAwareOptions,
    private readonly subsets: SubsetCache,
    private readonly random: () => number,
  ) {
    this.#local = options.local;
    this.#key = options.zoneKey ?? 'zone';
    this.#minHealthy = options.minHealthyPercent ?? 70;
    this.#minSize = options.minClusterSize ?? 6;
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
