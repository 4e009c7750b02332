import { describe, expect, it } from 'vitest';
import type { Call, Handler, Reply } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import { seededRandom } from '../core/random.js';
import { makeCall, sink } from '../core/test-helpers.js';
import { type FaultEvent, type FaultEvents, fault } from './fault.js';
import { type FaultOptions, type FaultPolicy, faultSchema } from './options.js';

function setup(options: FaultOptions, synthesize?: (status: number, call: Call) => Reply) {
  const clock = new ManualClock();
  const events: FaultEvent[] = [];
  let sent = 0;
  const next: Handler = async () => {
    sent++;
    return { status: 200 };
  };
  const send = fault(faultSchema.parse(options) as FaultPolicy, {
    clock,
    random: seededRandom(42),
    synthesize,
    events: sink<FaultEvents>((_event, payload) => events.push(payload)),
  })(next);
  return { clock, events, send, sentCount: () => sent };
}

const N = 20_000;

describe('fault injection', () => {
  it('aborts the configured share of requests without sending them (10% of 20,000 within 1%)', async () => {
    const { send, sentCount } = setup({ abort: { percent: 10, status: 503 } });
    let aborted = 0;
    for (let i = 0; i < N; i++) {
      const reply = await send(makeCall());
      if (reply.status === 503) {
        expect(reply.headers).toEqual({ 'x-mesh-fault': 'abort' });
        aborted++;
      }
    }
    expect(aborted / N).toBeGreaterThan(0.09);
    expect(aborted / N).toBeLessThan(0.11);
    expect(sentCount()).toBe(N - aborted);
    console.log(`fault abort at 10%: ${((aborted / N) * 100).toFixed(2)}% of ${N} requests aborted`);
  });

  it('delays the configured share of requests on the clock (25% of 20,000 within 1%)', async () => {
    const { clock, send, events, sentCount } = setup({ delay: { percent: 25, ms: 100 } });
    const replies = Array.from({ length: N }, () => send(makeCall()));
    await new Promise((resolve) => setImmediate(resolve));
    const delayed = events.length;
    expect(delayed / N).toBeGreaterThan(0.24);
    expect(delayed / N).toBeLessThan(0.26);
    // Only the undelayed ones went out; the rest wait for the clock.
    expect(sentCount()).toBe(N - delayed);
    expect(events[0]).toEqual({ service: 'svc', kind: 'delay', delayMs: 100, rule: undefined });
    clock.advance(99);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sentCount()).toBe(N - delayed);
    clock.advance(1);
    await Promise.all(replies);
    expect(sentCount()).toBe(N);
    console.log(`fault delay at 25%: ${((delayed / N) * 100).toFixed(2)}% of ${N} requests delayed`);
  });

  it('delays, then aborts, with the position-specific reply', async () => {
    const synthesize = (status: number, call: Call) => ({ status, headers: { shaped: call.path } });
    const { clock, send, events, sentCount } = setup(
      { delay: { ms: 50 }, abort: { status: 429 } },
      synthesize,
    );
    const reply = send(makeCall({ path: '/x' }));
    clock.advance(50);
    await expect(reply).resolves.toEqual({ status: 429, headers: { shaped: '/x' } });
    expect(events.map((e) => e.kind)).toEqual(['delay', 'abort']);
    expect(sentCount()).toBe(0);
  });

  it('ends a delay when the request is aborted, and never waits past the deadline', async () => {
    const { clock, send, sentCount } = setup({ delay: { ms: 1_000 } });
    const controller = new AbortController();
    const aborted = send(makeCall({ signal: controller.signal }));
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    const late = send(makeCall({ deadline: clock.now() + 30 }));
    clock.advance(30);
    await late;
    // The request goes on at its deadline (the filters below refuse it there), not 970 ms later.
    expect(sentCount()).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('passes everything through when the shares are 0', async () => {
    const { send, sentCount, events } = setup({ delay: { percent: 0, ms: 10 }, abort: { percent: 0 } });
    for (let i = 0; i < 100; i++) await send(makeCall());
    expect([sentCount(), events.length]).toEqual([100, 0]);
  });

  it('validates its options', () => {
    expect(faultSchema.parse({ delay: { ms: 5 }, abort: { percent: 1.5, status: 500 } })).toEqual({
      delay: { percent: 100, ms: 5 },
      abort: { percent: 1.5, status: 500 },
    });
    expect(faultSchema.parse({ abort: {} })).toEqual({ abort: { percent: 100, status: 503 } });
    expect(faultSchema.safeParse({ delay: { percent: 10 } }).success).toBe(false);
    expect(faultSchema.safeParse({ abort: { percent: 101 } }).success).toBe(false);
    expect(faultSchema.safeParse({ abort: { status: 99 } }).success).toBe(false);
  });
});
