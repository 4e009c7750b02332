/**
 * Hedging on real sockets: a fleet of loopback upstreams, one of them slow, behind a pipeline
 * composed by hand as the stage table would (retry -> hedge -> balance -> per-try timeout ->
 * undici transport). Measures the tail latency with and without hedging, and the load the
 * upstreams actually received.
 */
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyText } from '../../testkit/body.js';
import { Upstream } from '../../testkit/upstream.js';
import { type BalanceContext, balance } from '../balance/filter.js';
import { RoundRobinBalancer } from '../balance/round-robin.js';
import { type Call, compose, type Filter, type Handler } from '../core/call.js';
import { systemClock } from '../core/clock.js';
import { EndpointPool } from '../core/pool.js';
import { makeCall, sink } from '../core/test-helpers.js';
import { RetryBudget } from '../retry/budget.js';
import { retry } from '../retry/filter.js';
import type { RetryPolicy } from '../retry/options.js';
import { MeshEmitter } from '../telemetry/events.js';
import { perTryTimeout } from '../timeout/per-try.js';
import { type ProxyReply, type ProxyRequest, undiciTransport } from '../transport/undici.js';
import { type HedgeEvent, type HedgeEvents, hedge } from './hedge.js';
import { type HedgeOptions, type HedgePolicy, hedgeOption } from './options.js';

const FLEET = 25;
const SLOW_MS = 250;
const REQUESTS = 600;
const DELAY_MS = 25;
const CONCURRENCY = 5;

// A small floor: the bound on extra load then comes from the ratio, not from the idle allowance.
const BUDGET = { ratio: 0.2, minPerSecond: 1, window: 10_000 };
const RETRY: Exclude<RetryPolicy, false> = {
  attempts: 2,
  backoff: { base: 25, cap: 250 },
  budget: BUDGET,
  statuses: [502, 503, 504],
  stacking: 'avoid',
};

let fleet: Upstream[] = [];
let agent: Agent;
const shutdown = new AbortController();

beforeAll(async () => {
  // One slow endpoint in 25 (4%): below the 5% a 95th-percentile delay leaves unhedged.
  fleet = await Promise.all(
    Array.from({ length: FLEET }, (_, i) =>
      Upstream.start(`u${i}`, i === 0 ? { kind: 'slow', ms: SLOW_MS } : { kind: 'ok' }, { record: false }),
    ),
  );
  agent = new Agent({ connections: 16 });
});

afterAll(async () => {
  shutdown.abort();
  await agent.close();
  await Promise.all(fleet.map((u) => u.close()));
});

/** retry -> [hedge] -> balance -> per-try timeout -> undici, over `upstreams`. */
function pipeline(upstreams: Upstream[], hedging: HedgeOptions | false, hedges: HedgeEvent[] = []) {
  const clock = systemClock;
  const pool = new EndpointPool('svc', clock);
  pool.update(upstreams.map((u) => ({ url: u.url })));
  const events = new MeshEmitter();
  const budget = new RetryBudget(BUDGET, clock);
  const ctx: BalanceContext = {
    service: 'svc',
    pool,
    balancer: new RoundRobinBalancer(),
    clock,
    events,
  };
  const filters: Filter[] = [
    retry({ service: 'svc', policy: RETRY, budget, clock, random: Math.random, events }),
    ...(hedging
      ? [
          hedge(hedgeOption.parse(hedging) as HedgePolicy, {
            service: 'svc',
            clock,
            budget,
            shutdown: shutdown.signal,
            events: sink<HedgeEvents>((_e, payload) => hedges.push(payload)),
          }),
        ]
      : []),
    balance(ctx),
    perTryTimeout(clock, 5_000, shutdown.signal),
  ];
  return compose(...filters)(undiciTransport(agent));
}

function get(send: Handler<ProxyRequest, ProxyReply>): Promise<ProxyReply> {
  const call = {
    ...makeCall({ signal: shutdown.signal }),
    request: { method: 'GET', path: '/work', headers: {}, body: null },
  } as Call<ProxyRequest>;
  return send(call);
}

interface Run {
  p50: number;
  p99: number;
  max: number;
  /** Requests the upstreams received per request sent. */
  load: number;
}

/** `REQUESTS` GETs, `CONCURRENCY` at a time; latency of each, and the upstreams' count. */
async function measure(send: Handler<ProxyRequest, ProxyReply>): Promise<Run> {
  const before = fleet.reduce((sum, u) => sum + u.count, 0);
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      next++;
      const start = performance.now();
      const reply = await get(send);
      await bodyText(reply.body);
      latencies.push(performance.now() - start);
      expect(reply.status).toBe(200);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const received = fleet.reduce((sum, u) => sum + u.count, 0) - before;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.ceil((p / 100) * latencies.length) - 1]!;
  return { p50: at(50), p99: at(99), max: latencies.at(-1)!, load: received / REQUESTS };
}

const fmt = (r: Run) =>
  `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms, upstream load ${r.load.toFixed(3)}x`;

describe('hedging against a slow endpoint (loopback)', () => {
  it('cuts p99 well below the slow endpoint while adding little load', async () => {
    // Warm up sockets and JIT on the healthy endpoints, through both paths, so the order of the
    // measured runs does not decide their medians.
    await measure(pipeline(fleet.slice(1), false));
    await measure(pipeline(fleet.slice(1), { delay: DELAY_MS }));
    const baseline = await measure(pipeline(fleet, false));
    const fixedHedges: HedgeEvent[] = [];
    const fixed = await measure(pipeline(fleet, { delay: DELAY_MS }, fixedHedges));
    const observedHedges: HedgeEvent[] = [];
    const observed = await measure(pipeline(fleet, { delay: 'observed' }, observedHedges));
    console.log(
      [
        `hedging, ${REQUESTS} GETs x${CONCURRENCY} over ${FLEET} loopback upstreams, 1 answering in ${SLOW_MS} ms:`,
        `  no hedging:          ${fmt(baseline)}`,
        `  hedge after ${DELAY_MS} ms:   ${fmt(fixed)} (${fixedHedges.length} backups)`,
        `  hedge after p95:     ${fmt(observed)} (${observedHedges.length} backups)`,
      ].join('\n'),
    );
    // Without hedging the slowest 4% wait for the slow endpoint.
    expect(baseline.p99).toBeGreaterThanOrEqual(SLOW_MS);
    for (const run of [fixed, observed]) {
      expect(run.p99).toBeLessThan(SLOW_MS / 2);
      // Well under 2x: backups only for the requests slower than the delay.
      expect(run.load).toBeLessThan(1.3);
    }
    expect(baseline.load).toBe(1);
  });

  it('aborts the losing attempt on its socket and answers from the backup', async () => {
    const held = await Upstream.start('held', { kind: 'held' });
    const quick = await Upstream.start('quick');
    try {
      const hedges: HedgeEvent[] = [];
      const send = pipeline([held, quick], { delay: 10 }, hedges);
      const reply = await get(send);
      expect(reply.status).toBe(200);
      expect(JSON.parse(await bodyText(reply.body))).toMatchObject({ upstream: 'quick' });
      expect(hedges).toHaveLength(1);
      expect([held.count, quick.count]).toEqual([1, 1]);
    } finally {
      held.release();
      await Promise.all([held.close(), quick.close()]);
    }
  });
});
