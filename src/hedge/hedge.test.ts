/**
 * The hedging logic, deterministic: a ManualClock, the real balance filter over a small pool,
 * and a transport the test answers by hand. `hedge.loopback.test.ts` measures it on real sockets.
 */
import { describe, expect, it } from 'vitest';
import { type BalanceContext, balance } from '../balance/filter.js';
import { RoundRobinBalancer } from '../balance/round-robin.js';
import { type Call, compose, type Handler, type Reply } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import { seededRandom } from '../core/random.js';
import { makeCall, makePool, sink } from '../core/test-helpers.js';
import { MeshEmitter } from '../telemetry/events.js';
import { type HedgeEvent, type HedgeEvents, HedgeLostError, hedge } from './hedge.js';
import { LatencyWindow } from './latency.js';
import { type HedgeOptions, type HedgePolicy, hedgeOption } from './options.js';

/** The options as the mesh resolves them: defaults filled in. */
const resolve = (options: HedgeOptions) => hedgeOption.parse(options) as HedgePolicy;

interface Sent {
  call: Call;
  resolve(reply: Reply): void;
  reject(error: unknown): void;
}

interface Budget {
  tryWithdraw(): boolean;
}

/** `budget`: `null` for none (the stage is then left out, as the stage table does); by default one that always allows. */
function setup(options: HedgeOptions, withBudget?: Budget | null) {
  const budget = withBudget === null ? undefined : (withBudget ?? { tryWithdraw: () => true });
  const clock = new ManualClock();
  const pool = makePool(3, clock);
  const sent: Sent[] = [];
  const transport: Handler = (call) =>
    new Promise<Reply>((resolve, reject) => {
      sent.push({ call, resolve, reject });
      call.signal.addEventListener('abort', () => reject(call.signal.reason));
    });
  const ctx: BalanceContext = {
    service: 'svc',
    pool,
    balancer: new RoundRobinBalancer(),
    clock,
    events: new MeshEmitter(),
  };
  const hedges: HedgeEvent[] = [];
  const latency = new LatencyWindow(100);
  const events = sink<HedgeEvents>((_e, payload) => hedges.push(payload));
  const send = compose(
    ...(budget ? [hedge(resolve(options), { service: 'svc', clock, budget, latency, events })] : []),
    balance(ctx),
  )(transport);
  return { clock, pool, sent, send, hedges, latency };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A reply that notes being discarded. */
function reply(status: number, discarded: string[] = [], name = ''): Reply {
  return { status, discard: () => discarded.push(name) };
}

describe('hedging', () => {
  it('sends a backup to another endpoint after the delay; the first answer wins and the loser is aborted', async () => {
    const { clock, sent, send, hedges } = setup({ delay: 50 });
    const call = makeCall();
    const result = send(call);
    await tick();
    expect(sent).toHaveLength(1);
    clock.advance(49);
    await tick();
    expect(sent).toHaveLength(1);
    clock.advance(1);
    await tick();
    expect(sent).toHaveLength(2);
    const [first, backup] = sent as [Sent, Sent];
    expect(backup.call.endpoint).not.toBe(first.call.endpoint);
    expect(backup.call.tried).toContain(first.call.endpoint);
    expect(hedges).toEqual([{ service: 'svc', attempt: 1, endpoint: first.call.endpoint!.url, delayMs: 50 }]);

    const discarded: string[] = [];
    backup.resolve(reply(200, discarded, 'backup'));
    await expect(result).resolves.toMatchObject({ status: 200 });
    expect(first.call.signal.aborted).toBe(true);
    expect(first.call.signal.reason).toBeInstanceOf(HedgeLostError);
    // The request's record: the winner is its endpoint, the loser counts as tried.
    expect(call.endpoint).toBe(backup.call.endpoint);
    expect(call.tried).toEqual([first.call.endpoint]);
    expect(discarded).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('discards a reply the loser still produces', async () => {
    const { clock, sent, send } = setup({ delay: 10 });
    const result = send(makeCall());
    await tick();
    clock.advance(10);
    await tick();
    const discarded: string[] = [];
    sent[0]!.resolve(reply(200, discarded, 'first'));
    sent[1]!.resolve(reply(200, discarded, 'backup'));
    await result;
    await tick();
    expect(discarded).toEqual(['backup']);
  });

  it('sends no backup when the first attempt answers in time', async () => {
    const { clock, sent, send, hedges } = setup({ delay: 50 });
    const result = send(makeCall());
    await tick();
    sent[0]!.resolve(reply(200));
    await result;
    clock.advance(1_000);
    expect([sent.length, hedges.length, clock.pending]).toEqual([1, 0, 0]);
  });

  it('hedges only idempotent, replayable requests, and only with a budget that allows it', async () => {
    for (const [budget, overrides] of [
      [null, {}],
      [{ tryWithdraw: () => false }, {}],
      [{ tryWithdraw: () => true }, { idempotent: false }],
      [{ tryWithdraw: () => true }, { replayable: false }],
    ] as const) {
      const { clock, sent, send } = setup({ delay: 10 }, budget);
      const result = send(makeCall(overrides));
      await tick();
      clock.advance(100);
      await tick();
      expect(sent).toHaveLength(1);
      sent[0]!.resolve(reply(200));
      await result;
    }
  });

  it('waits for the other attempt when one fails, and prefers a reply when both fail', async () => {
    const { clock, sent, send } = setup({ delay: 10 });
    const discarded: string[] = [];
    const result = send(makeCall());
    await tick();
    clock.advance(10);
    await tick();
    sent[0]!.resolve(reply(503, discarded, 'first'));
    await tick();
    sent[1]!.resolve(reply(200, discarded, 'backup'));
    await expect(result).resolves.toMatchObject({ status: 200 });
    expect(discarded).toEqual(['first']);

    const both = setup({ delay: 10 });
    const failed = both.send(makeCall());
    await tick();
    both.clock.advance(10);
    await tick();
    both.sent[1]!.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    await tick();
    both.sent[0]!.resolve(reply(502));
    await expect(failed).resolves.toMatchObject({ status: 502 });
  });

  it('returns a failure of the first attempt at once when no backup was sent yet', async () => {
    const { clock, sent, send } = setup({ delay: 10 });
    const result = send(makeCall());
    await tick();
    sent[0]!.resolve(reply(503));
    await expect(result).resolves.toMatchObject({ status: 503 });
    expect(clock.pending).toBe(0);
  });

  it('aborts both attempts when the caller gives up', async () => {
    const { clock, sent, send } = setup({ delay: 10 });
    const controller = new AbortController();
    const result = send(makeCall({ signal: controller.signal }));
    await tick();
    clock.advance(10);
    await tick();
    controller.abort(new Error('caller gave up'));
    await expect(result).rejects.toThrow('caller gave up');
    expect(sent.every((s) => s.call.signal.aborted)).toBe(true);
  });

  it("with 'observed', waits for samples, then hedges at the recent 95th percentile", async () => {
    const { clock, sent, send, hedges, latency } = setup({ minSamples: 20 });
    for (let i = 0; i < 20; i++) {
      const result = send(makeCall());
      await tick();
      clock.advance(i < 18 ? 10 : 40);
      sent.at(-1)!.resolve(reply(200));
      await result;
    }
    expect(hedges).toEqual([]);
    expect(latency.percentile(95)).toBe(40);
    const result = send(makeCall());
    await tick();
    clock.advance(39);
    await tick();
    expect(hedges).toHaveLength(0);
    clock.advance(1);
    await tick();
    expect(hedges).toHaveLength(1);
    sent.at(-1)!.resolve(reply(200));
    await result;
    // The first attempt lost after 40 ms: recorded as 40 (a lower bound), not dropped.
    expect(latency.count).toBe(21);
  });

  it('validates its options', () => {
    const defaults = { delay: 'observed', percentile: 95, minDelay: 0, samples: 1_000, minSamples: 20 };
    expect(resolve({ delay: 'observed', percentile: 99 })).toEqual({
      ...defaults,
      delay: 'observed',
      percentile: 99,
    });
    expect(resolve({ delay: 25 })).toEqual({ ...defaults, delay: 25 });
    expect(hedgeOption.safeParse({ delay: 'p95' }).success).toBe(false);
    expect(hedgeOption.safeParse({ percentile: 100 }).success).toBe(false);
    expect(hedgeOption.safeParse({ samples: 5 }).success).toBe(false);
  });
});

describe('LatencyWindow', () => {
  it('gives nearest-rank percentiles of the last `size` samples', () => {
    const random = seededRandom(5);
    const window = new LatencyWindow(500);
    expect(window.percentile(95)).toBeNaN();
    const all: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const ms = Math.round(random() * 1_000) / 10;
      all.push(ms);
      window.add(ms);
      if (i % 97 === 0 || i === 1_999) {
        const recent = all.slice(-500).sort((a, b) => a - b);
        // Asking for another percentile than the cached one recomputes: exact.
        for (const p of [50, 95, 99])
          expect(window.percentile(p)).toBe(recent[Math.ceil((p / 100) * recent.length) - 1]);
      }
    }
    expect(window.count).toBe(500);
  });

  it('recomputes a percentile only every size/50 samples', () => {
    const window = new LatencyWindow(100);
    for (let i = 0; i < 100; i++) window.add(10);
    expect(window.percentile(95)).toBe(10);
    window.add(1_000);
    // One new sample: the cached answer stands (it lags by at most 2% of the window).
    expect(window.percentile(95)).toBe(10);
    for (let i = 0; i < 9; i++) window.add(1_000);
    expect(window.percentile(95)).toBe(1_000);
  });
});
