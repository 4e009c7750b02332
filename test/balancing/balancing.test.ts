/**
 * The balancers proven on the simulation (deterministic: seeded random sources, a virtual clock,
 * no sockets): an even share for equal endpoints at light load, new endpoints probed at once and
 * given their share, degraded ones shunned, and the published shape of Finagle's comparison.
 * docs/benchmarks.md shows the same runs; this fails when that table is stale.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BalancerPolicy } from '../../src/balance/options.js';
import { renderSimulationTable, runScenario } from './scenarios.js';
import { type SimBackend, simulate } from './simulation.js';

const equal = (n: number, sigma = 0.5): SimBackend[] =>
  Array.from({ length: n }, (_, i) => ({ name: `e${i}`, behaviour: { kind: 'ok', medianMs: 0.5, sigma } }));
const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const LOAD_AWARE: BalancerPolicy[] = ['peak-ewma', 'least-request'];

describe('light sequential load', () => {
  it.each(LOAD_AWARE)('%s gives each of three equal endpoints at least 20% of 300 requests', (policy) => {
    let worst = 1;
    let most = 0;
    for (const seed of SEEDS) {
      const r = simulate({
        backends: equal(3),
        policy,
        clients: 1,
        concurrency: 1,
        requests: 300,
        timeoutMs: 1_000,
        seed,
      });
      worst = Math.min(worst, ...Object.values(r.share));
      most = Math.max(most, ...Object.values(r.share));
    }
    console.log(
      `${policy}: shares of 3 equal endpoints over ${SEEDS.length} seeds: ${(worst * 100).toFixed(1)}% to ${(most * 100).toFixed(1)}%`,
    );
    expect(worst).toBeGreaterThanOrEqual(0.2);
    expect(most).toBeLessThanOrEqual(0.5);
  });

  it.each(LOAD_AWARE)(
    '%s probes a fourth endpoint added to a running fleet and gives it at least 15% of the next 400',
    (policy) => {
      let worst = 1;
      for (const seed of SEEDS) {
        // 300 requests of about 0.5 ms each: the fourth joins at 150 ms, after about 300 requests.
        const backends: SimBackend[] = [...equal(3), { ...equal(4)[3]!, name: 'new', joinsAt: 150 }];
        const r = simulate({
          backends,
          policy,
          clients: 1,
          concurrency: 1,
          requests: 700,
          timeoutMs: 1_000,
          seed,
          measureFrom: 150,
        });
        worst = Math.min(worst, r.share.new!);
      }
      console.log(
        `${policy}: smallest share of a new fourth endpoint over ${SEEDS.length} seeds: ${(worst * 100).toFixed(1)}%`,
      );
      expect(worst).toBeGreaterThanOrEqual(0.15);
    },
  );

  it('the strict comparison (latencyTolerance 1) is what starved equal endpoints', () => {
    let worst = 1;
    for (const seed of SEEDS) {
      const r = simulate({
        backends: equal(3),
        policy: 'peak-ewma',
        tuning: { latencyTolerance: 1 },
        clients: 1,
        concurrency: 1,
        requests: 300,
        timeoutMs: 1_000,
        seed,
      });
      worst = Math.min(worst, ...Object.values(r.share));
    }
    expect(worst).toBeLessThan(0.1);
  });

  it('a 30 ms prior (initialRtt) starves a new endpoint on a LAN; probing does not', () => {
    const backends: SimBackend[] = [...equal(3), { ...equal(4)[3]!, name: 'new', joinsAt: 150 }];
    const run = (initialRtt?: number) =>
      simulate({
        backends,
        policy: 'peak-ewma',
        tuning: initialRtt === undefined ? {} : { initialRtt },
        clients: 1,
        concurrency: 1,
        requests: 700,
        timeoutMs: 1_000,
        seed: 3,
        measureFrom: 150,
      }).share.new!;
    expect(run(30)).toBe(0);
    expect(run()).toBeGreaterThan(0.15);
  });
});

describe('degraded endpoints are still shunned', () => {
  it('peak-ewma sends a 10x slower endpoint and a fast-failing one almost nothing', () => {
    expect(runScenario('slow (100 ms, 10x the others)', 'peak-ewma').share.bad).toBeLessThan(0.005);
    expect(runScenario('fast-failing (503 in 1 ms)', 'peak-ewma').share.bad).toBeLessThan(0.002);
  });

  it('an endpoint that turns slow under light sequential load loses its share', () => {
    const backends: SimBackend[] = [
      ...equal(2),
      { name: 'slow', behaviour: { kind: 'ok', medianMs: 5, sigma: 0.3 } },
    ];
    const r = simulate({
      backends,
      policy: 'peak-ewma',
      clients: 1,
      concurrency: 1,
      requests: 1_000,
      timeoutMs: 1_000,
      seed: 9,
    });
    expect(r.share.slow).toBeLessThan(0.02);
  });
});

describe("the shape of Finagle's comparison (one stalled backend of 20, 1 s timeout)", () => {
  const stalled = 'stalled (2 s, past the 1 s timeout)';

  it('round robin loses the stalled share (~95%), least-request ~99%, peak-ewma ~99.9%', () => {
    const rr = runScenario(stalled, 'round-robin').successRate;
    const lr = runScenario(stalled, 'least-request').successRate;
    const ewma = runScenario(stalled, 'peak-ewma').successRate;
    expect(rr).toBeGreaterThan(0.94);
    expect(rr).toBeLessThan(0.96);
    expect(lr).toBeGreaterThan(0.985);
    expect(lr).toBeLessThan(0.995);
    expect(ewma).toBeGreaterThan(0.998);
    expect(rr < lr && lr < ewma).toBe(true);
  });

  it('with a fast-failing backend, least-request is drawn to it and peak-ewma is not', () => {
    const fast = 'fast-failing (503 in 1 ms)';
    const lr = runScenario(fast, 'least-request');
    const rr = runScenario(fast, 'round-robin');
    expect(lr.share.bad!).toBeGreaterThan(rr.share.bad!);
    expect(runScenario(fast, 'peak-ewma').successRate).toBeGreaterThan(0.998);
  });
});

describe('docs/benchmarks.md', () => {
  it('carries the simulation table of these very runs (else: npm run sim)', () => {
    const doc = readFileSync(new URL('../../docs/benchmarks.md', import.meta.url), 'utf8');
    const section = /<!-- simulation:start -->\n([\s\S]*?)\n<!-- simulation:end -->/.exec(doc)?.[1] ?? '';
    expect(section).toContain(renderSimulationTable());
  });
});
