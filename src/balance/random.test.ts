import { describe, expect, it } from 'vitest';
import {
  countOf,
  endpointInfos,
  makeCall,
  makeContext,
  makePool,
  setReady,
  tally,
} from '../core/test-helpers.js';
import { RandomBalancer } from './random.js';

const PICKS = 30_000;

describe('RandomBalancer', () => {
  it('spreads equal weights evenly (within statistical bounds)', () => {
    const pool = makePool(10);
    const counts = tally(new RandomBalancer(makeContext(11)), pool, PICKS);
    // Binomial sd at p = 0.1 over 30k picks is ~52; allow ~6 sd.
    for (const ep of pool.all) expect(Math.abs(countOf(counts, ep) - 3_000)).toBeLessThan(300);
  });

  it('gives weights 1:2:3 shares proportional to weight', () => {
    const pool = makePool(endpointInfos(3, (i) => i + 1));
    const counts = tally(new RandomBalancer(makeContext(12)), pool, PICKS);
    const expected = [5_000, 10_000, 15_000];
    // sd is at most ~87 picks here; allow ~5 sd.
    pool.all.forEach((ep, i) => {
      expect(Math.abs(countOf(counts, ep) - expected[i]!)).toBeLessThan(450);
    });
  });

  it('keeps weighted shares among the ready endpoints when some are not ready', () => {
    const pool = makePool(endpointInfos(4, (i) => [1, 3, 10, 1][i]!));
    setReady(pool, pool.all[2]!, false);
    const counts = tally(new RandomBalancer(makeContext(13)), pool, PICKS);
    expect(countOf(counts, pool.all[2]!)).toBe(0);
    expect(Math.abs(countOf(counts, pool.all[0]!) - 6_000)).toBeLessThan(400);
    expect(Math.abs(countOf(counts, pool.all[1]!) - 18_000)).toBeLessThan(400);
    expect(Math.abs(countOf(counts, pool.all[3]!) - 6_000)).toBeLessThan(400);
  });

  it('gives one heavy endpoint among many light ones its full share', () => {
    // 100 endpoints of weight 1 and one of weight 100: the heavy one should get half the picks.
    const pool = makePool(endpointInfos(101, (i) => (i === 100 ? 100 : 1)));
    const counts = tally(new RandomBalancer(makeContext(14)), pool, PICKS);
    expect(Math.abs(countOf(counts, pool.all[100]!) - 15_000)).toBeLessThan(450);
  });

  it('is reproducible with the same seed', () => {
    const pool = makePool(8);
    const a = new RandomBalancer(makeContext(99));
    const b = new RandomBalancer(makeContext(99));
    for (let i = 0; i < 100; i++) expect(a.pick(pool, makeCall())).toBe(b.pick(pool, makeCall()));
  });
});
