import { describe, expect, it } from 'vitest';
import { type MeshClientOptions, parseOptions, policyFor } from './index.js';

/** The policy of `service` under the options `raw` (as written). */
function resolvePolicy(raw: MeshClientOptions, service: string) {
  return policyFor(parseOptions(raw), raw, service);
}

describe('governance options', () => {
  it('are all off by default, and routing is empty', () => {
    const policy = resolvePolicy({}, 'svc');
    expect(policy.limits).toEqual({ concurrency: false, rate: false });
    expect(policy.faults).toBe(false);
    expect(policy.outlierDetection).toBe(false);
    expect(policy.hedge).toBe(false);
    expect(policy.routing).toEqual({ rules: [], default: undefined, zone: false });
  });

  it('fill module defaults when turned on', () => {
    const policy = resolvePolicy(
      { limits: { concurrency: {} }, outlierDetection: {}, hedge: { delay: 10 } },
      'svc',
    );
    expect(policy.limits.concurrency).toEqual({ maxConcurrent: 100, maxQueue: 0, maxWait: 1000 });
    expect(policy.outlierDetection).toMatchObject({
      consecutive5xx: 5,
      interval: 10_000,
      maxEjectionPercent: 10,
    });
    expect(policy.hedge).toMatchObject({ delay: 10, percentile: 95, minSamples: 20 });
  });

  it('merge per service: objects merge, false replaces', () => {
    const options: MeshClientOptions = {
      limits: { concurrency: { maxConcurrent: 10 }, rate: { rate: 5 } },
      outlierDetection: { consecutive5xx: 3 },
      faults: { delay: { ms: 10 } },
      services: {
        a: {
          limits: { concurrency: { maxQueue: 4 } },
          outlierDetection: { interval: 500 },
          faults: { abort: { percent: 1 } },
        },
        b: { limits: { rate: false }, outlierDetection: false, faults: false, hedge: {} },
      },
    };
    const a = resolvePolicy(options, 'a');
    expect(a.limits.concurrency).toMatchObject({ maxConcurrent: 10, maxQueue: 4 });
    expect(a.limits.rate).toEqual({ rate: 5 });
    expect(a.outlierDetection).toMatchObject({ consecutive5xx: 3, interval: 500 });
    expect(a.faults).toEqual({ delay: { percent: 100, ms: 10 }, abort: { percent: 1, status: 503 } });
    const b = resolvePolicy(options, 'b');
    expect(b.limits).toMatchObject({ concurrency: { maxConcurrent: 10 }, rate: false });
    expect(b.outlierDetection).toBe(false);
    expect(b.faults).toBe(false);
    expect(b.hedge).toMatchObject({ delay: 'observed' });
  });

  it("replaces routing's parts as a whole per service", () => {
    const options: MeshClientOptions = {
      routing: { zone: { local: 'a' }, default: { subset: { version: 'v1' } } },
      services: { s: { routing: { default: { split: [{ subset: { version: 'v2' }, weight: 1 }] } } } },
    };
    expect(resolvePolicy(options, 's').routing).toEqual({
      rules: [],
      default: { split: [{ subset: { version: 'v2' }, weight: 1 }] },
      zone: { local: 'a', zoneKey: 'zone', minHealthyPercent: 70, minClusterSize: 6 },
    });
  });

  it('reject bad values naming the path', () => {
    expect(() => parseOptions({ services: { s: { limits: { rate: { rate: 0 } } } } })).toThrow(
      /options\.services\.s\.limits\.rate/,
    );
    expect(() => parseOptions({ routing: { default: { subset: { v: '1' }, split: [] } } })).toThrow(
      /options\.routing\.default/,
    );
  });
});
