import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { type Endpoint, EndpointHold, type EndpointInfo, EndpointSlot } from './endpoint.js';
import { EndpointPool } from './pool.js';
import { seededRandom } from './random.js';
import { setReady } from './test-helpers.js';

const url = (i: number) => `http://10.0.0.${i}:80`;

/** State a policy keeps per endpoint (as a load metric or a breaker would), released when it leaves. */
interface TestState {
  rtt: number;
  state: string;
  release?: () => void;
}
const STATE = new EndpointSlot<TestState>('test');
/** A hold standing in for outlier ejection. */
const OUTLIER = new EndpointHold('test-outlier');

function pool(infos: EndpointInfo[] = [], clock = new ManualClock()) {
  const p = new EndpointPool('svc', clock);
  p.update(infos);
  return p;
}

/** The pool's ready list and each endpoint's `readyIndex` agree. */
function expectConsistent(p: EndpointPool) {
  for (const [i, ep] of p.ready.entries()) expect(ep.readyIndex).toBe(i);
  for (const ep of p.all) {
    if (ep.readyIndex >= 0) expect(p.ready[ep.readyIndex]).toBe(ep);
  }
  expect(new Set(p.ready).size).toBe(p.ready.length);
  for (const ep of p.ready) expect(p.all).toContain(ep);
}

