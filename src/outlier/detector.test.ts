import { describe, expect, it } from 'vitest';
import type { Handler, Reply } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import { seededRandom } from '../core/random.js';
import { makeCall, makePool, setReady, sink } from '../core/test-helpers.js';
import { MeshError } from '../errors/mesh-error.js';
import { type EjectedEvent, OutlierDetector, type OutlierEvents, type UnejectedEvent } from './detector.js';
import { outlierDetection } from './filter.js';
import {
  type OutlierDetectionOptions,
  type OutlierDetectionPolicy,
  outlierDetectionOption,
} from './options.js';

/** The options as the mesh resolves them: defaults filled in. */
const resolve = (options: OutlierDetectionOptions) =>
  outlierDetectionOption.parse(options) as OutlierDetectionPolicy;
const OUTLIER_DETECTION_DEFAULTS = resolve({});

function setup(n: number, options: OutlierDetectionOptions = {}) {
  const clock = new ManualClock();
  const pool = makePool(n, clock);
  const ejected: EjectedEvent[] = [];
  const unejected: UnejectedEvent[] = [];
  const detector = new OutlierDetector('svc', pool, resolve(options), {
    clock,
    random: seededRandom(7),
    events: sink<OutlierEvents>((event, payload) => {
      if (event === 'ejected') ejected.push(payload as EjectedEvent);
      else unejected.push(payload as UnejectedEvent);
    }),
  });
  return { clock, pool, detector, ejected, unejected };
}

const times = (n: number, fn: () => void) => {
  for (let i = 0; i < n; i++) fn();
};

describe('outlier detection: consecutive errors', () => {
  it('ejects after 5 consecutive 5xx for 30 s, and returns the endpoint when the time is up', () => {
    const { clock, pool, detector, ejected, unejected } = setup(10);
    const ep = pool.all[3]!;
    times(4, () => detector.record(ep, '5xx'));
    expect(pool.ready).toContain(ep);
    detector.record(ep, '5xx');
    expect(pool.ready).not.toContain(ep);
    expect(ep.readyIndex).toBe(-1);
    expect(detector.isEjected(ep)).toBe(true);
    expect(ejected).toEqual([
      { service: 'svc', endpoint: ep.url, reason: 'consecutive-5xx', ejectionMs: 30_000, ejections: 1 },
    ]);
    // One timer per service, whatever is ejected.
    expect(clock.pending).toBe(1);
    clock.advance(29_999);
    expect(pool.ready).not.toContain(ep);
    clock.advance(1);
    expect(pool.ready).toContain(ep);
    expect(unejected).toEqual([{ service: 'svc', endpoint: ep.url, ejectedMs: 30_000 }]);
    expect(clock.pending).toBe(1);
  });

  it('resets the count on a success and counts connection failures with the 5xx', () => {
    const { pool, detector } = setup(10);
    const ep = pool.all[0]!;
    times(4, () => detector.record(ep, '5xx'));
    detector.record(ep, 'success');
    times(4, () => detector.record(ep, 'gateway'));
    expect(detector.isEjected(ep)).toBe(false);
    detector.record(ep, '5xx');
    expect(detector.isEjected(ep)).toBe(true);
  });

  it('detects consecutive gateway failures, enforced only when configured (Envoy: 0% by default)', () => {
    expect(OUTLIER_DETECTION_DEFAULTS.enforcingConsecutiveGatewayFailure).toBe(0);
    const off = setup(10, { consecutive5xx: 100 });
    times(20, () => off.detector.record(off.pool.all[0]!, 'gateway'));
    expect(off.ejected).toEqual([]);

    const on = setup(10, { consecutive5xx: 100, enforcingConsecutiveGatewayFailure: 100 });
    const ep = on.pool.all[0]!;
    times(4, () => on.detector.record(ep, 'gateway'));
    // A 500 is a 5xx but not a gateway failure: the gateway count starts over.
    on.detector.record(ep, '5xx');
    times(4, () => on.detector.record(ep, 'gateway'));
    expect(on.ejected).toEqual([]);
    on.detector.record(ep, 'gateway');
    expect(on.ejected.map((e) => e.reason)).toEqual(['consecutive-gateway-failure']);
  });

  it('enforces a detection on the configured share, from the random source', () => {
    const { pool, detector, ejected } = setup(100, { enforcingConsecutive5xx: 30, maxEjectionPercent: 100 });
    let detections = 0;
    for (const ep of pool.all) {
      times(4, () => detector.record(ep, '5xx'));
      detections++;
      detector.record(ep, '5xx');
    }
    // 100 detections at 30%: well within 15..45 for any reasonable generator.
    expect(ejected.length).toBeGreaterThan(15);
    expect(ejected.length).toBeLessThan(45);
    expect(detections).toBe(100);
  });
});

