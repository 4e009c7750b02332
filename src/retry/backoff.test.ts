import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.js';
import { fullJitter } from './backoff.js';

const OPTIONS = { base: 25, cap: 250 };

describe('fullJitter', () => {
  it('stays within [0, min(cap, base * 2^(n-1))) for every retry', () => {
    const random = seededRandom(5);
    for (let retry = 1; retry <= 12; retry++) {
      const ceiling = Math.min(OPTIONS.cap, OPTIONS.base * 2 ** (retry - 1));
      let max = 0;
      for (let i = 0; i < 2_000; i++) {
        const delay = fullJitter(OPTIONS, retry, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceiling);
        max = Math.max(max, delay);
      }
      // Full jitter uses the whole range, not just its lower part.
      expect(max).toBeGreaterThan(ceiling * 0.95);
    }
  });

  it('doubles the ceiling each retry until the cap', () => {
    const top = () => 1 - 2 ** -53;
    expect(fullJitter(OPTIONS, 1, top)).toBeCloseTo(25, 6);
    expect(fullJitter(OPTIONS, 2, top)).toBeCloseTo(50, 6);
    expect(fullJitter(OPTIONS, 3, top)).toBeCloseTo(100, 6);
    expect(fullJitter(OPTIONS, 4, top)).toBeCloseTo(200, 6);
    expect(fullJitter(OPTIONS, 5, top)).toBeCloseTo(250, 6);
    expect(fullJitter(OPTIONS, 60, top)).toBeCloseTo(250, 6);
  });

  it('can retry at once (the low end of the range)', () => {
    expect(fullJitter(OPTIONS, 3, () => 0)).toBe(0);
  });

  it('is uniform: the mean is about half the ceiling', () => {
    const random = seededRandom(6);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += fullJitter(OPTIONS, 3, random);
    expect(sum / 20_000).toBeCloseTo(50, 0);
  });

  it('is zero with a zero base or cap', () => {
    const random = seededRandom(7);
    expect(fullJitter({ base: 0, cap: 250 }, 4, random)).toBe(0);
    expect(fullJitter({ base: 25, cap: 0 }, 4, random)).toBe(0);
  });
});
