/** Weighted random: each ready endpoint with probability proportional to its weight. */
import type { Call } from '../core/call.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView } from '../core/pool.js';
import { type Balancer, type BalancerContext, untriedFrom, weightedIndex } from './balancer.js';

export class RandomBalancer implements Balancer {
  constructor(private readonly ctx: BalancerContext) {}

  pick(pool: EndpointView, call: Call): Endpoint | undefined {
    if (pool.ready.length === 0) return undefined;
    return untriedFrom(pool, weightedIndex(pool, this.ctx.random), call);
  }
}