describe('EndpointPool.update', () => {
  it('creates endpoints in discovery order, all ready, stamped with the clock time and no policy state', () => {
    const clock = new ManualClock(500);
    const p = pool([{ url: url(1) }, { url: `${url(2)}/`, weight: 3 }, { url: url(3), id: 'three' }], clock);
    expect(p.all.map((ep) => ep.id)).toEqual([url(1), url(2), 'three']);
    expect(p.all[1]!.url).toBe(url(2));
    expect(p.ready).toHaveLength(3);
    expect(p.all.every((ep) => ep.joinedAt === 500 && STATE.get(ep) === undefined && ep.holds === 0)).toBe(
      true,
    );
    expect(p.get('three')).toBe(p.all[2]);
    expectConsistent(p);
  });

  it('reports what changed and bumps the version only on a change', () => {
    const p = pool();
    const first = p.update([{ url: url(1) }, { url: url(2) }]);
    expect(first.added.map((ep) => ep.id)).toEqual([url(1), url(2)]);
    expect(first.removed).toEqual([]);
    expect(first.changed).toBe(true);
    const v = p.version;

    const same = p.update([{ url: url(1) }, { url: url(2) }]);
    expect(same).toEqual({ added: [], removed: [], changed: false });
    expect(p.version).toBe(v);

    const meta = p.update([{ url: url(1), meta: { zone: 'a' } }, { url: url(2) }]);
    expect(meta.changed).toBe(true);
    expect(p.version).toBe(v + 1);
    expect(p.all[0]!.meta).toEqual({ zone: 'a' });

    const tags = p.update([{ url: url(1), meta: { zone: 'a' }, tags: ['v2'] }, { url: url(2) }]);
    expect(tags.changed).toBe(true);
    expect(p.all[0]!.tags).toEqual(['v2']);
  });

  it('keeps the Endpoint object and its state for an instance that stays', () => {
    const p = pool([{ url: url(1) }, { url: url(2) }]);
    const kept = p.all[0]!;
    kept.inFlight = 4;
    kept.requests = 9;
    kept.failures = 2;
    setReady(p, kept, false);
    const state: TestState = { rtt: 123, state: 'half-open' };
    STATE.set(kept, state);

    const change = p.update([{ url: url(3) }, { url: `${url(1)}/`, weight: 5 }]);
    expect(change.added.map((ep) => ep.id)).toEqual([url(3)]);
    expect(p.get(url(1))).toBe(kept);
    expect(kept).toMatchObject({
      inFlight: 4,
      requests: 9,
      failures: 2,
      weight: 5,
    });
    expect(STATE.get(kept)).toMatchObject({ rtt: 123, state: 'half-open' });
    expect(STATE.get(kept)).toBe(state);
    // Still out of rotation: only its breaker brings it back.
    expect(kept.readyIndex).toBe(-1);
    expect(p.all.map((ep) => ep.id)).toEqual([url(3), url(1)]);
    expectConsistent(p);
  });

  it('takes removed endpoints out of ready and releases what policies attached to them', () => {
    const p = pool([{ url: url(1) }, { url: url(2) }, { url: url(3) }]);
    const shutdowns: string[] = [];
    for (const ep of p.all) STATE.set(ep, { rtt: 0, state: 'open', release: () => shutdowns.push(ep.id) });
    const gone = p.all[0]!;

    const change = p.update([{ url: url(2) }, { url: url(3) }]);
    expect(change.removed).toEqual([gone]);
    expect(shutdowns).toEqual([url(1)]);
    expect(gone.readyIndex).toBe(-1);
    expect(STATE.get(gone)).toBeUndefined();
    expect(p.ready).not.toContain(gone);
    expect(p.get(url(1))).toBeUndefined();
    expectConsistent(p);
  });

  it('does not bring back a removed endpoint on a late setReady', () => {
    const p = pool([{ url: url(1) }, { url: url(2) }]);
    const gone = p.all[1]!;
    p.update([{ url: url(1) }]);
    setReady(p, gone, true);
    expect(gone.readyIndex).toBe(-1);
    expect(p.ready).toEqual([p.all[0]]);
  });

  it('gives a returning instance a fresh Endpoint', () => {
    const p = pool([{ url: url(1) }]);
    const old = p.all[0]!;
    old.failures = 7;
    p.update([]);
    p.update([{ url: url(1) }]);
    expect(p.all[0]).not.toBe(old);
    expect(p.all[0]!.failures).toBe(0);
    expect(p.all[0]!.readyIndex).toBe(0);
  });

  it('ignores a duplicate id after its first listing', () => {
    const p = pool([
      { url: url(1), weight: 2 },
      { url: `${url(1)}/`, weight: 9 },
    ]);
    expect(p.all).toHaveLength(1);
    expect(p.all[0]!.weight).toBe(2);
  });

  it('tracks the weight range', () => {
    const p = pool();
    expect([p.minWeight, p.maxWeight, p.uniformWeights]).toEqual([1, 1, true]);
    p.update([
      { url: url(1), weight: 2 },
      { url: url(2), weight: 2 },
    ]);
    expect([p.minWeight, p.maxWeight, p.uniformWeights]).toEqual([2, 2, true]);
    p.update([{ url: url(1), weight: 2 }, { url: url(2), weight: 5 }, { url: url(3) }]);
    expect([p.minWeight, p.maxWeight, p.uniformWeights]).toEqual([1, 5, false]);
    p.update([
      { url: url(1), weight: 2 },
      { url: url(2), weight: 2 },
    ]);
    expect([p.minWeight, p.maxWeight, p.uniformWeights]).toEqual([2, 2, true]);
    p.clear();
    expect(p.all).toEqual([]);
    expect(p.ready).toEqual([]);
    expect([p.minWeight, p.maxWeight, p.uniformWeights]).toEqual([1, 1, true]);
  });
});

