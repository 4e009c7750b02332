/**
 * Traffic governance end to end, in both positions: a fat client (`MeshClient`) and the same
 * scenario through an in-process sidecar. Real loopback upstreams; a seeded random source where
 * shares are measured and a ManualClock where time matters. Covers version routing (canary
 * split, header rule, empty-subset fallback), zone spill-over, outlier ejection and return, the
 * bulkhead and the rate limit, fault injection and hedging.
 */
import { describe, expect, it } from 'vitest';
import { MeshClient } from '../src/client/client.js';
import { ManualClock } from '../src/core/clock.js';
import { seededRandom } from '../src/core/random.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import type { MeshEvents } from '../src/telemetry/events.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { type Behaviour, Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

type Position = 'client' | 'sidecar';

interface Answer {
  status: number;
  /** Which upstream answered (its name). */
  upstream: string | undefined;
  /** The mesh's error code: a MeshError's in the client, `x-mesh-error` in the sidecar. */
  error: string | undefined;
  /** Whether the reply was an injected fault. */
  fault: boolean;
}

interface Harness {
  send(options?: { path?: string; headers?: Record<string, string> }): Promise<Answer>;
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): void;
}

const open = closeAfterEach();

/** Upstreams named `name`, described as [name, behaviour, meta]. */
async function fleet(specs: Array<[string, Behaviour, Record<string, string>?]>) {
  const ups = await Promise.all(specs.map(([name, b]) => Upstream.start(name, b)));
  open.push(...ups);
  const endpoints = ups.map((u, i) => ({ url: u.url, meta: specs[i]![2] ?? {} }));
  return { ups, endpoints };
}

async function harness(position: Position, options: Record<string, unknown>): Promise<Harness> {
  if (position === 'client') {
    const mesh = new MeshClient(options);
    open.push(mesh);
    return {
      async send({ path = '/x', headers = {} } = {}) {
        try {
          const res = await mesh.request<{ upstream?: string }>({
            service: 'svc',
            url: path,
            headers,
            validateStatus: () => true,
          });
          return {
            status: res.status,
            upstream: res.data?.upstream,
            error: undefined,
            fault: res.headers['x-mesh-fault'] === 'abort',
          };
        } catch (err) {
          if (!isMeshError(err)) throw err;
          return { status: 0, upstream: undefined, error: err.code, fault: false };
        }
      },
      on: (event, listener) => void mesh.on(event, listener),
    };
  }
  const sidecar = await sidecarFor(options);
  open.push(sidecar);
  return {
    async send({ path = '/x', headers = {} } = {}) {
      const res = await raw(sidecar.address, path, { headers: { host: 'svc', ...headers } });
      let upstream: string | undefined;
      try {
        upstream = (JSON.parse(res.body) as { upstream?: string }).upstream;
      } catch {
        upstream = undefined;
      }
      const error = res.headers['x-mesh-error'];
      return {
        status: res.status,
        upstream,
        error: typeof error === 'string' ? error : undefined,
        fault: res.headers['x-mesh-fault'] === 'abort',
      };
    },
    on: (event, listener) => void sidecar.mesh.events.on(event, listener as never),
  };
}

function tally(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const key = a.upstream ?? a.error ?? String(a.status);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

async function sequential(h: Harness, n: number, options?: Parameters<Harness['send']>[0]) {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) answers.push(await h.send(options));
  return answers;
}

const p99 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.ceil(samples.length * 0.99) - 1]!;

