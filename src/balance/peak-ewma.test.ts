import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import { countOf, endpointInfos, makeCall, makeContext, makePool, tally } from '../core/test-helpers.js';
import { observeRtt as observeEstimate, PeakEwma } from '../load/peak-ewma.js';
import type { BalancerContext } from './balancer.js';
import { P2C } from './p2c.js';

const DECAY = 10_000;
const PENALTY = 1_000;

/** Peak-EWMA's state: its estimates, keyed by endpoint, shared by every balancer below. */
let load = new PeakEwma({ decay: DECAY, initialRtt: 30, failurePenalty: PENALTY, latencyTolerance: 2 });

/** A peak-ewma balancer (P2C over the Peak-EWMA load) with the given prior. */
function peakEwma(ctx: BalancerContext, initialRtt = 30) {
  load = new PeakEwma({ decay: DECAY, initialRtt, failurePenalty: PENALTY, latencyTolerance: 2 });
  return new P2C(load, ctx);
}

/** Record a reply of `ms` from `ep` at `now` in its estimate. */
function observeRtt(ep: Endpoint, ms: number, now: number, decay: number) {
  observeEstimate(load.estimate(ep), ms, now, decay);
}

function setup(n: number, seed: number) {
  const ctx = makeContext(seed);
  const pool = makePool(n, ctx.clock);
  const balancer = peakEwma(ctx);
  return { ctx, clock: ctx.clock, pool, balancer };
}

/** Every endpoint except `skip` answers in `ms` now. */
function observeAll(pool: EndpointPool, ms: number, now: number, skip?: Endpoint) {
  for (const ep of pool.all) if (ep !== skip) observeRtt(ep, ms, now, DECAY);
}

describe('PeakEwmaBalancer', () => {
  it('spreads evenly over equally fast endpoints', () => {
    const { pool, balancer, clock } = setup(5, 31);
    observeAll(pool, 20, clock.now());
    const counts = tally(balancer, pool, 10_000);
    for (const ep of pool.all) expect(Math.abs(countOf(counts, ep) - 2_000)).toBeLessThan(250);
  });

  it('sends a slow endpoint a small share', () => {
    const { pool, balancer, clock } = setup(10, 32);
    const slow = pool.all[3]!;
    observeAll(pool, 20, clock.now(), slow);
    observeRtt(slow, 400, clock.now(), DECAY);
    expect(load.estimate(slow).measured).toBe(true);
    const counts = tally(balancer, pool, 10_000);
    // P2C never picks the costlier of two distinct endpoints: the slow one loses every pair.
    expect(countOf(counts, slow)).toBeLessThan(100);
  });

  it('sends an endpoint failing fast (recorded with the failure penalty) a small share', () => {
    const { pool, balancer, clock } = setup(10, 33);
    const failing = pool.all[7]!;
    observeAll(pool, 20, clock.now(), failing);
    // A 2 ms 503 is recorded as the penalty, so it does not look like the fastest endpoint.
    observeRtt(failing, Math.max(2, PENALTY), clock.now(), DECAY);
    const counts = tally(balancer, pool, 10_000);
    expect(countOf(counts, failing)).toBeLessThan(100);
  });

  it('weighs latency against requests in flight', () => {
    const { pool, balancer, clock } = setup(2, 34);
    const [fast, slow] = [pool.all[0]!, pool.all[1]!];
    observeRtt(fast, 10, clock.now(), DECAY);
    observeRtt(slow, 30, clock.now(), DECAY);
    // cost = rtt x (inFlight + 1): 10 x 6 = 60 against 30 x 1 = 30.
    fast.inFlight = 5;
    for (let i = 0; i < 50; i++) expect(balancer.pick(pool, makeCall())).toBe(slow);
    fast.inFlight = 1;
    for (let i = 0; i < 50; i++) expect(balancer.pick(pool, makeCall())).toBe(fast);
  });

  it('ranks by load once every estimate has decayed to zero', () => {
    const { pool, balancer, clock } = setup(2, 35);
    observeAll(pool, 50, clock.now());
    clock.advance(DECAY * 1_000);
    pool.all[0]!.inFlight = 3;
    for (let i = 0; i < 50; i++) expect(balancer.pick(pool, makeCall())).toBe(pool.all[1]);
  });

  it('probes a once-slow endpoint again after its estimate decays', () => {
    const { pool, balancer, clock } = setup(10, 36);
    const slow = pool.all[0]!;
    observeAll(pool, 20, clock.now(), slow);
    observeRtt(slow, 1_000, clock.now(), DECAY);
    expect(countOf(tally(balancer, pool, 2_000), slow)).toBe(0);

    // The others keep answering in 20 ms; the slow one gets no traffic, so only decay moves it.
    for (let t = 0; t < 6; t++) {
      clock.advance(DECAY);
      observeAll(pool, 20, clock.now(), slow);
    }
    // 1000 x e^-6 ~ 2.5 ms < 20 ms: it now wins every pair it is drawn into (~2/10 of picks).
    const share = countOf(tally(balancer, pool, 10_000), slow) / 10_000;
    expect(share).toBeGreaterThan(0.1);
  });

  it('treats weight as capacity', () => {
    const ctx = makeContext(37);
    const pool = makePool(
      endpointInfos(2, (i) => (i === 0 ? 1 : 4)),
      ctx.clock,
    );
    const balancer = peakEwma(ctx);
    observeRtt(pool.all[0]!, 20, 0, DECAY);
    observeRtt(pool.all[1]!, 40, 0, DECAY);
    // 20 / 1 against 40 / 4: the heavy endpoint is cheaper.
    for (let i = 0; i < 50; i++) expect(balancer.pick(pool, makeCall())).toBe(pool.all[1]);
  });

  it('uses the configured prior for endpoints not yet measured', () => {
    const ctx = makeContext(38);
    const pool = makePool(2, ctx.clock);
    const balancer = peakEwma(ctx, 500);
    observeRtt(pool.all[0]!, 100, 0, DECAY);
    // The measured 100 ms beats the 500 ms prior.
    for (let i = 0; i < 50; i++) expect(balancer.pick(pool, makeCall())).toBe(pool.all[0]);
  });
});
