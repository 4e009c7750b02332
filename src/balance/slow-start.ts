/**
 * Slow start (Envoy's `slow_start_config`): a new endpoint's share of the traffic ramps up over a
 * window instead of arriving at once, for services that must warm caches, JITs or connection
 * pools before they take full load. During the window an endpoint's weight is scaled by
 * `max(minWeightPercent / 100, (t / window) ^ (1 / aggression))`, `t` being the time since it
 * joined (at least one second), as Envoy scales it.
 *
 * It wraps any balancer: a pick that lands on a warming endpoint is kept with that probability
 * and otherwise made again with the endpoint counted as tried, so the balancer's own rule
 * (latency, load, rotation, the hash ring's next point) chooses where the rest goes. A warming
 * endpoint thus gets about that share of what it would get at full weight, and ring-hash keys move
 * to a new endpoint gradually. Endpoints of a service's first endpoint set start warm: slow
 * start is for endpoints added to a running service (a scale-up, a replacement), as in Envoy it
 * is "most effective when few new endpoints come up".
 */
import type { Clock } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, PickRequest } from '../core/view.js';
import type { Balancer } from './balancer.js';

/** The ramp of one service's slow start. */
export interface SlowStartRamp {
  window: number;
  aggression: number;
  minWeightPercent: number;
}

/** Picks a warming endpoint again at most this many times before keeping what it has. */
const MAX_REPICKS = 3;

export class SlowStart implements Balancer {
  constructor(
    private readonly inner: Balancer,
    private readonly ramp: SlowStartRamp,
    private readonly clock: Clock,
    private readonly random: () => number,
    /** When the service's first endpoint set arrived: endpoints that joined by then start warm. */
    private readonly warmSince: () => number,
  ) {}

  get load() {
    return this.inner.load;
  }

  /** The share (0..1] of its weight `ep` takes now. */
  factor(ep: Endpoint, now = this.clock.now()): number {
    if (ep.joinedAt <= this.warmSince()) return 1;
    const { window, aggression, minWeightPercent } = this.ramp;
    const elapsed = Math.max(now - ep.joinedAt, 1_000);
    if (elapsed >= window) return 1;
    return Math.max(minWeightPercent / 100, (elapsed / window) ** (1 / aggression));
  }

  pick(view: EndpointView, request: PickRequest): Endpoint | undefined {
    let ep = this.inner.pick(view, request);
    if (!ep) return ep;
    const now = this.clock.now();
    let tried: Endpoint[] | undefined;
    for (let i = 0; i < MAX_REPICKS; i++) {
      const f = this.factor(ep, now);
      if (f >= 1 || this.random() < f) return ep;
      tried = [...(tried ?? request.tried), ep];
      const other = this.inner.pick(view, { tried, hashKey: request.hashKey });
      if (!other || tried.includes(other)) return ep;
      ep = other;
    }
    return ep;
  }
}