describe.each(['client', 'sidecar'] as const)('traffic governance (%s)', (position) => {
  it('splits canary traffic by weight, within statistical bounds', async () => {
    const { endpoints } = await fleet([
      ['v1a', { kind: 'ok' }, { version: 'v1' }],
      ['v1b', { kind: 'ok' }, { version: 'v1' }],
      ['v2', { kind: 'ok' }, { version: 'v2' }],
    ]);
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      random: seededRandom(42),
      services: {
        svc: {
          routing: {
            default: {
              split: [
                { subset: { version: 'v1' }, weight: 90 },
                { subset: { version: 'v2' }, weight: 10 },
              ],
            },
          },
        },
      },
    });
    const n = 1000;
    const counts = tally(await sequential(h, n));
    const v2 = counts.v2 ?? 0;
    console.log(`${position}: canary 10% -> v2 got ${v2}/${n} (${((v2 * 100) / n).toFixed(1)}%)`, counts);
    // Binomial(1000, 0.1): sd 9.5; 4 sd either side.
    expect(v2).toBeGreaterThan(62);
    expect(v2).toBeLessThan(138);
    expect((counts.v1a ?? 0) + (counts.v1b ?? 0) + v2).toBe(n);
  });

  it('routes by header rule (x-canary: true -> v2), the rest to the default subset', async () => {
    const { endpoints } = await fleet([
      ['v1', { kind: 'ok' }, { version: 'v1' }],
      ['v2', { kind: 'ok' }, { version: 'v2' }],
    ]);
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      routing: {
        rules: [{ name: 'canary', match: { headers: { 'x-canary': 'true' } }, subset: { version: 'v2' } }],
        default: { subset: { version: 'v1' } },
      },
    });
    expect(tally(await sequential(h, 20, { headers: { 'x-canary': 'true' } }))).toEqual({ v2: 20 });
    expect(tally(await sequential(h, 20))).toEqual({ v1: 20 });
    expect(tally(await sequential(h, 10, { headers: { 'X-Canary': 'false' } }))).toEqual({ v1: 10 });
  });

  it('a rule whose subset is empty falls back to the default route, with an event', async () => {
    const { endpoints } = await fleet([['v1', { kind: 'ok' }, { version: 'v1' }]]);
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      routing: { rules: [{ name: 'to-v3', subset: { version: 'v3' } }] },
    });
    const fallbacks: Array<Parameters<MeshEvents['route-fallback']>[0]> = [];
    h.on('route-fallback', (e) => fallbacks.push(e));
    expect(tally(await sequential(h, 5))).toEqual({ v1: 5 });
    expect(fallbacks).toHaveLength(5);
    expect(fallbacks[0]).toEqual({
      service: 'svc',
      rule: 'to-v3',
      subset: 'version=v3',
      reason: 'empty',
      fallback: '*',
    });
  });

  it('keeps traffic in the local zone, and spills over when it is unhealthy', async () => {
    const { endpoints, ups } = await fleet([
      ['a1', { kind: 'ok' }, { zone: 'a' }],
      ['a2', { kind: 'ok' }, { zone: 'a' }],
      ['b1', { kind: 'ok' }, { zone: 'b' }],
      ['b2', { kind: 'ok' }, { zone: 'b' }],
    ]);
    const clock = new ManualClock();
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      clock,
      random: seededRandom(7),
      retry: false,
      circuitBreaker: false,
      loadBalancer: 'round-robin',
      outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 50 },
      routing: { zone: { local: 'a', minClusterSize: 1 } },
    });
    const healthy = tally(await sequential(h, 40));
    expect(healthy).toEqual({ a1: 20, a2: 20 });
    // a1 fails once and is ejected: half the local zone is left, under the 70% bar.
    ups[0]!.behaviour = { kind: 'status', status: 500 };
    const ejected = new Promise((resolve) => h.on('ejected', resolve));
    await sequential(h, 2);
    await ejected;
    ups[0]!.behaviour = { kind: 'ok' };
    const n = 400;
    const spilled = tally(await sequential(h, n));
    const remote = (spilled.b1 ?? 0) + (spilled.b2 ?? 0);
    console.log(`${position}: zone a at 50% healthy -> ${remote}/${n} spilled to zone b`, spilled);
    expect(spilled.a1 ?? 0).toBe(0);
    // Expected share of the remote zone: 1 - 50/70 = 28.6% (114 of 400; sd 9).
    expect(remote).toBeGreaterThan(78);
    expect(remote).toBeLessThan(150);
  });

  it('ejects an endpoint after consecutive 5xx and returns it after the ejection time', async () => {
    const { endpoints, ups } = await fleet([
      ['good1', { kind: 'ok' }],
      ['good2', { kind: 'ok' }],
      ['bad', { kind: 'status', status: 500 }],
    ]);
    const clock = new ManualClock();
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      clock,
      retry: false,
      circuitBreaker: false,
      loadBalancer: 'round-robin',
      outlierDetection: { consecutive5xx: 3, maxEjectionPercent: 50, baseEjectionTime: 30_000 },
    });
    const events: string[] = [];
    h.on('ejected', (e) => events.push(`ejected ${e.endpoint} ${e.reason} ${e.ejectionMs}`));
    h.on('unejected', (e) => events.push(`unejected ${e.endpoint} ${e.ejectedMs}`));
    const before = tally(await sequential(h, 9));
    expect(before).toEqual({ good1: 3, good2: 3, bad: 3 });
    expect(events).toEqual([`ejected ${ups[2]!.url} consecutive-5xx 30000`]);
    const during = tally(await sequential(h, 30));
    expect(during).toEqual({ good1: 15, good2: 15 });
    clock.advance(30_000);
    expect(events[1]).toBe(`unejected ${ups[2]!.url} 30000`);
    ups[2]!.behaviour = { kind: 'ok' };
    const after = tally(await sequential(h, 30));
    expect(after.bad).toBe(10);
  });

  it('a full bulkhead refuses with MESH_BULKHEAD_FULL (503 in the sidecar)', async () => {
    const { endpoints, ups } = await fleet([['held', { kind: 'held' }]]);
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      limits: { concurrency: { maxConcurrent: 2 } },
    });
    const first = [h.send(), h.send()];
    await ups[0]!.receivedAtLeast(2);
    const refused = await h.send();
    expect(refused.error).toBe('MESH_BULKHEAD_FULL');
    if (position === 'sidecar') expect(refused.status).toBe(503);
    ups[0]!.release();
    expect((await Promise.all(first)).map((a) => a.status)).toEqual([200, 200]);
    ups[0]!.behaviour = { kind: 'ok' };
    expect((await h.send()).status).toBe(200);
  });

  it('an empty token bucket refuses with MESH_RATE_LIMITED (429 in the sidecar)', async () => {
    const { endpoints } = await fleet([['u', { kind: 'ok' }]]);
    const clock = new ManualClock();
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      clock,
      limits: { rate: { rate: 10, burst: 2 } },
    });
    expect((await sequential(h, 2)).map((a) => a.status)).toEqual([200, 200]);
    const refused = await h.send();
    expect(refused.error).toBe('MESH_RATE_LIMITED');
    if (position === 'sidecar') expect(refused.status).toBe(429);
    clock.advance(100);
    expect((await h.send()).status).toBe(200);
    expect((await h.send()).error).toBe('MESH_RATE_LIMITED');
  });

  it('injects faults at the configured rate, without reaching an endpoint', async () => {
    const { endpoints, ups } = await fleet([['u', { kind: 'ok' }]]);
    const h = await harness(position, {
      discovery: { static: { svc: endpoints } },
      random: seededRandom(3),
      services: { svc: { faults: { abort: { percent: 20, status: 503 } } } },
    });
    let events = 0;
    h.on('fault', () => events++);
    const n = 500;
    const answers = await sequential(h, n);
    const aborted = answers.filter((a) => a.fault && a.status === 503).length;
    console.log(`${position}: faults abort 20% -> ${aborted}/${n} aborted`);
    // Binomial(500, 0.2): sd 8.9; 4 sd either side. Injected aborts are not retried.
    expect(aborted).toBeGreaterThan(64);
    expect(aborted).toBeLessThan(136);
    expect(events).toBe(aborted);
    expect(ups[0]!.count).toBe(n - aborted);
  });

  it('hedging cuts the p99 against a slow endpoint without doubling the load', async () => {
    const SLOW = 150;
    const specs: Array<[string, Behaviour]> = [['slow', { kind: 'slow', ms: SLOW }]];
    for (let i = 0; i < 7; i++) specs.push([`fast${i}`, { kind: 'ok' }]);
    const { endpoints, ups } = await fleet(specs);
    const base = {
      discovery: { static: { svc: endpoints } },
      loadBalancer: 'round-robin',
      circuitBreaker: false,
    };
    const n = 160;
    const run = async (h: Harness) => {
      const before = ups.reduce((sum, u) => sum + u.count, 0);
      const latencies: number[] = [];
      for (let i = 0; i < n; i += 8) {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const start = performance.now();
            const a = await h.send();
            latencies.push(performance.now() - start);
            expect(a.status).toBe(200);
          }),
        );
      }
      // Requests that waited out the slow endpoint: a count, robust to a loaded machine's latency.
      const waited = latencies.filter((ms) => ms >= SLOW).length;
      return { p99: p99(latencies), waited, load: ups.reduce((sum, u) => sum + u.count, 0) - before };
    };
    const plain = await run(await harness(position, base));
    const hedged = await run(await harness(position, { ...base, hedge: { delay: 20 } }));
    // Hedging is paid from a budget of its own when retries are off.
    const noRetry = await run(await harness(position, { ...base, retry: false, hedge: { delay: 20 } }));
    console.log(
      `${position}: hedging (delay 20 ms, 1 of 8 endpoints at ${SLOW} ms): p99 ${plain.p99.toFixed(1)} ms -> ${hedged.p99.toFixed(1)} ms; upstream load ${plain.load} -> ${hedged.load} requests for ${n}; with retry: false p99 ${noRetry.p99.toFixed(1)} ms, load ${noRetry.load}`,
    );
    // Without hedging, every request sent to the slow endpoint (1 in 8) waits for it.
    expect(plain.p99).toBeGreaterThan(SLOW);
    expect(plain.waited).toBeGreaterThanOrEqual(n / 8 - 2);
    // With hedging, hardly any does: the backup answers first.
    expect(hedged.waited).toBeLessThan(n * 0.02);
    expect(noRetry.waited).toBeLessThan(n * 0.02);
    // Every request reached an upstream; the backups added little (an upstream counts a request
    // on arrival, and the losers were the slow endpoint's, which arrived before their backups).
    expect(hedged.load).toBeGreaterThanOrEqual(n);
    expect(hedged.load).toBeLessThan(n * 1.3);
    expect(noRetry.load).toBeLessThan(n * 1.3);
  });
});
