/**
 * The balancer contract and the sampling helpers every policy shares.
 *
 * A balancer picks from the pool's ready list (endpoints whose breaker lets traffic through),
 * in O(1) and without allocating: the ready list is maintained incrementally by the pool, and
 * weighted sampling is rejection sampling against the largest weight (Envoy and Finagle use
 * alias/EDF tables; rejection keeps the pick table-free at the cost of `maxWeight / meanWeight`
 * expected draws, small for real weight spreads, with an exact linear draw when they all miss).
 */
import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, Picker, PickRequest } from '../core/view.js';
import type { Load } from '../load/load.js';

/** Picks the endpoint for one attempt (from the service's pool, or a routing subset of it). */
export interface Balancer extends Picker {
  /** The load metric the balancer ranks by; the balance filter reports attempts to it. None: no load is recorded. */
  readonly load?: Load | undefined;
}

/** What balancers may read besides the pool. */
export interface BalancerContext {
  clock: Clock;
  random: () => number;
}

/**
 * One load-balancing policy: the tuning fields it reads from the `loadBalancer` option (zod
 * fields with their defaults, documented where they are declared) and how to build it. A policy
 * is one file exporting its definition, registered by name in `policies.ts`.
 */
export interface BalancerDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** The policy's own tuning fields of `loadBalancer`. */
  readonly tuning: Shape;
  /** A balancer for one service (or one routing subset). */
  create(tuning: z.output<z.ZodObject<Shape>>, ctx: BalancerContext): Balancer;
}

/** Declare a policy (typed, so `create` receives the tuning its fields parse to). */
export function defineBalancer<Shape extends z.ZodRawShape>(
  definition: BalancerDefinition<Shape>,
): BalancerDefinition<Shape> {
  return definition;
}

const MAX_DRAWS = 16;

/** A ready index drawn in proportion to endpoint weights. */
export function weightedIndex(pool: EndpointView, random: () => number): number {
  const ready = pool.ready;
  const n = ready.length;
  if (pool.uniformWeights) return (random() * n) | 0;
  const max = pool.maxWeight;
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const i = (random() * n) | 0;
    if (random() * max < ready[i]!.weight) return i;
  }
  // Every draw was rejected (a wide spread, or the heaviest endpoints are not ready): finish with
  // an exact O(n) draw, so the shares stay proportional instead of falling back to uniform.
  let total = 0;
  for (let i = 0; i < n; i++) total += ready[i]!.weight;
  let x = random() * total;
  for (let i = 0; i < n; i++) {
    x -= ready[i]!.weight;
    if (x < 0) return i;
  }
  return n - 1;
}

/**
 * Steer a retry away from endpoints already tried: the first untried ready endpoint at or after
 * `index` (wrapping), or the candidate itself when every ready endpoint was tried.
 */
export function untriedFrom(pool: EndpointView, index: number, call: PickRequest): Endpoint {
  const ready = pool.ready;
  const candidate = ready[index]!;
  const tried = call.tried;
  if (tried.length === 0 || !tried.includes(candidate)) return candidate;
  const n = ready.length;
  for (let step = 1; step < n; step++) {
    const ep = ready[(index + step) % n]!;
    if (!tried.includes(ep)) return ep;
  }
  return candidate;
}
