import { describe, expect, it } from 'vitest';
import { RingHashBalancer } from '../balance/ring-hash.js';
import { RoundRobinBalancer } from '../balance/round-robin.js';
import { ManualClock } from '../core/clock.js';
import type { Endpoint, EndpointInfo } from '../core/endpoint.js';
import { EndpointHold } from '../core/endpoint.js';
import { makeCall, makeContext, makePool, setReady } from '../core/test-helpers.js';

const OUTLIER = new EndpointHold('test-outlier');

import { seededRandom } from '../core/random.js';
import { type Subset, SubsetCache, selectorLabel, selects } from './subsets.js';

const url = (i: number) => `http://10.0.1.${i}:80`;

/** Endpoints 0..n-1: even ones `version: v1` in meta, odd ones tagged `version=v2`. */
function versioned(n: number): EndpointInfo[] {
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? { url: url(i), meta: { version: 'v1', zone: 'a' } }
      : { url: url(i), tags: ['version=v2', 'x'] },
  );
}

/** The subset's lists agree with the pool's, filtered. */
function expectInStep(subset: Subset, pool: ReturnType<typeof makePool>) {
  const members = pool.all.filter(subset.includes);
  expect([...subset.all]).toEqual(members);
  expect(new Set(subset.ready)).toEqual(new Set(members.filter((ep) => ep.readyIndex >= 0)));
  expect(subset.ready.length).toBe(new Set(subset.ready).size);
}

describe('selectors', () => {
  it('match metadata or key=value tags, every key', () => {
    const pool = makePool(versioned(2));
    const [v1, v2] = pool.all as Endpoint[];
    expect(selects(v1!, { version: 'v1' })).toBe(true);
    expect(selects(v2!, { version: 'v2' })).toBe(true);
    expect(selects(v2!, { version: 'v1' })).toBe(false);
    expect(selects(v1!, { version: 'v1', zone: 'a' })).toBe(true);
    expect(selects(v1!, { version: 'v1', zone: 'b' })).toBe(false);
    expect(selects(v2!, {})).toBe(true);
    expect(selectorLabel({ zone: 'a', version: 'v2' })).toBe('version=v2,zone=a');
    expect(selectorLabel({})).toBe('*');
  });
});

describe('Subset', () => {
  it('holds the matching endpoints and follows their readiness', () => {
    const pool = makePool(versioned(6));
    const subsets = new SubsetCache(pool);
    const v2 = subsets.of({ version: 'v2' });
    expect(v2.all.map((ep) => ep.url)).toEqual([url(1), url(3), url(5)]);
    expect(v2.ready).toHaveLength(3);
    const [a, b] = v2.all as Endpoint[];
    setReady(pool, a!, false);
    pool.hold(b!, OUTLIER, true);
    expect(new Set(v2.ready)).toEqual(new Set([v2.all[2]]));
    // Changes to endpoints outside the subset do not touch it.
    setReady(pool, pool.all[0]!, false);
    expect(v2.ready).toHaveLength(1);
    setReady(pool, a!, true);
    pool.hold(b!, OUTLIER, false);
    expect(v2.ready).toHaveLength(3);
    expectInStep(v2, pool);
    expect(subsets.of({ version: 'v2' })).toBe(v2);
  });

  it('rebuilds membership when discovery changes the set, with a new version', () => {
    const pool = makePool(versioned(4));
    const v2 = new SubsetCache(pool).of({ version: 'v2' });
    const before = v2.version;
    expect(before).toBeLessThan(0);
    expect(v2.version).toBe(before);
    pool.update([...versioned(4).slice(0, 3), { url: url(4), meta: { version: 'v2' } }]);
    expect(v2.all.map((ep) => ep.url)).toEqual([url(1), url(4)]);
    expect(v2.version).not.toBe(before);
    expectInStep(v2, pool);
  });

  it('stays in step with the pool through random updates, breaker and hold changes', () => {
    const random = seededRandom(99);
    const pool = makePool([]);
    const cache = new SubsetCache(pool);
    const subsets = [cache.of({ version: 'v1' }), cache.of({ version: 'v2' }), cache.of({ zone: 'a' })];
    const seen: Endpoint[] = [];
    for (let step = 0; step < 2_000; step++) {
      const op = random();
      if (op < 0.1) {
        const infos = versioned(30).filter(() => random() < 0.7);
        // Some endpoints change version between pushes.
        for (const info of infos) if (random() < 0.1) info.meta = { version: 'v2' };
        seen.push(...pool.update(infos).added);
      } else if (seen.length > 0) {
        const ep = seen[(random() * seen.length) | 0]!;
        if (op < 0.55) setReady(pool, ep, random() < 0.5);
        else pool.hold(ep, OUTLIER, random() < 0.5);
      }
      // Reading only now and then: the subsets must catch up however many changes they missed.
      if (random() < 0.3) for (const s of subsets) expectInStep(s, pool);
    }
    for (const s of subsets) expectInStep(s, pool);
  });

  it('is a view balancers pick from, with no endpoint outside it', () => {
    const pool = makePool(versioned(10));
    const v1 = new SubsetCache(pool, () => new RoundRobinBalancer()).of({ version: 'v1' });
    const picked = new Set<string>();
    for (let i = 0; i < 50; i++) picked.add(v1.picker!.pick(v1, makeCall())!.url);
    expect([...picked].sort()).toEqual(v1.all.map((ep) => ep.url).sort());

    const ring = new RingHashBalancer(makeContext());
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    for (const key of keys) expect(v1.all).toContain(ring.pick(v1, makeCall({ hashKey: key })));
    // The same balancer over the whole pool still gives the pool's answers (versions never collide).
    const all = new Set(keys.map((key) => ring.pick(pool, makeCall({ hashKey: key }))!.url));
    expect(all.size).toBeGreaterThan(v1.all.length);
  });

  it('stops following the pool when closed', () => {
    const pool = makePool(versioned(4), new ManualClock());
    const cache = new SubsetCache(pool);
    const v1 = cache.of({ version: 'v1' });
    expect(v1.ready).toHaveLength(2);
    cache.close();
    setReady(pool, pool.all[0]!, false);
    expect(v1.ready).toHaveLength(2);
  });
});
