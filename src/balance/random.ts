/** Weighted random: each ready endpoint with probability proportional to its weight. */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, PickRequest } from '../core/view.js';
import {
  type Balancer,
  type BalancerContext,
  defineBalancer,
  untriedFrom,
  weightedIndex,
} from './balancer.js';

export class RandomBalancer implements Balancer {
  constructor(private readonly ctx: BalancerContext) {}

  pick(pool: EndpointView, call: PickRequest): Endpoint | undefined {
    if (pool.ready.length === 0) return undefined;
    return untriedFrom(pool, weightedIndex(pool, this.ctx.random), call);
  }
}

/** The `random` policy. */
export const random = defineBalancer({ tuning: {}, create: (_tuning, ctx) => new RandomBalancer(ctx) });