describe('EndpointPool.setReady', () => {
  it('swap-removes and appends, keeping readyIndex in step', () => {
    const p = pool([1, 2, 3, 4].map((i) => ({ url: url(i) })));
    const [a, b, c, d] = p.all as Endpoint[];
    setReady(p, b!, false);
    expect(p.ready).toEqual([a, d, c]);
    expect(b!.readyIndex).toBe(-1);
    setReady(p, c!, false);
    expect(p.ready).toEqual([a, d]);
    setReady(p, b!, true);
    expect(p.ready).toEqual([a, d, b]);
    // Repeats are no-ops.
    setReady(p, b!, true);
    setReady(p, c!, false);
    expect(p.ready).toEqual([a, d, b]);
    expectConsistent(p);
  });

  it('keeps ready[ep.readyIndex] === ep through random updates and ready changes', () => {
    const random = seededRandom(2024);
    const p = pool();
    const expectedReady = new Set<string>();
    const seenEndpoints: Endpoint[] = [];
    const draw = (n: number) => (random() * n) | 0;

    for (let step = 0; step < 3_000; step++) {
      const op = random();
      if (op < 0.1) {
        // Discovery pushes a random subset of 40 instances.
        const infos = Array.from({ length: 40 }, (_, i) => ({ url: url(i) })).filter(() => random() < 0.7);
        const { added, removed } = p.update(infos);
        for (const ep of removed) expectedReady.delete(ep.id);
        for (const ep of added) {
          expectedReady.add(ep.id);
          seenEndpoints.push(ep);
        }
      } else if (seenEndpoints.length > 0) {
        // A breaker event, possibly late, for a current or a departed endpoint.
        const ep = seenEndpoints[draw(seenEndpoints.length)]!;
        const ready = random() < 0.5;
        setReady(p, ep, ready);
        if (p.get(ep.id) === ep) {
          if (ready) expectedReady.add(ep.id);
          else expectedReady.delete(ep.id);
        }
      }
      for (let i = 0; i < p.ready.length; i++) {
        if (p.ready[i]!.readyIndex !== i) throw new Error(`step ${step}: ready[${i}].readyIndex is wrong`);
      }
      for (const ep of seenEndpoints) {
        if (ep.readyIndex >= 0 && p.ready[ep.readyIndex] !== ep) {
          throw new Error(`step ${step}: ${ep.id} has a stale readyIndex`);
        }
        if (p.get(ep.id) !== ep && ep.readyIndex !== -1)
          throw new Error(`step ${step}: departed ${ep.id} is ready`);
      }
      if (p.ready.length !== expectedReady.size || !p.ready.every((ep) => expectedReady.has(ep.id))) {
        throw new Error(`step ${step}: ready set differs from the model`);
      }
    }
    expect(seenEndpoints.length).toBeGreaterThan(40);
    expectConsistent(p);
  });
});

describe('EndpointPool.hold', () => {
  it('keeps a held endpoint out whatever the breaker says, and returns it only when both allow', () => {
    const p = pool([1, 2, 3].map((i) => ({ url: url(i) })));
    const ep = p.all[1]!;
    p.hold(ep, OUTLIER, true);
    expect(p.ready).not.toContain(ep);
    // The breaker closing (setReady true) does not bring it back while held.
    setReady(p, ep, true);
    expect(ep.readyIndex).toBe(-1);
    // The breaker opens while held: releasing the hold leaves it out.
    setReady(p, ep, false);
    p.hold(ep, OUTLIER, false);
    expect(ep.readyIndex).toBe(-1);
    setReady(p, ep, true);
    expect(p.ready).toContain(ep);
    expect(ep.holds).toBe(0);
    expectConsistent(p);
  });

  it('does not bring back a departed endpoint when its hold is released', () => {
    const p = pool([{ url: url(1) }, { url: url(2) }]);
    const gone = p.all[1]!;
    p.hold(gone, OUTLIER, true);
    p.update([{ url: url(1) }]);
    p.hold(gone, OUTLIER, false);
    expect(gone.readyIndex).toBe(-1);
    expect(p.ready).toEqual([p.all[0]]);
  });

  it('tells watchers of every change to the ready list, until they stop watching', () => {
    const p = pool([{ url: url(1) }, { url: url(2) }]);
    const seen: Array<[string, boolean]> = [];
    const stop = p.watchReady((ep, ready) => seen.push([ep.id, ready]));
    const [a, b] = p.all as Endpoint[];
    setReady(p, a!, false);
    setReady(p, a!, false);
    p.hold(b!, OUTLIER, true);
    p.update([{ url: url(1) }, { url: url(3) }]);
    setReady(p, a!, true);
    expect(seen).toEqual([
      [url(1), false],
      [url(2), false],
      [url(3), true],
      [url(1), true],
    ]);
    stop();
    setReady(p, a!, false);
    expect(seen).toHaveLength(4);
  });
});
