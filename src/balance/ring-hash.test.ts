import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import {
  countOf,
  endpointInfos,
  makeCall,
  makeContext,
  makePool,
  setReady,
  tally,
} from '../core/test-helpers.js';
import { hashString, RingHashBalancer } from './ring-hash.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function owners(ring: RingHashBalancer, pool: EndpointPool, keys = KEYS): Endpoint[] {
  return keys.map((hashKey) => ring.pick(pool, makeCall({ hashKey }))!);
}

describe('RingHashBalancer', () => {
  it('sends the same hashKey to the same endpoint, across picks and balancer instances', () => {
    const pool = makePool(10);
    const a = new RingHashBalancer(makeContext(41));
    const b = new RingHashBalancer(makeContext(42));
    const first = owners(a, pool);
    expect(owners(a, pool)).toEqual(first);
    expect(owners(b, pool)).toEqual(first);
  });

  it('spreads keys over the endpoints', () => {
    const pool = makePool(10);
    const byOwner = new Map<Endpoint, number>();
    for (const ep of owners(new RingHashBalancer(makeContext(43)), pool)) {
      byOwner.set(ep, (byOwner.get(ep) ?? 0) + 1);
    }
    expect(byOwner.size).toBe(10);
    for (const count of byOwner.values()) {
      expect(count).toBeGreaterThan(500);
      expect(count).toBeLessThan(1_600);
    }
  });

  it('gives keys in proportion to weight', () => {
    const pool = makePool(endpointInfos(2, (i) => (i === 0 ? 1 : 3)));
    const got = owners(new RingHashBalancer(makeContext(44)), pool);
    const heavy = got.filter((ep) => ep === pool.all[1]).length / got.length;
    expect(heavy).toBeGreaterThan(0.68);
    expect(heavy).toBeLessThan(0.82);
  });

  it('moves only the removed endpoint’s keys when one of 10 leaves', () => {
    const infos = endpointInfos(10);
    const pool = makePool(infos);
    const ring = new RingHashBalancer(makeContext(45));
    const before = owners(ring, pool);
    const gone = pool.all[4]!;
    pool.update(infos.filter((info) => info.url !== gone.url));
    const after = owners(ring, pool);

    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === gone) expect(after[i]).not.toBe(gone);
      else expect(after[i]).toBe(before[i]);
      if (after[i] !== before[i]) moved++;
    }
    expect(moved).toBeGreaterThan(0);
    expect(moved / KEYS.length).toBeLessThan(0.2);

    // Coming back, it takes exactly its old keys again.
    pool.update(infos);
    const back = owners(ring, pool).map((ep) => ep.id);
    expect(back).toEqual(before.map((ep) => ep.id));
  });

  it.each([2, 3, 6, 11, 100])('keeps every other key in place when one of %i endpoints leaves', (n) => {
    const infos = endpointInfos(n);
    const pool = makePool(infos);
    const ring = new RingHashBalancer(makeContext(n));
    const keys = KEYS.slice(0, 2_000);
    const before = owners(ring, pool, keys);
    const gone = pool.all[n - 1]!;
    pool.update(infos.slice(0, n - 1));
    const after = owners(ring, pool, keys);
    for (let i = 0; i < keys.length; i++) if (before[i] !== gone) expect(after[i]).toBe(before[i]);
  });

  it('moves only the keys a newly added endpoint takes', () => {
    const infos = endpointInfos(11);
    const pool = makePool(infos.slice(0, 10));
    const ring = new RingHashBalancer(makeContext(46));
    const before = owners(ring, pool);
    pool.update(infos);
    const added = pool.all[10]!;
    const after = owners(ring, pool);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] !== before[i]) {
        expect(after[i]).toBe(added);
        moved++;
      }
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.03);
    expect(moved / KEYS.length).toBeLessThan(0.2);
  });

  it('walks past endpoints that are not ready without moving other keys', () => {
    const pool = makePool(10);
    const ring = new RingHashBalancer(makeContext(47));
    const before = owners(ring, pool);
    const down = pool.all[6]!;
    setReady(pool, down, false);
    const during = owners(ring, pool);
    for (let i = 0; i < KEYS.length; i++) {
      expect(during[i]).not.toBe(down);
      if (before[i] !== down) expect(during[i]).toBe(before[i]);
    }
    setReady(pool, down, true);
    expect(owners(ring, pool)).toEqual(before);
  });

  it('walks past an endpoint this request already tried, to a ready untried one', () => {
    const pool = makePool(5);
    const ring = new RingHashBalancer(makeContext(48));
    for (const hashKey of KEYS.slice(0, 500)) {
      const first = ring.pick(pool, makeCall({ hashKey }))!;
      const second = ring.pick(pool, makeCall({ hashKey, tried: [first], attempt: 2 }))!;
      expect(second).not.toBe(first);
      // Deterministic: a retry of the same key goes to the same second choice.
      expect(ring.pick(pool, makeCall({ hashKey, tried: [first], attempt: 2 }))).toBe(second);
    }
  });

  it('spreads requests without a hashKey at random', () => {
    const pool = makePool(10);
    const counts = tally(new RingHashBalancer(makeContext(49)), pool, 10_000);
    for (const ep of pool.all) expect(Math.abs(countOf(counts, ep) - 1_000)).toBeLessThan(200);
  });

  it('builds a ring for 10,000 endpoints and looks keys up on it', () => {
    const pool = makePool(10_000);
    const ring = new RingHashBalancer(makeContext(50));
    const got = owners(ring, pool, KEYS.slice(0, 2_000));
    expect(new Set(got).size).toBeGreaterThan(1_500);
    expect(owners(ring, pool, KEYS.slice(0, 2_000))).toEqual(got);
  });

  it('hashString is stable and spreads nearby keys', () => {
    expect(hashString('user-1')).toBe(hashString('user-1'));
    expect(hashString('user-1')).not.toBe(hashString('user-2'));
    const h = hashString('');
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    const top = new Set(KEYS.slice(0, 1_000).map((k) => hashString(k) >>> 28));
    expect(top.size).toBe(16);
  });
});
