/**
 * Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
 * 2001): draw two distinct ready endpoints at random and send to the one whose load metric is
 * lower (or, for a metric that compares, the one it prefers; a tie keeps the first draw). Nearly as good as scanning for the least loaded, in O(1), and without the herding a
 * global minimum causes when many clients share stale load data. Finagle, Linkerd and tower build
 * their least-loaded balancers on it; the metric is a separate {@link Load}, as in tower's
 * `p2c::Balance<Load>`.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, PickRequest } from '../core/view.js';
import type { Load } from '../load/load.js';
import { type Balancer, type BalancerContext, untriedFrom } from './balancer.js';

/** Pick by P2C over `load` (lower cost wins). */
export class P2C implements Balancer {
  constructor(
    readonly load: Load,
    private readonly ctx: BalancerContext,
  ) {}

  pick(pool: EndpointView, call: PickRequest): Endpoint | undefined {
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
    const now = this.ctx.clock.now();
    const load = this.load;
    // A tie keeps the first draw: a uniform pick among equals.
    if (load.compare) return load.compare(b, a, now) < 0 ? b : a;
    return load.cost(b, now) < load.cost(a, now) ? b : a;
  }
}
