/**
 * Subsets of a service's endpoints, selected by metadata and tags (Envoy's subset load balancer,
 * Istio's `DestinationRule` subsets): `{ version: 'v2' }` selects the endpoints whose
 * `meta.version` is `v2` or that carry the tag `version=v2` (Consul tags are plain strings, so
 * `key=value` tags stand in for metadata).
 *
 * A {@link Subset} is a view of the pool a balancer can pick from ({@link EndpointView}): its own
 * member list and ready list. Membership is recomputed only when the pool's membership or
 * weights change (its `version`), lazily on the next read; readiness follows the pool's ready
 * list as it changes ({@link EndpointPool.watchReady}), in O(1) per change, so a pick from a
 * subset costs what a pick from the pool costs. Each subset may carry its own balancer
 * (`picker`), as Envoy gives each subset its own load balancer, so tables a balancer derives
 * per version (ring-hash's ring, weighted round-robin's rounds) are not rebuilt every time
 * requests alternate between subsets.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import type { EndpointView, Picker } from '../core/view.js';

/** Metadata an endpoint must carry, key by key (`meta[key] === value` or tag `key=value`). */
export type Selector = Readonly<Record<string, string>>;

/** Whether `ep` carries every key/value of `selector` (an empty selector selects every endpoint). */
export function selects(ep: Endpoint, selector: Selector): boolean {
  for (const key in selector) {
    const want = selector[key]!;
    if (ep.meta[key] === want) continue;
    if (ep.tags.length > 0 && ep.tags.includes(`${key}=${want}`)) continue;
    return false;
  }
  return true;
}

/** A stable, readable name for a selector: `version=v2,zone=a` (keys sorted), `*` for all. */
export function selectorLabel(selector: Selector): string {
  const keys = Object.keys(selector).sort();
  return keys.length === 0 ? '*' : keys.map((k) => `${k}=${selector[k]}`).join(',');
}

/**
 * Subset versions count down from -1 across the process: never equal to a pool's (which count
 * up from 0) nor to another subset's, so a balancer shared between views never mistakes one
 * view's cached tables for another's.
 */
let nextVersion = -1;

/** The endpoints of a pool that satisfy a predicate, as a view balancers can pick from. */
export class Subset implements EndpointView {
  /** The subset's own balancer, when it has one. */
  picker: Picker | undefined;
  #all: Endpoint[] = [];
  #ready: Endpoint[] = [];
  /** Position of each ready member in `#ready`. */
  readonly #index = new Map<Endpoint, number>();
  #members = new Set<Endpoint>();
  #poolVersion = Number.NaN;
  #version = 0;
  #maxWeight = 1;
  #minWeight = 1;
  #uniform = true;
  readonly #unwatch: () => void;

  constructor(
    private readonly pool: EndpointPool,
    /** What the subset is, for events and errors (e.g. `version=v2`). */
    readonly label: string,
    /** Which endpoints belong. */
    readonly includes: (ep: Endpoint) => boolean,
  ) {
    this.#unwatch = pool.watchReady((ep, ready) => this.#onReady(ep, ready));
  }

  get all(): readonly Endpoint[] {
    this.#sync();
    return this.#all;
  }

  get ready(): readonly Endpoint[] {
    this.#sync();
    return this.#ready;
  }

  get version(): number {
    this.#sync();
    return this.#version;
  }

  get maxWeight(): number {
    this.#sync();
    return this.#maxWeight;
  }

  get minWeight(): number {
    this.#sync();
    return this.#minWeight;
  }

  get uniformWeights(): boolean {
    this.#sync();
    return this.#uniform;
  }

  /** Stop following the pool. */
  close(): void {
    this.#unwatch();
  }

  #sync(): void {
    if (this.#poolVersion !== this.pool.version) this.#rebuild();
  }

  #rebuild(): void {
    this.#all = this.pool.all.filter(this.includes);
    this.#members = new Set(this.#all);
    this.#ready = [];
    this.#index.clear();
    let max = 0;
    let min = Number.POSITIVE_INFINITY;
    for (const ep of this.#all) {
      if (ep.readyIndex >= 0) this.#add(ep);
      if (ep.weight > max) max = ep.weight;
      if (ep.weight < min) min = ep.weight;
    }
    this.#maxWeight = max || 1;
    this.#minWeight = Number.isFinite(min) ? min : 1;
    this.#uniform = this.#maxWeight === this.#minWeight;
    this.#version = nextVersion--;
    this.#poolVersion = this.pool.version;
  }

  /**
   * Follow one change of the pool's ready list. Changes made while the pool reconciles a new
   * endpoint set arrive before its version moves: those for departing members are applied, new
   * endpoints are not members yet, and the next read rebuilds membership anyway.
   */
  #onReady(ep: Endpoint, ready: boolean): void {
    if (!this.#members.has(ep)) return;
    if (ready) {
      if (!this.#index.has(ep)) this.#add(ep);
      return;
    }
    const i = this.#index.get(ep);
    if (i === undefined) return;
    const last = this.#ready.pop()!;
    if (last !== ep) {
      this.#ready[i] = last;
      this.#index.set(last, i);
    }
    this.#index.delete(ep);
  }

  #add(ep: Endpoint): void {
    this.#index.set(ep, this.#ready.length);
    this.#ready.push(ep);
  }
}

/** The subsets of one pool, built on first use and shared by every rule that names them. */
export class SubsetCache {
  readonly #subsets = new Map<string, Subset>();

  constructor(
    private readonly pool: EndpointPool,
    /** Makes each new subset's own balancer; without it subsets use the service's. */
    private readonly picker?: () => Picker,
  ) {}

  /** The subset a selector names. */
  of(selector: Selector): Subset {
    return this.get(selectorLabel(selector), (ep) => selects(ep, selector));
  }

  /** The subset called `label`, made with `includes` when it does not exist yet. */
  get(label: string, includes: (ep: Endpoint) => boolean): Subset {
    let subset = this.#subsets.get(label);
    if (!subset) {
      subset = new Subset(this.pool, label, includes);
      subset.picker = this.picker?.();
      this.#subsets.set(label, subset);
    }
    return subset;
  }

  /** Stop every subset following the pool. */
  close(): void {
    for (const subset of this.#subsets.values()) subset.close();
    this.#subsets.clear();
  }
}
