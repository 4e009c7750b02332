/** Balancer factory: one balancer per service, built from its policy. */
import type { LoadBalancerOptions } from '../options.js';
import type { Balancer, BalancerContext } from './balancer.js';
import { LeastRequestBalancer } from './p2c.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';

export type { Balancer, BalancerContext } from './balancer.js';

/** Build the balancer a policy names. */
export function createBalancer(options: Required<LoadBalancerOptions>, ctx: BalancerContext): Balancer {
  switch (options.policy) {
    case 'round-robin':
      return new RoundRobinBalancer();
    case 'random':
      return new RandomBalancer(ctx);
    case 'least-request':
      return new LeastRequestBalancer(ctx);
    case 'ring-hash':
      return new RingHashBalancer(ctx);
    case 'peak-ewma':
      return new PeakEwmaBalancer(ctx, options.decay);
  }
}
