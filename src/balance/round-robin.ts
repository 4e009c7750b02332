/**
 * Round-robin, weighted by interleaving (IWRR, as in Envoy's and LVS's weighted round robin):
 * the cycle runs in rounds, and an endpoint takes part in round `r` while its weight, in units
 * of the smallest weight, exceeds `r`. Equal weights reduce to a plain rotation; unequal ones
 * spread the heavy endpoint's extra turns across the cycle instead of in a burst.
 */
import type { Call } from '../core/call.js';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import { type Balancer, untriedFrom } from './balancer.js';

/** Rounds per cycle are capped so a huge weight spread cannot make one pick scan for long. */
const MAX_ROUNDS = 1_000;

export class RoundRobinBalancer implements Balancer {
  #next = 0;
  #round = 0;

  pick(pool: EndpointPool, call: Call): Endpoint | undefined {
    const ready = pool.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    if (pool.uniformWeights) {
      const i = this.#next % n;
      this.#next = i + 1;
      return untriedFrom(pool, i, call);
    }
    const unit = pool.minWeight;
    const rounds = Math.min(MAX_ROUNDS, Math.ceil(pool.maxWeight / unit));
    // Every round of a cycle has at least the heaviest endpoint in it, so this ends within n steps.
    for (let step = 0; step <= n * 2; step++) {
      const i = this.#next % n;
      this.#next = i + 1;
      if (this.#next >= n) {
        this.#next = 0;
        this.#round = (this.#round + 1) % rounds;
      }
      if (ready[i]!.weight / unit > this.#round) return untriedFrom(pool, i, call);
    }
    return untriedFrom(pool, 0, call);
  }
}
