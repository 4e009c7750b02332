import { describe, expect, it } from 'vitest';
import { countOf, endpointInfos, makeCall, makeContext, makePool, tally } from '../core/test-helpers.js';
import { PendingRequests } from '../load/load.js';
import type { BalancerContext } from './balancer.js';
import { P2C } from './p2c.js';

/** The least-request balancer: P2C on requests in flight. */
class LeastRequestBalancer extends P2C {
  constructor(ctx: BalancerContext) {
    super(new PendingRequests(), ctx);
  }
}

describe('least-request (P2C on requests in flight)', () => {
  it('spreads evenly when nothing is in flight', () => {
    const pool = makePool(5);
    const counts = tally(new LeastRequestBalancer(makeContext(21)), pool, 10_000);
    for (const ep of pool.all) expect(Math.abs(countOf(counts, ep) - 2_000)).toBeLessThan(250);
  });

  it('starves an endpoint with many requests in flight', () => {
    const pool = makePool(5);
    const busy = pool.all[2]!;
    busy.inFlight = 50;
    const counts = tally(new LeastRequestBalancer(makeContext(22)), pool, 10_000);
    expect(countOf(counts, busy)).toBeLessThan(10);
  });

  it('prefers fewer in flight in every pair it compares', () => {
    const pool = makePool(2);
    pool.all[0]!.inFlight = 1;
    const lr = new LeastRequestBalancer(makeContext(23));
    for (let i = 0; i < 200; i++) expect(lr.pick(pool, makeCall())).toBe(pool.all[1]);
  });

  it('tracks load as it changes: the picked endpoint gets busier', () => {
    const pool = makePool(4);
    const lr = new LeastRequestBalancer(makeContext(24));
    // Never release: P2C keeps the in-flight counts within a small spread.
    for (let i = 0; i < 400; i++) lr.pick(pool, makeCall())!.inFlight++;
    const loads = pool.all.map((ep) => ep.inFlight);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(3);
  });

  it('divides load by weight (weighted least request)', () => {
    const pool = makePool(endpointInfos(2, (i) => (i === 0 ? 1 : 3)));
    for (const ep of pool.all) ep.inFlight = 2;
    const lr = new LeastRequestBalancer(makeContext(25));
    // cost = (inFlight + 1) / weight: 3 for the light one, 1 for the heavy one.
    for (let i = 0; i < 100; i++) expect(lr.pick(pool, makeCall())).toBe(pool.all[1]);
  });

  it('prefers the untried endpoint even when it is busier', () => {
    const pool = makePool(2);
    pool.all[1]!.inFlight = 100;
    const lr = new LeastRequestBalancer(makeContext(26));
    const call = makeCall({ tried: [pool.all[0]!], attempt: 2 });
    for (let i = 0; i < 100; i++) expect(lr.pick(pool, call)).toBe(pool.all[1]);
  });
});
