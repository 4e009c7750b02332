/**
 * The balancing scenarios the simulation proves the balancers on, after Linkerd's "Beyond Round
 * Robin: Load Balancing for Latency" (2016), which measured Finagle's balancers with one bad
 * backend among healthy ones and a 1 s timeout: about 95% success with round robin, 99% with the
 * least-loaded balancer, 99.9% with peak-EWMA. Here: 10 clients, each with its own view, sending
 * 100 requests per second each for 60 s of simulated time to 20 backends answering in 10 ms
 * (log-normal, sigma 0.5), one of which degrades.
 */
import type { BalancerPolicy } from '../../src/balance/options.js';
import { type Behaviour, type SimResult, simulate } from './simulation.js';

export const POLICIES: BalancerPolicy[] = ['round-robin', 'random', 'least-request', 'peak-ewma'];

/** The degraded backend of each scenario. */
export const DEGRADED: Record<
  string,
  { behaviour: Behaviour; anchor: Partial<Record<BalancerPolicy, string>> }
> = {
  'stalled (2 s, past the 1 s timeout)': {
    behaviour: { kind: 'fixed', ms: 2_000 },
    anchor: { 'round-robin': '95%', 'least-request': '99%', 'peak-ewma': '99.9%' },
  },
  'slow (100 ms, 10x the others)': {
    behaviour: { kind: 'ok', medianMs: 100, sigma: 0.5 },
    anchor: {},
  },
  'fast-failing (503 in 1 ms)': {
    behaviour: { kind: 'fail', ms: 1 },
    anchor: {},
  },
};

/** One scenario's run: 20 backends, the first degraded. */
export function runScenario(name: keyof typeof DEGRADED, policy: BalancerPolicy): SimResult {
  const backends = Array.from({ length: 20 }, (_, i) => ({
    name: i === 0 ? 'bad' : `ok${i}`,
    behaviour: i === 0 ? DEGRADED[name]!.behaviour : ({ kind: 'ok', medianMs: 10, sigma: 0.5 } as const),
  }));
  return simulate({
    backends,
    policy,
    clients: 10,
    rate: 100,
    durationMs: 60_000,
    timeoutMs: 1_000,
    seed: 42,
  });
}

const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;

/** The table of every scenario by balancer, as docs/benchmarks.md shows it. */
export function renderSimulationTable(): string {
  const lines = [
    '| degraded backend | balancer | success | p50 | p99 | share of the degraded backend | published anchor |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of Object.keys(DEGRADED)) {
    for (const policy of POLICIES) {
      const r = runScenario(name, policy);
      lines.push(
        `| ${name} | ${policy} | ${pct(r.successRate)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${pct(r.share.bad!)} | ${DEGRADED[name]!.anchor[policy] ?? ''} |`,
      );
    }
  }
  return lines.join('\n');
}
