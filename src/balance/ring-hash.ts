/**
 * Consistent hashing on a ring (Karger et al., 1997; Envoy's `RING_HASH`): each endpoint owns
 * points on a 32-bit ring in proportion to its weight, and a request goes to the owner of the
 * first point at or after the hash of its `hashKey`. Adding or removing an endpoint moves only
 * the keys that endpoint gains or loses (unless it changes the smallest weight, or the set is
 * large enough that the ring must be thinned to stay within its size bound).
 *
 * The ring is built from the whole endpoint set, not the ready list, so a breaker opening does
 * not reshuffle keys: a lookup walks clockwise past endpoints that are not ready (or already
 * tried by this request). Lookups are a binary search, O(log n); rebuilding happens only when
 * membership or weights change. Requests without a `hashKey` are spread at random.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, PickRequest } from '../core/view.js';
import {
  type Balancer,
  type BalancerContext,
  defineBalancer,
  untriedFrom,
  weightedIndex,
} from './balancer.js';

const MAX_RING = 1 << 18;
/** Points per unit of the smallest weight (160, as in ketama). */
const POINTS_PER_UNIT = 160;

export class RingHashBalancer implements Balancer {
  #version = -1;
  #points = new Uint32Array(0);
  #owners: Endpoint[] = [];

  constructor(private readonly ctx: BalancerContext) {}

  pick(pool: EndpointView, call: PickRequest): Endpoint | undefined {
    if (pool.ready.length === 0) return undefined;
    if (call.hashKey === undefined) return untriedFrom(pool, weightedIndex(pool, this.ctx.random), call);
    if (this.#version !== pool.version) this.#build(pool);
    const points = this.#points;
    const n = points.length;
    let at = lowerBound(points, hashString(call.hashKey));
    let fallback: Endpoint | undefined;
    for (let step = 0; step < n; step++, at++) {
      const ep = this.#owners[at % n]!;
      if (ep.readyIndex < 0) continue;
      if (call.tried.length === 0 || !call.tried.includes(ep)) return ep;
      fallback ??= ep;
    }
    return fallback;
  }

  #build(pool: EndpointView): void {
    const all = pool.all;
    // An endpoint's points depend only on its weight relative to the smallest, not on how many
    // others there are, so when one joins or leaves the rest keep exactly their points and only
    // its own keys move. Halving to stay within MAX_RING reshuffles only for very large sets.
    const unit = pool.minWeight > 0 ? pool.minWeight : 1;
    let totalUnits = 0;
    for (const ep of all) totalUnits += ep.weight / unit;
    let perUnit = POINTS_PER_UNIT;
    while (totalUnits * perUnit > MAX_RING && perUnit > 1e-9) perUnit /= 2;
    const entries: Array<[number, Endpoint]> = [];
    for (const ep of all) {
      const seed = hashString(ep.id);
      const count = Math.min(MAX_RING, Math.max(1, Math.round((ep.weight / unit) * perUnit)));
      for (let i = 0; i < count; i++) entries.push([mix32(seed + Math.imul(i + 1, 0x9e3779b9)), ep]);
    }
    entries.sort((x, y) => x[0] - y[0]);
    this.#points = Uint32Array.from(entries, (e) => e[0]);
    this.#owners = entries.map((e) => e[1]);
    this.#version = pool.version;
  }
}

function lowerBound(points: Uint32Array, key: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** FNV-1a over UTF-16 code units, finished with murmur3's avalanche. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The `ring-hash` policy. */
export const ringHash = defineBalancer({ tuning: {}, create: (_tuning, ctx) => new RingHashBalancer(ctx) });
