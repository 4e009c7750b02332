/**
 * Peak-EWMA balancer (Finagle's `Balancers.p2cPeakEwma`, Linkerd's and tower's default): P2C on
 * cost = latency estimate x (requests in flight + 1). The estimate (see `load/peak-ewma`) reacts
 * to a slow reply at once and forgets it over `decay`, and a failed attempt counts as at least
 * `failurePenalty` ms, so an endpoint that fails fast is not mistaken for a fast one.
 */
import type { Endpoint } from '../core/endpoint.js';
import { currentRtt } from '../load/peak-ewma.js';
import type { BalancerContext } from './balancer.js';
import { P2CBalancer } from './p2c.js';

export class PeakEwmaBalancer extends P2CBalancer {
  constructor(
    ctx: BalancerContext,
    private readonly decay: number,
  ) {
    super(ctx);
  }

  protected cost(ep: Endpoint): number {
    // A zero estimate (idle for many decay periods) must still rank by load.
    const rtt = currentRtt(ep, this.ctx.clock.now(), this.decay) + Number.EPSILON;
    return (rtt * (ep.inFlight + 1)) / ep.weight;
  }
}