describe('outlier detection: ejection time and cap', () => {
  it('grows the ejection time with each ejection and earns it back one interval at a time', () => {
    const { clock, pool, detector, ejected } = setup(10);
    const ep = pool.all[0]!;
    const fail = () => times(5, () => detector.record(ep, '5xx'));
    fail();
    clock.advance(30_000);
    fail();
    expect(ejected.map((e) => [e.ejectionMs, e.ejections])).toEqual([
      [30_000, 1],
      [60_000, 2],
    ]);
    clock.advance(60_000);
    expect(detector.isEjected(ep)).toBe(false);
    expect(detector.ejections(ep)).toBe(2);
    // Each sweep that finds it in rotation takes one off the multiplier.
    clock.advance(10_000);
    expect(detector.ejections(ep)).toBe(1);
    fail();
    expect(ejected.at(-1)).toMatchObject({ ejectionMs: 60_000, ejections: 2 });
  });

  it('caps the ejection time at maxEjectionTime', () => {
    const { clock, pool, detector, ejected } = setup(10, { baseEjectionTime: 100_000, interval: 1e9 });
    const ep = pool.all[0]!;
    for (let i = 0; i < 4; i++) {
      times(5, () => detector.record(ep, '5xx'));
      clock.advance(ejected.at(-1)!.ejectionMs);
    }
    expect(ejected.map((e) => e.ejectionMs)).toEqual([100_000, 200_000, 300_000, 300_000]);
  });

  it('ejects at most maxEjectionPercent of the endpoints, and always at least one', () => {
    for (const [n, cap] of [
      [3, 1],
      [10, 1],
      [20, 2],
      [35, 3],
    ] as const) {
      const { pool, detector, ejected } = setup(n);
      for (const ep of pool.all) times(5, () => detector.record(ep, '5xx'));
      expect(ejected).toHaveLength(cap);
      expect(pool.ready).toHaveLength(n - cap);
    }
  });

  it('ejects a capped endpoint on its next failure once there is room', () => {
    const { clock, pool, detector, ejected } = setup(10);
    const [a, b] = pool.all as Endpoint[];
    times(5, () => detector.record(a!, '5xx'));
    times(5, () => detector.record(b!, '5xx'));
    expect(ejected.map((e) => e.endpoint)).toEqual([a!.url]);
    clock.advance(30_000);
    detector.record(b!, '5xx');
    expect(ejected.map((e) => e.endpoint)).toEqual([a!.url, b!.url]);
  });

  it('frees the cap when an ejected endpoint leaves discovery, without an unejected event', () => {
    const { clock, pool, detector, ejected, unejected } = setup(10);
    const [a, b] = pool.all as Endpoint[];
    times(5, () => detector.record(a!, '5xx'));
    pool.update(pool.all.filter((ep) => ep !== a).map((ep) => ({ url: ep.url })));
    times(5, () => detector.record(b!, '5xx'));
    expect(ejected.map((e) => e.endpoint)).toEqual([a!.url, b!.url]);
    clock.advance(30_000);
    expect(unejected.map((e) => e.endpoint)).toEqual([b!.url]);
    expect(pool.ready).toHaveLength(9);
  });
});

describe('outlier detection: success rate', () => {
  it('ejects at the sweep an endpoint below mean - 1.9 stdev among those with enough volume', () => {
    const s = setup(10, { consecutive5xx: 1_000 });
    const { pool, detector, ejected } = s;
    const ep = pool.all[5]!;
    for (const [i, other] of pool.all.entries()) {
      for (let k = 0; k < 100; k++) {
        const fails = i === 5 ? k % 2 === 0 : k === 0;
        detector.record(other, fails ? '5xx' : 'success');
      }
    }
    expect(ejected).toEqual([]);
    s.clock.advance(10_000);
    expect(ejected).toEqual([
      { service: 'svc', endpoint: ep.url, reason: 'success-rate', ejectionMs: 30_000, ejections: 1 },
    ]);
  });

  it('needs successRateMinimumHosts endpoints with successRateRequestVolume attempts', () => {
    const s = setup(10, { consecutive5xx: 1_000 });
    const { pool, detector, ejected, clock } = s;
    // Four endpoints with volume (one of them bad), the rest under 100 attempts.
    for (const [i, ep] of pool.all.entries()) {
      const volume = i < 4 ? 100 : 99;
      for (let k = 0; k < volume; k++) detector.record(ep, i === 0 && k % 2 === 0 ? '5xx' : 'success');
    }
    clock.advance(10_000);
    expect(ejected).toEqual([]);
    // Counters start over each interval: the next one has the five hosts needed.
    for (const [i, ep] of pool.all.entries()) {
      for (let k = 0; k < (i < 5 ? 100 : 10); k++)
        detector.record(ep, i === 0 && k % 2 === 0 ? '5xx' : 'success');
    }
    clock.advance(10_000);
    expect(ejected.map((e) => [e.endpoint, e.reason])).toEqual([[pool.all[0]!.url, 'success-rate']]);
  });

  it('ejects nobody when every endpoint fails alike', () => {
    const s = setup(6, { consecutive5xx: 1_000 });
    for (const ep of s.pool.all)
      for (let k = 0; k < 100; k++) s.detector.record(ep, k % 3 ? 'success' : '5xx');
    s.clock.advance(10_000);
    expect(s.ejected).toEqual([]);
  });
});

