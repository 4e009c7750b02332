/**
 * Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
 * 2001): draw two distinct ready endpoints at random and send to the cheaper. Nearly as good as
 * scanning for the least loaded, in O(1), and without the herding a global minimum causes when
 * many clients share stale load data. Used by Finagle, Linkerd and tower for their
 * least-loaded balancers. Cost functions divide by weight, as Envoy's weighted least request.
 */
import type { Call } from '../core/call.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView } from '../core/pool.js';
import { type Balancer, type BalancerContext, untriedFrom } from './balancer.js';

/** Pick by P2C over a cost function (lower is better). */
export abstract class P2CBalancer implements Balancer {
  constructor(protected readonly ctx: BalancerContext) {}

  /** The endpoint's cost now; lower wins. */
  protected abstract cost(ep: Endpoint): number;

  pick(pool: EndpointView, call: Call): Endpoint | undefined {
    const n = pool.ready.length;
    if (n === 0) return undefined;
    const random = this.ctx.random;
    const i = (random() * n) | 0;
    const a = untriedFrom(pool, i, call);
    if (n === 1) return a;
    const b = untriedFrom(pool, (i + 1 + ((random() * (n - 1)) | 0)) % n, call);
    if (a === b) return a;
    const tried = call.tried;
    if (tried.length > 0) {
      const aTried = tried.includes(a);
      if (aTried !== tried.includes(b)) return aTried ? b : a;
    }
    return this.cost(b) < this.cost(a) ? b : a;
  }
}

/** Least request: P2C on requests in flight. */
export class LeastRequestBalancer extends P2CBalancer {
  protected cost(ep: Endpoint): number {
    return (ep.inFlight + 1) / ep.weight;
  }
}
