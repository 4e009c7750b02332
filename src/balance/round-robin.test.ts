import { describe, expect, it } from 'vitest';
import { countOf, endpointInfos, makeCall, makePool, setReady, tally } from '../core/test-helpers.js';
import { RoundRobinBalancer } from './round-robin.js';

describe('RoundRobinBalancer', () => {
  it('rotates through equal weights exactly evenly, in order', () => {
    const pool = makePool(5);
    const rr = new RoundRobinBalancer();
    const order = Array.from({ length: 10 }, () => rr.pick(pool, makeCall()));
    expect(order).toEqual([...pool.ready, ...pool.ready]);
    const counts = tally(rr, pool, 1_000);
    for (const ep of pool.all) expect(countOf(counts, ep)).toBe(200);
  });

  it('treats equal non-unit weights as a plain rotation', () => {
    const pool = makePool(endpointInfos(3, () => 7));
    const counts = tally(new RoundRobinBalancer(), pool, 300);
    for (const ep of pool.all) expect(countOf(counts, ep)).toBe(100);
  });

  it('gives weights 1:2:3 shares of exactly 100/200/300 over 600 picks', () => {
    const pool = makePool(endpointInfos(3, (i) => i + 1));
    const counts = tally(new RoundRobinBalancer(), pool, 600);
    expect(pool.all.map((ep) => countOf(counts, ep))).toEqual([100, 200, 300]);
  });

  it('is exact whatever the order of the weights', () => {
    const pool = makePool(endpointInfos(3, (i) => 3 - i));
    const counts = tally(new RoundRobinBalancer(), pool, 600);
    expect(pool.all.map((ep) => countOf(counts, ep))).toEqual([300, 200, 100]);
  });

  it('gives weights that are not multiples of the smallest their proportional share (2:3)', () => {
    const pool = makePool(endpointInfos(2, (i) => (i === 0 ? 2 : 3)));
    const counts = tally(new RoundRobinBalancer(), pool, 1_000);
    expect(pool.all.map((ep) => countOf(counts, ep))).toEqual([400, 600]);
  });

  it('handles fractional weights (1:1.5 and 0.1:0.3)', () => {
    let pool = makePool(endpointInfos(2, (i) => (i === 0 ? 1 : 1.5)));
    let counts = tally(new RoundRobinBalancer(), pool, 1_000);
    expect(pool.all.map((ep) => countOf(counts, ep))).toEqual([400, 600]);

    pool = makePool(endpointInfos(2, (i) => (i === 0 ? 0.1 : 0.3)));
    counts = tally(new RoundRobinBalancer(), pool, 1_000);
    expect(pool.all.map((ep) => countOf(counts, ep))).toEqual([250, 750]);
  });

  it('stays within 1% of the weights when they share no usable unit', () => {
    const pool = makePool(endpointInfos(2, (i) => (i === 0 ? 1 : Math.PI)));
    const counts = tally(new RoundRobinBalancer(), pool, 41_416);
    const share = countOf(counts, pool.all[1]!) / 41_416;
    expect(Math.abs(share - Math.PI / (1 + Math.PI))).toBeLessThan(0.01);
  });

  it('interleaves the heavy endpoint instead of sending it a burst', () => {
    const pool = makePool(endpointInfos(3, (i) => (i === 2 ? 3 : 1)));
    const rr = new RoundRobinBalancer();
    const heavy = pool.all[2]!;
    let run = 0;
    let longest = 0;
    for (let i = 0; i < 500; i++) {
      run = rr.pick(pool, makeCall()) === heavy ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeLessThanOrEqual(3);
  });

  it('keeps ready endpoints proportional when the heaviest is not ready', () => {
    const pool = makePool(endpointInfos(3, (i) => (i === 2 ? 10 : 1)));
    setReady(pool, pool.all[2]!, false);
    const counts = tally(new RoundRobinBalancer(), pool, 1_000);
    expect(countOf(counts, pool.all[0]!)).toBe(500);
    expect(countOf(counts, pool.all[1]!)).toBe(500);
    expect(countOf(counts, pool.all[2]!)).toBe(0);
  });

  it('keeps weighted shares among the ready endpoints after ejections', () => {
    const pool = makePool(endpointInfos(4, (i) => [1, 2, 8, 8][i]!));
    setReady(pool, pool.all[2]!, false);
    setReady(pool, pool.all[3]!, false);
    const counts = tally(new RoundRobinBalancer(), pool, 900);
    expect(countOf(counts, pool.all[0]!)).toBe(300);
    expect(countOf(counts, pool.all[1]!)).toBe(600);
  });

  it('rebalances when weights change', () => {
    const pool = makePool(endpointInfos(2));
    const rr = new RoundRobinBalancer();
    expect(pool.all.map((ep) => countOf(tally(rr, pool, 100), ep))).toEqual([50, 50]);
    pool.update(endpointInfos(2, (i) => (i === 0 ? 1 : 4)));
    const counts = tally(rr, pool, 1_000);
    expect(countOf(counts, pool.all[0]!)).toBeGreaterThanOrEqual(199);
    expect(countOf(counts, pool.all[0]!)).toBeLessThanOrEqual(201);
  });

  it('keeps going when the ready list shrinks mid-cycle', () => {
    const pool = makePool(endpointInfos(4, (i) => i + 1));
    const rr = new RoundRobinBalancer();
    for (let i = 0; i < 7; i++) rr.pick(pool, makeCall());
    setReady(pool, pool.all[3]!, false);
    setReady(pool, pool.all[0]!, false);
    for (let i = 0; i < 100; i++) {
      const ep = rr.pick(pool, makeCall());
      expect([pool.all[1], pool.all[2]]).toContain(ep);
    }
  });
});