describe('outlier detection and the breaker', () => {
  it('keeps an ejected endpoint out when its breaker closes, and does not return one whose breaker is open', () => {
    const { clock, pool, detector } = setup(10);
    const ep = pool.all[0]!;
    times(5, () => detector.record(ep, '5xx'));
    // The breaker (which calls pool.setReady) opens and then closes while the endpoint is ejected.
    setReady(pool, ep, false);
    setReady(pool, ep, true);
    expect(pool.ready).not.toContain(ep);
    // It opens again: when the ejection ends the endpoint stays out, until the breaker admits it.
    setReady(pool, ep, false);
    clock.advance(30_000);
    expect(detector.isEjected(ep)).toBe(false);
    expect(pool.ready).not.toContain(ep);
    setReady(pool, ep, true);
    expect(pool.ready).toContain(ep);
  });

  it('returns every ejected endpoint and clears its timer on close', () => {
    const { clock, pool, detector } = setup(10, { maxEjectionPercent: 50 });
    for (const ep of pool.all.slice(0, 3)) times(5, () => detector.record(ep, '5xx'));
    expect(pool.ready).toHaveLength(7);
    detector.close();
    expect(pool.ready).toHaveLength(10);
    expect(clock.pending).toBe(0);
    times(5, () => detector.record(pool.all[0]!, '5xx'));
    expect(pool.ready).toHaveLength(10);
  });
});

describe('outlier detection filter', () => {
  async function run(handler: Handler, options: { signal?: AbortSignal } = {}) {
    const { pool, detector, ejected } = setup(10, { consecutive5xx: 2 });
    const ep = pool.all[0]!;
    const send = outlierDetection(detector)(handler);
    for (let i = 0; i < 2; i++) {
      await send(makeCall({ endpoint: ep, ...options })).catch(() => undefined);
    }
    return ejected.map((e) => e.reason);
  }

  it('counts 5xx replies, connection failures and timeouts', async () => {
    expect(await run(async () => ({ status: 503 }) satisfies Reply)).toEqual(['consecutive-5xx']);
    expect(await run(async () => ({ status: 500 }) satisfies Reply)).toEqual(['consecutive-5xx']);
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    expect(await run(() => Promise.reject(refused))).toEqual(['consecutive-5xx']);
    const timeout = new MeshError('MESH_TIMEOUT', 'per-try timeout');
    expect(await run(() => Promise.reject(timeout))).toEqual(['consecutive-5xx']);
  });

  it('does not count 4xx, breaker refusals or attempts the caller gave up on', async () => {
    expect(await run(async () => ({ status: 404 }))).toEqual([]);
    expect(await run(() => Promise.reject(new MeshError('MESH_CIRCUIT_OPEN', 'open')))).toEqual([]);
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    expect(await run(() => Promise.reject(controller.signal.reason), { signal: controller.signal })).toEqual(
      [],
    );
  });

  it('validates its options', () => {
    expect(resolve({ consecutive5xx: 3, maxEjectionPercent: 20 })).toEqual({
      ...OUTLIER_DETECTION_DEFAULTS,
      consecutive5xx: 3,
      maxEjectionPercent: 20,
    });
    // Envoy's defaults.
    expect(OUTLIER_DETECTION_DEFAULTS).toEqual({
      consecutive5xx: 5,
      consecutiveGatewayFailure: 5,
      enforcingConsecutive5xx: 100,
      enforcingConsecutiveGatewayFailure: 0,
      interval: 10_000,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 10,
      successRateMinimumHosts: 5,
      successRateRequestVolume: 100,
      successRateStdevFactor: 1.9,
      enforcingSuccessRate: 100,
    });
    expect(outlierDetectionOption.safeParse({ consecutive5xx: 0 }).success).toBe(false);
    expect(outlierDetectionOption.safeParse({ maxEjectionPercent: 101 }).success).toBe(false);
    expect(outlierDetectionOption.safeParse({ interval: 0 }).success).toBe(false);
    expect(outlierDetectionOption.safeParse({ splitExternalLocalOriginErrors: true }).success).toBe(false);
  });
});
