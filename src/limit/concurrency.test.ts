import { describe, expect, it } from 'vitest';
import type { Call, Handler, Reply } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import { makeCall } from '../core/test-helpers.js';
import { Bulkhead, concurrencyLimit } from './concurrency.js';
import { type ConcurrencyLimitOptions, type ConcurrencyLimitPolicy, limitsOption } from './options.js';

/** A concurrency limit as the mesh resolves it: defaults filled in. */
const limit = (options: ConcurrencyLimitOptions) =>
  limitsOption.parse({ concurrency: options }).concurrency as ConcurrencyLimitPolicy;
/** Whether `options` is a valid concurrency limit. */
const valid = (options: unknown) => limitsOption.safeParse({ concurrency: options }).success;

/** A handler whose replies the test settles one by one, in any order. */
function controlled() {
  const pending: Array<{ call: Call; resolve(r: Reply): void; reject(e: unknown): void }> = [];
  const handler: Handler = (call) =>
    new Promise<Reply>((resolve, reject) => {
      pending.push({ call, resolve, reject });
    });
  return { pending, handler };
}

/** Let promise continuations (the filter's awaits) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: ConcurrencyLimitOptions) {
  const clock = new ManualClock();
  const bulkhead = new Bulkhead(limit(options), clock);
  const { pending, handler } = controlled();
  const send = concurrencyLimit(bulkhead)(handler);
  return { clock, bulkhead, pending, send };
}

describe('concurrency limit (bulkhead)', () => {
  it('lets maxConcurrent requests through and refuses the next with MESH_BULKHEAD_FULL', async () => {
    const { bulkhead, pending, send } = setup({ maxConcurrent: 2 });
    const a = send(makeCall());
    const b = send(makeCall());
    await expect(send(makeCall({ service: 'users' }))).rejects.toMatchObject({
      code: 'MESH_BULKHEAD_FULL',
      service: 'users',
    });
    expect(pending).toHaveLength(2);
    expect(bulkhead.active).toBe(2);
    pending[0]!.resolve({ status: 200 });
    await expect(a).resolves.toEqual({ status: 200 });
    expect(bulkhead.active).toBe(1);
    // The freed slot is usable again.
    const c = send(makeCall());
    await settle();
    expect(pending).toHaveLength(3);
    pending[1]!.resolve({ status: 503 });
    pending[2]!.resolve({ status: 200 });
    await Promise.all([b, c]);
    expect(bulkhead.active).toBe(0);
  });

  it('releases the slot when the request fails or throws synchronously', async () => {
    const clock = new ManualClock();
    const bulkhead = new Bulkhead(limit({ maxConcurrent: 1 }), clock);
    const failing: Handler = () => Promise.reject(new Error('refused'));
    await expect(concurrencyLimit(bulkhead)(failing)(makeCall())).rejects.toThrow('refused');
    expect(bulkhead.active).toBe(0);
    const throwing: Handler = () => {
      throw new Error('boom');
    };
    await expect(concurrencyLimit(bulkhead)(throwing)(makeCall())).rejects.toThrow('boom');
    expect(bulkhead.active).toBe(0);
  });

  it('queues in arrival order up to maxQueue and hands each released slot to the oldest waiter', async () => {
    const { bulkhead, pending, send } = setup({ maxConcurrent: 1, maxQueue: 2, maxWait: 1_000 });
    const calls = [1, 2, 3].map((n) => makeCall({ path: `/${n}` }));
    const replies = calls.map((call) => send(call));
    await expect(send(makeCall())).rejects.toMatchObject({ code: 'MESH_BULKHEAD_FULL' });
    expect([bulkhead.active, bulkhead.queued]).toEqual([1, 2]);
    await settle();
    expect(pending.map((p) => p.call.path)).toEqual(['/1']);

    pending[0]!.resolve({ status: 200 });
    await settle();
    expect(pending.map((p) => p.call.path)).toEqual(['/1', '/2']);
    expect([bulkhead.active, bulkhead.queued]).toEqual([1, 1]);
    // A newcomer arriving now queues behind /3; it does not overtake it.
    const late = send(makeCall({ path: '/late' }));

    for (const i of [1, 2]) {
      pending[i]!.resolve({ status: 200 });
      await settle();
    }
    expect(pending.map((p) => p.call.path)).toEqual(['/1', '/2', '/3', '/late']);
    pending[3]!.resolve({ status: 200 });
    await Promise.all([...replies, late]);
    expect([bulkhead.active, bulkhead.queued]).toEqual([0, 0]);
  });

  it('refuses a waiter after maxWait on the clock, and the slot then goes to the next one', async () => {
    const { clock, bulkhead, pending, send } = setup({ maxConcurrent: 1, maxQueue: 5, maxWait: 100 });
    const first = send(makeCall());
    const timedOut = send(makeCall({ path: '/timed-out' }));
    clock.advance(60);
    const later = send(makeCall({ path: '/later' }));
    clock.advance(40);
    await expect(timedOut).rejects.toMatchObject({ code: 'MESH_BULKHEAD_FULL' });
    expect(bulkhead.queued).toBe(1);
    pending[0]!.resolve({ status: 200 });
    await first;
    await settle();
    expect(pending.map((p) => p.call.path)).toEqual(['/', '/later']);
    pending[1]!.resolve({ status: 200 });
    await later;
    expect([bulkhead.active, bulkhead.queued, clock.pending]).toEqual([0, 0, 0]);
  });

  it('takes an aborted request out of the queue with its abort reason', async () => {
    const { clock, bulkhead, pending, send } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const first = send(makeCall());
    const controller = new AbortController();
    const aborted = send(makeCall({ signal: controller.signal, path: '/aborted' }));
    const kept = send(makeCall({ path: '/kept' }));
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    expect(bulkhead.queued).toBe(1);
    pending[0]!.resolve({ status: 200 });
    await first;
    await settle();
    expect(pending.map((p) => p.call.path)).toEqual(['/', '/kept']);
    pending[1]!.resolve({ status: 200 });
    await kept;
    expect([bulkhead.active, clock.pending]).toEqual([0, 0]);
  });

  it('refuses a request already aborted, and bounds the wait by the deadline (MESH_TIMEOUT)', async () => {
    const { clock, bulkhead, pending, send } = setup({ maxConcurrent: 1, maxQueue: 5, maxWait: 1_000 });
    const first = send(makeCall());
    const controller = new AbortController();
    controller.abort(new Error('already gone'));
    await expect(send(makeCall({ signal: controller.signal }))).rejects.toThrow('already gone');
    await expect(send(makeCall({ deadline: clock.now() }))).rejects.toMatchObject({ code: 'MESH_TIMEOUT' });
    const late = send(makeCall({ deadline: clock.now() + 30 }));
    clock.advance(30);
    await expect(late).rejects.toMatchObject({ code: 'MESH_TIMEOUT' });
    expect(bulkhead.queued).toBe(0);
    pending[0]!.resolve({ status: 200 });
    await first;
    expect(bulkhead.active).toBe(0);
  });

  it('admits waiters at once when reconfigured with more slots, and drains when given fewer', async () => {
    const { bulkhead, pending, send } = setup({ maxConcurrent: 1, maxQueue: 3 });
    const replies = [1, 2, 3].map(() => send(makeCall()));
    expect(bulkhead.queued).toBe(2);
    bulkhead.configure(limit({ maxConcurrent: 3, maxQueue: 3 }));
    await settle();
    expect([bulkhead.active, bulkhead.queued, pending.length]).toEqual([3, 0, 3]);
    bulkhead.configure(limit({ maxConcurrent: 1, maxQueue: 3 }));
    const queued = send(makeCall({ path: '/queued' }));
    pending[0]!.resolve({ status: 200 });
    pending[1]!.resolve({ status: 200 });
    await settle();
    // Two releases brought the count down to the new limit before anyone else is admitted.
    expect([bulkhead.active, bulkhead.queued]).toEqual([1, 1]);
    pending[2]!.resolve({ status: 200 });
    await settle();
    expect(pending.at(-1)!.call.path).toBe('/queued');
    pending.at(-1)!.resolve({ status: 200 });
    await Promise.all([...replies, queued]);
    expect(bulkhead.active).toBe(0);
  });

  it('validates its options', () => {
    expect(limit({ maxConcurrent: 10, maxQueue: 0, maxWait: 50 })).toEqual({
      maxConcurrent: 10,
      maxQueue: 0,
      maxWait: 50,
    });
    expect(limit({})).toEqual({ maxConcurrent: 100, maxQueue: 0, maxWait: 1_000 });
    expect(valid({ maxConcurrent: 0 })).toBe(false);
    expect(valid({ maxQueue: -1 })).toBe(false);
    expect(valid({ maxWait: 0 })).toBe(false);
    expect(valid({ queue: 1 })).toBe(false);
  });
});
