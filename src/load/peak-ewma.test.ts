import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { Endpoint } from '../core/endpoint.js';
import { currentRtt, type Estimate, observeRtt, PeakEwma } from './peak-ewma.js';

const DECAY = 10_000;

/** A new endpoint's estimate: a 30 ms prior as of `now`. */
function endpoint(now = 0, prior = 30): Estimate {
  return new PeakEwma({
    decay: DECAY,
    initialRtt: prior,
    failurePenalty: 1_000,
    latencyTolerance: 2,
  }).estimate(new Endpoint({ url: 'http://10.0.0.1:80' }, now));
}

describe('observeRtt', () => {
  it('replaces the prior with the first sample, even a lower one', () => {
    const ep = endpoint(0, 500);
    expect(ep.measured).toBe(false);
    observeRtt(ep, 12, 0, DECAY);
    expect(ep.rtt).toBe(12);
    expect(ep.measured).toBe(true);
  });

  it('takes a higher sample at once (the peak)', () => {
    const clock = new ManualClock();
    const ep = endpoint();
    observeRtt(ep, 20, clock.now(), DECAY);
    clock.advance(1);
    observeRtt(ep, 900, clock.now(), DECAY);
    expect(ep.rtt).toBe(900);
    expect(ep.stamp).toBe(1);
  });

  it('blends a lower sample in with weight 1 - exp(-elapsed / decay)', () => {
    const clock = new ManualClock();
    const ep = endpoint();
    observeRtt(ep, 100, clock.now(), DECAY);
    clock.advance(DECAY);
    observeRtt(ep, 10, clock.now(), DECAY);
    const w = Math.exp(-1);
    expect(ep.rtt).toBeCloseTo(100 * w + 10 * (1 - w), 10);
    expect(ep.stamp).toBe(DECAY);
  });

  it('barely moves on a lower sample right after the last update', () => {
    const ep = endpoint();
    observeRtt(ep, 100, 0, DECAY);
    observeRtt(ep, 10, 0, DECAY);
    expect(ep.rtt).toBe(100);
    observeRtt(ep, 10, 1, DECAY);
    expect(ep.rtt).toBeGreaterThan(99.9);
    expect(ep.rtt).toBeLessThan(100);
  });

  it('converges to a steady lower latency', () => {
    const clock = new ManualClock();
    const ep = endpoint();
    observeRtt(ep, 500, 0, DECAY);
    for (let i = 0; i < 100; i++) {
      clock.advance(1_000);
      observeRtt(ep, 20, clock.now(), DECAY);
    }
    expect(ep.rtt).toBeCloseTo(20, 1);
  });

  it('treats a clock that went backwards as no elapsed time', () => {
    const ep = endpoint(100);
    observeRtt(ep, 50, 100, DECAY);
    observeRtt(ep, 10, 50, DECAY);
    expect(ep.rtt).toBe(50);
  });
});

describe('currentRtt', () => {
  it('decays toward zero as exp(-elapsed / decay), in place', () => {
    const clock = new ManualClock();
    const ep = endpoint();
    observeRtt(ep, 200, clock.now(), DECAY);
    clock.advance(DECAY);
    expect(currentRtt(ep, clock.now(), DECAY)).toBeCloseTo(200 * Math.exp(-1), 10);
    expect(ep.stamp).toBe(DECAY);
    clock.advance(DECAY);
    expect(currentRtt(ep, clock.now(), DECAY)).toBeCloseTo(200 * Math.exp(-2), 10);
  });

  it('gives the same value however often it is read', () => {
    const ep = endpoint();
    const other = endpoint();
    observeRtt(ep, 300, 0, DECAY);
    observeRtt(other, 300, 0, DECAY);
    for (let t = 1_000; t <= 20_000; t += 1_000) currentRtt(ep, t, DECAY);
    expect(currentRtt(ep, 20_000, DECAY)).toBeCloseTo(currentRtt(other, 20_000, DECAY), 9);
  });

  it('does not change on a read at the same time or earlier', () => {
    const ep = endpoint();
    observeRtt(ep, 80, 1_000, DECAY);
    expect(currentRtt(ep, 1_000, DECAY)).toBe(80);
    expect(currentRtt(ep, 500, DECAY)).toBe(80);
    expect(ep.stamp).toBe(1_000);
  });

  it('reaches (nearly) zero after many decay periods, and the prior decays too', () => {
    const ep = endpoint(0, 30);
    expect(currentRtt(ep, DECAY * 50, DECAY)).toBeLessThan(1e-15);
    const slow = endpoint();
    observeRtt(slow, 5_000, 0, DECAY);
    expect(currentRtt(slow, DECAY * 1_000, DECAY)).toBe(0);
  });

  it('a fresh peak after decay replaces the decayed estimate', () => {
    const ep = endpoint();
    observeRtt(ep, 100, 0, DECAY);
    currentRtt(ep, DECAY * 3, DECAY);
    observeRtt(ep, 40, DECAY * 3, DECAY);
    expect(ep.rtt).toBe(40);
  });
});

describe('PeakEwma load', () => {
  const tuning = { decay: DECAY, failurePenalty: 1_000, latencyTolerance: 2 };
  const ep = (i = 1) => new Endpoint({ url: `http://10.0.0.${i}:80` }, 0);

  it('probes an endpoint not yet measured: free while idle, out of the running while its probe is out', () => {
    const load = new PeakEwma(tuning);
    const fresh = ep();
    expect(load.cost(fresh, 0)).toBe(0);
    expect(load.latency(fresh, 0)).toBeUndefined();
    fresh.inFlight = 1;
    const measured = ep(2);
    load.observe(measured, 5_000, false, 0);
    // Costlier than even a 5 s endpoint, so no herd follows the probe.
    expect(load.cost(fresh, 0)).toBeGreaterThan(load.cost(measured, 0) * 1_000);
    fresh.inFlight = 0;
    load.observe(fresh, 0.4, false, 0);
    expect(load.cost(fresh, 0)).toBeCloseTo(0.4, 10);
    expect(load.latency(fresh, 0)).toBeCloseTo(0.4, 10);
  });

  it('uses the prior instead, when one is set', () => {
    const load = new PeakEwma({ ...tuning, initialRtt: 30 });
    const fresh = ep();
    expect(load.latency(fresh, 0)).toBe(30);
    fresh.inFlight = 2;
    expect(load.cost(fresh, 0)).toBeCloseTo(90, 6);
  });

  it('ranks latencies within the tolerance by load alone, others by latency times load', () => {
    const load = new PeakEwma(tuning);
    const [a, b, slow] = [ep(1), ep(2), ep(3)];
    load.observe(a, 0.3, false, 0);
    load.observe(b, 0.55, false, 0);
    load.observe(slow, 5, false, 0);
    // 0.3 and 0.55 ms are the same latency here: a tie, and then fewer in flight wins.
    expect(load.compare(a, b, 0)).toBe(0);
    a.inFlight = 1;
    expect(load.compare(a, b, 0)).toBeGreaterThan(0);
    // 10x slower is not the same latency, even with more in flight on the fast one.
    a.inFlight = 3;
    expect(load.compare(a, slow, 0)).toBeLessThan(0);
    // A strict tolerance compares the estimates themselves.
    const strict = new PeakEwma({ ...tuning, latencyTolerance: 1 });
    a.inFlight = 0;
    strict.observe(a, 0.3, false, 0);
    strict.observe(b, 0.55, false, 0);
    expect(strict.compare(a, b, 0)).toBeLessThan(0);
  });
});
