import { describe, expect, it } from 'vitest';
import type { Call, Handler, Reply } from '../core/call.js';
import { makeCall, makeContext, makePool, setReady } from '../core/test-helpers.js';
import type { EndpointView } from '../core/view.js';
import { MeshError } from '../errors/mesh-error.js';
import { PeakEwma } from '../load/peak-ewma.js';
import { MeshEmitter } from '../telemetry/events.js';
import { type AttemptEvent, type BalanceContext, balance } from './filter.js';
import { RoundRobinBalancer } from './round-robin.js';

const LOAD = { decay: 10_000, initialRtt: 30, failurePenalty: 1_000, latencyTolerance: 2 } as const;

/** Round-robin picks, with a Peak-EWMA load metric for the filter to record into. */
function setup(n = 2) {
  const { clock } = makeContext();
  const pool = makePool(n, clock);
  const events = new MeshEmitter();
  const load = new PeakEwma(LOAD);
  const rr = new RoundRobinBalancer();
  const ctx: BalanceContext = {
    service: 'svc',
    pool,
    balancer: { pick: (view, call) => rr.pick(view, call), load },
    clock,
    events,
  };
  const estimate = (call: Call) => load.estimate(call.endpoint!);
  return { clock, pool, events, estimate, filter: balance(ctx) };
}

/** A transport that takes `ms` on the clock, then answers `status` or throws `error`. */
function transport(clock: { advance(ms: number): void }, ms: number, outcome: number | Error): Handler {
  return async (call: Call) => {
    expect(call.endpoint!.inFlight).toBe(1);
    clock.advance(ms);
    if (typeof outcome === 'number') return { status: outcome } satisfies Reply;
    throw outcome;
  };
}

describe('balance filter', () => {
  it('sets the endpoint, counts it in flight during the attempt, and records the latency', async () => {
    const { clock, pool, estimate, filter } = setup();
    const call = makeCall();
    const reply = await filter(transport(clock, 40, 200))(call);
    expect(reply.status).toBe(200);
    const ep = call.endpoint!;
    expect(pool.all).toContain(ep);
    expect(ep.inFlight).toBe(0);
    expect(ep.requests).toBe(1);
    expect(ep.failures).toBe(0);
    expect(estimate(call).measured).toBe(true);
    expect(estimate(call).rtt).toBe(40);
  });

  it('records a fast 5xx as at least the failure penalty', async () => {
    const { clock, estimate, filter } = setup();
    const call = makeCall();
    await filter(transport(clock, 3, 503))(call);
    expect(call.endpoint!.failures).toBe(1);
    expect(estimate(call).rtt).toBe(LOAD.failurePenalty);
  });

  it('records a transport error as a failure and rethrows it', async () => {
    const { clock, estimate, filter } = setup();
    const call = makeCall();
    const err = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    await expect(filter(transport(clock, 1, err))(call)).rejects.toBe(err);
    expect(call.endpoint!.inFlight).toBe(0);
    expect(call.endpoint!.failures).toBe(1);
    expect(estimate(call).rtt).toBe(LOAD.failurePenalty);
  });

  it('does not count an attempt a breaker refused', async () => {
    const { clock, estimate, filter } = setup();
    const call = makeCall();
    const open = new MeshError('MESH_CIRCUIT_OPEN', 'open');
    await expect(filter(transport(clock, 0, open))(call)).rejects.toBe(open);
    expect(call.endpoint!.failures).toBe(0);
    expect(estimate(call).measured).toBe(false);
  });

  it('does not count an attempt the caller aborted', async () => {
    const { clock, estimate, filter } = setup();
    const controller = new AbortController();
    const call = makeCall({ signal: controller.signal });
    const next: Handler = async () => {
      clock.advance(5);
      controller.abort(new Error('caller gave up'));
      throw controller.signal.reason;
    };
    await expect(filter(next)(call)).rejects.toThrow('caller gave up');
    expect(call.endpoint!.failures).toBe(0);
    expect(estimate(call).measured).toBe(false);
  });

  it('counts an attempt cut short by a timeout as a failure', async () => {
    const { clock, estimate, filter } = setup();
    const controller = new AbortController();
    const call = makeCall({ signal: controller.signal });
    const next: Handler = async () => {
      clock.advance(2_000);
      controller.abort(new MeshError('MESH_TIMEOUT', 'per-try timeout'));
      throw controller.signal.reason;
    };
    await expect(filter(next)(call)).rejects.toThrow('MESH_TIMEOUT');
    expect(call.endpoint!.failures).toBe(1);
    expect(estimate(call).rtt).toBe(2_000);
  });

  it('fails with MESH_NO_ENDPOINTS when discovery lists none', async () => {
    const { clock, filter } = setup(0);
    await expect(filter(transport(clock, 0, 200))(makeCall())).rejects.toMatchObject({
      code: 'MESH_NO_ENDPOINTS',
      service: 'svc',
    });
  });

  it('fails with MESH_CIRCUIT_OPEN when no endpoint is ready', async () => {
    const { clock, pool, filter } = setup(2);
    for (const ep of pool.all) setReady(pool, ep, false);
    await expect(filter(transport(clock, 0, 200))(makeCall())).rejects.toMatchObject({
      code: 'MESH_CIRCUIT_OPEN',
    });
  });

  it('picks from the routed subset on the call, with its own picker when it has one', async () => {
    const { clock, pool, filter } = setup(4);
    const members = pool.all.slice(2);
    const picks: string[] = [];
    const subset: EndpointView = {
      all: members,
      ready: members,
      version: -1,
      maxWeight: 1,
      minWeight: 1,
      uniformWeights: true,
      picker: {
        pick: (view, call) => {
          picks.push(call.hashKey ?? '');
          return view.ready[1];
        },
      },
    };
    const call = makeCall({ subset, hashKey: 'routed' });
    await filter(transport(clock, 1, 200))(call);
    expect(call.endpoint).toBe(members[1]);
    expect(picks).toEqual(['routed']);
    // Without a picker, the service's balancer picks from the subset.
    for (let i = 0; i < 4; i++) {
      const plain = makeCall({ subset: { ...subset, picker: undefined } });
      await filter(transport(clock, 1, 200))(plain);
      expect(members).toContain(plain.endpoint);
    }
  });

  it('names the routed subset when it has no endpoint to give', async () => {
    const { clock, filter } = setup(2);
    const empty: EndpointView = {
      all: [],
      ready: [],
      version: -2,
      maxWeight: 1,
      minWeight: 1,
      uniformWeights: true,
    };
    await expect(filter(transport(clock, 0, 200))(makeCall({ subset: empty }))).rejects.toMatchObject({
      code: 'MESH_NO_ENDPOINTS',
      message: expect.stringContaining('routed subset'),
    });
  });

  it('emits an attempt event when someone listens', async () => {
    const { clock, events, filter } = setup();
    const seen: AttemptEvent[] = [];
    events.on('attempt', (e) => seen.push(e));
    const call = makeCall({ method: 'PUT', attempt: 2 });
    await filter(transport(clock, 7, 502))(call);
    expect(seen).toEqual([
      {
        service: 'svc',
        endpoint: call.endpoint!.url,
        attempt: 2,
        method: 'PUT',
        status: 502,
        error: undefined,
        durationMs: 7,
      },
    ]);
  });
});
