/** The contract every balancer keeps, plus the shared sampling helpers. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.js';
import { endpointInfos, makeCall, makeContext, makePool, setReady, tally } from '../core/test-helpers.js';
import { type Balancer, untriedFrom, weightedIndex } from './balancer.js';
import { BALANCER_POLICIES, BALANCERS, type BalancerPolicy } from './options.js';

function build(policy: BalancerPolicy, seed = 7): Balancer {
  return BALANCERS[policy].create(
    { policy, decay: 10_000, failurePenalty: 1_000, latencyTolerance: 2 },
    makeContext(seed),
  );
}

it('registers the policies the library documents (and any added since)', () => {
  expect(BALANCER_POLICIES).toEqual(
    expect.arrayContaining(['peak-ewma', 'least-request', 'round-robin', 'random', 'ring-hash']),
  );
});

/** Calls with and without a hash key, so ring-hash is checked on both of its paths. */
const callShapes = [
  { name: 'no hashKey', hashKey: () => undefined },
  { name: 'with hashKey', hashKey: (i: number) => `key-${i}` },
];

// Every registered policy keeps the contract: a new one is checked without a line here.
describe.each(BALANCER_POLICIES)('%s balancer contract', (policy) => {
  it('returns undefined when nothing is ready', () => {
    const balancer = build(policy);
    expect(balancer.pick(makePool(0), makeCall())).toBeUndefined();
    expect(balancer.pick(makePool(0), makeCall({ hashKey: 'k' }))).toBeUndefined();

    const pool = makePool(3);
    for (const ep of pool.all) setReady(pool, ep, false);
    expect(pool.ready).toHaveLength(0);
    expect(balancer.pick(pool, makeCall())).toBeUndefined();
    expect(balancer.pick(pool, makeCall({ hashKey: 'k' }))).toBeUndefined();
  });

  it('returns the only ready endpoint', () => {
    const pool = makePool(5);
    for (const ep of pool.all.slice(1)) setReady(pool, ep, false);
    const balancer = build(policy);
    for (let i = 0; i < 50; i++) {
      expect(balancer.pick(pool, makeCall({ hashKey: i % 2 ? `k${i}` : undefined }))).toBe(pool.all[0]);
    }
  });

  it.each(callShapes)('never picks an endpoint that is not ready ($name)', ({ hashKey }) => {
    const pool = makePool(endpointInfos(10, (i) => 1 + (i % 3)));
    const out = new Set([pool.all[0]!, pool.all[4]!, pool.all[9]!]);
    for (const ep of out) setReady(pool, ep, false);
    const balancer = build(policy);
    const seen = new Set<unknown>();
    for (let i = 0; i < 3_000; i++) {
      const ep = balancer.pick(pool, makeCall({ hashKey: hashKey(i) }));
      expect(ep).toBeDefined();
      expect(out.has(ep!)).toBe(false);
      seen.add(ep);
    }
    // Every ready endpoint still gets traffic.
    expect(seen.size).toBe(7);
  });

  it.each(callShapes)('prefers an untried endpoint when one is ready ($name)', ({ hashKey }) => {
    const pool = makePool(endpointInfos(6, (i) => (i === 0 ? 5 : 1)));
    const balancer = build(policy);
    const tried = [pool.all[0]!, pool.all[1]!, pool.all[2]!, pool.all[3]!];
    for (let i = 0; i < 2_000; i++) {
      const ep = balancer.pick(pool, makeCall({ tried, attempt: 2, hashKey: hashKey(i) }));
      expect(tried).not.toContain(ep);
    }
  });

  it('prefers the single untried endpoint, and falls back to a tried one when all were tried', () => {
    const pool = makePool(4);
    const balancer = build(policy);
    const tried = pool.all.slice(0, 3);
    for (let i = 0; i < 200; i++) {
      expect(balancer.pick(pool, makeCall({ tried, hashKey: i % 2 ? `k${i}` : undefined }))).toBe(
        pool.all[3],
      );
    }
    const all = [...pool.all];
    for (let i = 0; i < 200; i++) {
      expect(all).toContain(
        balancer.pick(pool, makeCall({ tried: all, hashKey: i % 2 ? `k${i}` : undefined })),
      );
    }
  });

  it('skips tried endpoints that are also not ready', () => {
    const pool = makePool(5);
    const balancer = build(policy);
    setReady(pool, pool.all[4]!, false);
    const tried = [pool.all[0]!, pool.all[1]!, pool.all[2]!];
    for (let i = 0; i < 200; i++) {
      expect(balancer.pick(pool, makeCall({ tried, hashKey: i % 2 ? `k${i}` : undefined }))).toBe(
        pool.all[3],
      );
    }
  });

  it.each([10, 1_000, 10_000])('picks from %i endpoints', (n) => {
    const pool = makePool(endpointInfos(n, (i) => 1 + (i % 4)));
    const balancer = build(policy);
    const seen = new Set<unknown>();
    for (let i = 0; i < 2_000; i++) {
      const ep = balancer.pick(pool, makeCall({ hashKey: i % 2 ? `user-${i}` : undefined }));
      expect(ep).toBeDefined();
      expect(ep!.readyIndex).toBeGreaterThanOrEqual(0);
      seen.add(ep);
    }
    expect(seen.size).toBeGreaterThan(Math.min(n, 2_000) / 4);
  });

  it('follows membership changes', () => {
    const pool = makePool(4);
    const balancer = build(policy);
    const counts = tally(balancer, pool, 400);
    expect([...counts.values()].every((c) => c > 0)).toBe(true);
    const gone = pool.all[1]!;
    pool.update(endpointInfos(4).filter((info) => info.url !== gone.url));
    for (let i = 0; i < 400; i++) {
      expect(balancer.pick(pool, makeCall({ hashKey: i % 2 ? `k${i}` : undefined }))).not.toBe(gone);
    }
  });
});

describe('weightedIndex', () => {
  it('is uniform over equal weights', () => {
    const pool = makePool(4);
    const random = seededRandom(3);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[weightedIndex(pool, random)]!++;
    for (const c of counts) expect(c / 40_000).toBeCloseTo(0.25, 1);
  });

  it('draws in proportion to weight', () => {
    const pool = makePool(endpointInfos(3, (i) => i + 1));
    const random = seededRandom(4);
    const counts = [0, 0, 0];
    for (let i = 0; i < 60_000; i++) counts[weightedIndex(pool, random)]!++;
    expect(Math.abs(counts[0]! / 60_000 - 1 / 6)).toBeLessThan(0.01);
    expect(Math.abs(counts[1]! / 60_000 - 2 / 6)).toBeLessThan(0.01);
    expect(Math.abs(counts[2]! / 60_000 - 3 / 6)).toBeLessThan(0.01);
  });
});

describe('untriedFrom', () => {
  it('returns the candidate when it was not tried', () => {
    const pool = makePool(3);
    expect(untriedFrom(pool, 1, makeCall({ tried: [pool.ready[0]!] }))).toBe(pool.ready[1]);
  });

  it('walks forward, wrapping, to the first untried endpoint', () => {
    const pool = makePool(4);
    const r = pool.ready;
    expect(untriedFrom(pool, 2, makeCall({ tried: [r[2]!, r[3]!] }))).toBe(r[0]);
    expect(untriedFrom(pool, 3, makeCall({ tried: [r[3]!, r[0]!, r[1]!] }))).toBe(r[2]);
  });

  it('returns the candidate when every ready endpoint was tried', () => {
    const pool = makePool(3);
    expect(untriedFrom(pool, 2, makeCall({ tried: [...pool.ready] }))).toBe(pool.ready[2]);
  });
});
