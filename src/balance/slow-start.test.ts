import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { EndpointPool } from '../core/pool.js';
import { seededRandom } from '../core/random.js';
import { countOf, endpointInfos, makeCall, tally } from '../core/test-helpers.js';
import { BALANCER_POLICIES, BALANCERS, loadBalancerOption } from './options.js';
import { SlowStart } from './slow-start.js';

const RAMP = { window: 10_000, aggression: 1, minWeightPercent: 10 };

/** A pool of 4 endpoints present from the start, and a fifth that joins at t = 60 s. */
function setup(policy: (typeof BALANCER_POLICIES)[number], ramp = RAMP) {
  const clock = new ManualClock();
  const pool = new EndpointPool('svc', clock);
  const infos = endpointInfos(5);
  pool.update(infos.slice(0, 4));
  const inner = BALANCERS[policy].create(
    { policy, decay: 10_000, failurePenalty: 1_000, latencyTolerance: 2 },
    { clock, random: seededRandom(11) },
  );
  const balancer = new SlowStart(inner, ramp, clock, seededRandom(12), () => pool.firstSetAt ?? -1);
  clock.advance(60_000);
  pool.update(infos);
  const fresh = pool.all[4]!;
  return { clock, pool, balancer, fresh };
}

describe('slow start', () => {
  it("scales a new endpoint's weight as Envoy does: max(min%, (t / window) ^ (1 / aggression)), t >= 1 s", () => {
    const { clock, balancer, fresh, pool } = setup('round-robin');
    expect(balancer.factor(pool.all[0]!)).toBe(1);
    expect(balancer.factor(fresh)).toBeCloseTo(0.1, 10);
    clock.advance(2_500);
    expect(balancer.factor(fresh)).toBeCloseTo(0.25, 10);
    clock.advance(2_500);
    expect(balancer.factor(fresh)).toBeCloseTo(0.5, 10);
    clock.advance(5_000);
    expect(balancer.factor(fresh)).toBe(1);
    const fast = setup('round-robin', { ...RAMP, aggression: 2 });
    fast.clock.advance(2_500);
    expect(fast.balancer.factor(fast.fresh)).toBeCloseTo(0.5, 10);
  });

  it.each(BALANCER_POLICIES)(
    '%s: the new endpoint takes about its ramped share, then its full share',
    (policy) => {
      const { clock, pool, balancer, fresh } = setup(policy);
      const share = () => {
        const call = makeCall();
        const counts = tally(balancer, pool, 20_000, call);
        return countOf(counts, fresh) / 20_000;
      };
      const hashed = policy === 'ring-hash';
      // At full weight a fifth of the traffic; ring-hash without keys spreads at random.
      const full = 0.2;
      clock.advance(1_000);
      const early = share();
      expect(early).toBeGreaterThan(full * 0.1 * 0.5);
      expect(early).toBeLessThan(full * 0.1 * 1.6);
      clock.advance(4_000);
      const middle = share();
      expect(middle).toBeGreaterThan(early);
      expect(middle).toBeLessThan(full * 0.5 * 1.3);
      clock.advance(5_000);
      expect(Math.abs(share() - full)).toBeLessThan(hashed ? 0.03 : 0.02);
    },
  );

  it('moves ring-hash keys to a new endpoint gradually, and then for good', () => {
    const { clock, pool, balancer, fresh } = setup('ring-hash');
    const keys = Array.from({ length: 5_000 }, (_, i) => `user-${i}`);
    const owned = () => keys.filter((k) => balancer.pick(pool, makeCall({ hashKey: k })) === fresh).length;
    clock.advance(1_000);
    const early = owned();
    clock.advance(9_000);
    const settled = owned();
    expect(early).toBeLessThan(settled * 0.2);
    // Settled, the same keys always go to it: consistent again.
    expect(owned()).toBe(settled);
    expect(settled).toBeGreaterThan(keys.length * 0.1);
  });

  it('leaves the first endpoint set warm, and is off by default', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool('svc', clock);
    pool.update(endpointInfos(3));
    const balancer = new SlowStart(
      BALANCERS.random.create({ policy: 'random' } as never, { clock, random: seededRandom(1) }),
      RAMP,
      clock,
      seededRandom(2),
      () => pool.firstSetAt ?? -1,
    );
    for (const ep of pool.all) expect(balancer.factor(ep)).toBe(1);
    expect(loadBalancerOption.parse('random')).toMatchObject({ slowStart: false });
    expect(loadBalancerOption.parse({ slowStart: { window: 30_000 } })).toMatchObject({
      slowStart: { window: 30_000, aggression: 1, minWeightPercent: 10 },
    });
    expect(loadBalancerOption.safeParse({ slowStart: {} }).success).toBe(false);
    expect(loadBalancerOption.safeParse({ slowStart: { window: 1, minWeightPercent: 101 } }).success).toBe(
      false,
    );
  });
});
