/**
 * What one balancer pick costs, for every policy at 10, 1,000 and 10,000 endpoints: each
 * iteration makes 1,024 picks (half the keys repeat, so ring-hash's lookups are exercised), so
 * the time per pick is the iteration's time / 1,024. `npm run bench` reports these figures.
 */
import { bench, describe } from 'vitest';
import { systemClock } from '../core/clock.js';
import { EndpointPool } from '../core/pool.js';
import { endpointInfos, makeCall } from '../core/test-helpers.js';
import { BALANCER_POLICIES, BALANCERS } from './options.js';

/** Picks per iteration. */
const PICKS = 1_024;
const SIZES = [10, 1_000, 10_000];
/** `npm run bench -- --quick`: shorter runs. */
const QUICK = process.env.MESH_BENCH_QUICK === '1';
const calls = Array.from({ length: PICKS }, (_, i) => makeCall({ hashKey: `user-${i % 512}` }));

for (const policy of BALANCER_POLICIES) {
  describe(`pick ${policy}`, () => {
    for (const size of SIZES) {
      const pool = new EndpointPool('svc', systemClock);
      pool.update(endpointInfos(size));
      const balancer = BALANCERS[policy].create(
        { policy, decay: 10_000, failurePenalty: 1_000, latencyTolerance: 2 },
        { clock: systemClock, random: Math.random },
      );
      let sink = 0;
      bench(
        `${size} endpoints`,
        () => {
          for (let i = 0; i < PICKS; i++) sink += balancer.pick(pool, calls[i]!)!.inFlight;
          if (sink < 0) throw new Error('unreachable');
        },
        QUICK ? { time: 100, warmupTime: 30 } : { time: 300, warmupTime: 100 },
      );
    }
  });
}
