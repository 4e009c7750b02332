import { describe, expect, it } from 'vitest';
import type { Handler } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import { makeCall } from '../core/test-helpers.js';
import { limitsOption } from './options.js';
import { rateLimit, TokenBucket } from './rate.js';

/** Whether `options` is a valid rate limit. */
const valid = (options: unknown) => limitsOption.safeParse({ rate: options }).success;

const ok: Handler = async () => ({ status: 200 });

describe('token bucket', () => {
  it('allows a full burst at start, then refills at the rate from the clock', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ rate: 10, burst: 3 }, clock);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(bucket.waitMs()).toBe(100);
    clock.advance(99);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
    // A long quiet period refills only up to the burst.
    clock.advance(60_000);
    expect(bucket.tokens).toBe(3);
    expect(clock.pending).toBe(0);
  });

  it('holds the long-run rate to `rate` per second', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ rate: 50 }, clock);
    let allowed = 0;
    // 1,000 requests per second offered for 10 s, one per ms.
    for (let ms = 0; ms < 10_000; ms++) {
      if (bucket.tryTake()) allowed++;
      clock.advance(1);
    }
    // 50/s for 10 s, plus the initial burst of 50.
    expect(allowed).toBeGreaterThanOrEqual(549);
    expect(allowed).toBeLessThanOrEqual(551);
  });

  it('defaults the burst to the rate, at least 1', () => {
    const clock = new ManualClock();
    expect(new TokenBucket({ rate: 20 }, clock).tokens).toBe(20);
    const slow = new TokenBucket({ rate: 0.5 }, clock);
    expect([slow.tryTake(), slow.tryTake()]).toEqual([true, false]);
    expect(slow.waitMs()).toBe(2_000);
  });

  it('keeps earned tokens, capped, when reconfigured', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ rate: 10, burst: 10 }, clock);
    bucket.configure({ rate: 1, burst: 4 });
    expect(bucket.tokens).toBe(4);
    for (let i = 0; i < 4; i++) bucket.tryTake();
    clock.advance(1_000);
    expect(bucket.tokens).toBe(1);
  });
});

describe('rate limit filter', () => {
  it('refuses with MESH_RATE_LIMITED without calling the next handler', async () => {
    const clock = new ManualClock();
    let sent = 0;
    const send = rateLimit(new TokenBucket({ rate: 2, burst: 1 }, clock))(async () => {
      sent++;
      return { status: 200 };
    });
    await expect(send(makeCall({ service: 'users' }))).resolves.toEqual({ status: 200 });
    await expect(send(makeCall({ service: 'users' }))).rejects.toMatchObject({
      code: 'MESH_RATE_LIMITED',
      service: 'users',
      message: expect.stringContaining('next token in 500 ms'),
    });
    expect(sent).toBe(1);
    clock.advance(500);
    await expect(send(makeCall())).resolves.toEqual({ status: 200 });
  });

  it('passes failures through and spends the token anyway', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ rate: 1, burst: 1 }, clock);
    const failing: Handler = () => Promise.reject(new Error('refused'));
    await expect(rateLimit(bucket)(failing)(makeCall())).rejects.toThrow('refused');
    await expect(rateLimit(bucket)(ok)(makeCall())).rejects.toMatchObject({ code: 'MESH_RATE_LIMITED' });
  });

  it('validates its options', () => {
    expect(limitsOption.parse({ rate: { rate: 100, burst: 20 } }).rate).toEqual({ rate: 100, burst: 20 });
    expect(valid({})).toBe(false);
    expect(valid({ rate: 0 })).toBe(false);
    expect(valid({ rate: 1, burst: 0.5 })).toBe(false);
    expect(valid({ rate: Number.POSITIVE_INFINITY })).toBe(false);
  });
});
