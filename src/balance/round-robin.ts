/**
 * Round-robin, weighted by interleaving (IWRR, as in Envoy's and LVS's weighted round robin):
 * the cycle runs in rounds, and an endpoint takes part in round `r` while its weight, in units
 * of the weights' common divisor, exceeds `r`. Equal weights reduce to a plain rotation; unequal ones
 * spread the heavy endpoint's extra turns across the cycle instead of in a burst.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointView, PickRequest } from '../core/view.js';
import { type Balancer, defineBalancer, untriedFrom } from './balancer.js';

/** Rounds per cycle are capped so a huge weight spread cannot make one pick scan for long. */
const MAX_ROUNDS = 1_000;

export class RoundRobinBalancer implements Balancer {
  #next = 0;
  #round = 0;
  /** Whether the current round picked anyone. */
  #hit = false;
  /** The weight unit and rounds per cycle, derived once per pool version. */
  #version = -1;
  #unit = 1;
  #rounds = 1;
  #epsilon = 0;

  pick(pool: EndpointView, call: PickRequest): Endpoint | undefined {
    const ready = pool.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    if (pool.uniformWeights) {
      const i = this.#next % n;
      this.#next = i + 1;
      return untriedFrom(pool, i, call);
    }
    if (this.#version !== pool.version) this.#scale(pool);
    // Fewer endpoints take part in each round than in the one before, so a round nobody took
    // part in (the heaviest endpoints are not ready) ends the cycle: a pick takes at most 2n steps.
    for (let step = 0; step <= n * 2; step++) {
      if (this.#next >= n) {
        this.#next = 0;
        this.#round = this.#hit ? (this.#round + 1) % this.#rounds : 0;
        this.#hit = false;
      }
      const i = this.#next++;
      if (ready[i]!.weight > this.#round * this.#unit + this.#epsilon) {
        this.#hit = true;
        return untriedFrom(pool, i, call);
      }
    }
    return untriedFrom(pool, 0, call);
  }

  /**
   * The unit is the weights' greatest common divisor, so every endpoint gets exactly its share
   * per cycle (weights 2:3 take 2 and 3 turns); when that would need more than MAX_ROUNDS
   * rounds, the unit is 1/MAX_ROUNDS of the largest weight and shares are within that.
   */
  #scale(pool: EndpointView): void {
    const max = pool.maxWeight;
    this.#epsilon = max * 1e-9;
    let unit = 0;
    for (const ep of pool.all) unit = gcd(unit, ep.weight, this.#epsilon);
    let rounds = Math.round(max / unit);
    if (!(rounds <= MAX_ROUNDS)) {
      rounds = MAX_ROUNDS;
      unit = max / MAX_ROUNDS;
    }
    this.#unit = unit;
    this.#rounds = Math.max(1, rounds);
    this.#version = pool.version;
  }
}

/** Euclid's algorithm, tolerant of floating-point weights (remainders below `epsilon` are zero). */
function gcd(a: number, b: number, epsilon: number): number {
  while (b > epsilon) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** The `round-robin` policy. */
export const roundRobin = defineBalancer({ tuning: {}, create: () => new RoundRobinBalancer() });
