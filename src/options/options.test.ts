import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import type { Discovery } from '../discovery/discovery.js';
import { isMeshError } from '../errors/mesh-error.js';
import { type MeshClientOptions, parseOptions, policyFor } from './index.js';

/** The policy of `service` under the options `raw` (as written). */
function resolvePolicy(raw: MeshClientOptions, service: string) {
  return policyFor(parseOptions(raw), raw, service);
}

/** The MESH_BAD_OPTIONS message `raw` fails with. */
function failure(raw: unknown): string {
  try {
    parseOptions(raw);
  } catch (err) {
    if (!isMeshError(err, 'MESH_BAD_OPTIONS')) throw err;
    return err.message;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

const RETRY_DEFAULTS = {
  attempts: 3,
  backoff: { base: 25, cap: 250 },
  budget: { ratio: 0.2, minPerSecond: 10, window: 10_000 },
  statuses: [502, 503, 504],
  stacking: 'avoid',
};
const BREAKER_DEFAULTS = {
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  resetTimeout: 1_000,
  maxResetTimeout: 60_000,
  halfOpenTrials: 3,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
  maxEjectionPercent: 50,
};
const LB_DEFAULTS = {
  policy: 'peak-ewma',
  decay: 10_000,
  failurePenalty: 1_000,
  latencyTolerance: 2,
  slowStart: false,
};

describe('parseOptions', () => {
  it('applies every default to empty, undefined and null options', () => {
    for (const raw of [{}, undefined, null]) {
      expect(parseOptions(raw)).toMatchObject({
        discovery: { static: {} },
        services: {},
        loadBalancer: LB_DEFAULTS,
        retry: RETRY_DEFAULTS,
        circuitBreaker: BREAKER_DEFAULTS,
        timeout: { total: 15_000, perTry: 5_000, propagate: true },
        axios: {},
      });
    }
  });

  it('fills defaults inside partly given objects', () => {
    const o = parseOptions({
      loadBalancer: { policy: 'ring-hash' },
      retry: { attempts: 5, backoff: { cap: 1_000 } },
      timeout: { perTry: false },
    });
    expect(o.loadBalancer).toEqual({ ...LB_DEFAULTS, policy: 'ring-hash' });
    expect(o.retry).toEqual({ ...RETRY_DEFAULTS, attempts: 5, backoff: { base: 25, cap: 1_000 } });
    expect(o.timeout).toEqual({ total: 15_000, perTry: false, propagate: true });
  });

  it('accepts false for retry, budget, breaker and timeouts', () => {
    const o = parseOptions({ retry: false, circuitBreaker: false, timeout: { total: false, perTry: false } });
    expect(o.retry).toBe(false);
    expect(o.circuitBreaker).toBe(false);
    expect(o.timeout).toEqual({ total: false, perTry: false, propagate: true });
    expect(parseOptions({ retry: { budget: false } }).retry).toMatchObject({ budget: false });
  });

  it('validates service overrides, and an override changes only what it names', () => {
    const raw: MeshClientOptions = {
      retry: { attempts: 4 },
      services: { users: { retry: { attempts: 2 } } },
    };
    expect(parseOptions(raw).services.users?.retry).toEqual({ ...RETRY_DEFAULTS, attempts: 2 });
    expect(policyFor(parseOptions(raw), raw, 'users').retry).toEqual({ ...RETRY_DEFAULTS, attempts: 2 });
    expect(policyFor(parseOptions(raw), raw, 'orders').retry).toEqual({ ...RETRY_DEFAULTS, attempts: 4 });
  });

  it('accepts static discovery as URLs or endpoint objects, a Discovery, a clock and a random source', () => {
    const users = [
      'http://10.0.0.1:80',
      { url: 'https://10.0.0.2', id: 'b', weight: 2, tags: ['v2'], meta: { zone: 'a' } },
    ];
    expect(parseOptions({ discovery: { static: { users } } }).discovery).toEqual({ static: { users } });
    const discovery = { subscribe: () => () => {}, close: async () => {} } as unknown as Discovery;
    const clock = new ManualClock();
    const random = () => 0.5;
    const o = parseOptions({ discovery, clock, random });
    expect(o.discovery).toBe(discovery);
    expect(o.clock).toBe(clock);
    expect(o.random).toBe(random);
  });

  it.each([
    [{ retry: { attempts: 0 } }, 'options.retry.attempts'],
    [{ retry: { attempts: 1.5 } }, 'options.retry.attempts'],
    [{ retry: { attempts: 'three' } }, 'options.retry.attempts'],
    [{ retry: { backoff: { base: -1 } } }, 'options.retry.backoff.base'],
    [{ retry: { budget: { ratio: -0.1 } } }, 'options.retry.budget.ratio'],
    [{ retry: { budget: { window: 0 } } }, 'options.retry.budget.window'],
    [{ retry: { statuses: [503, 700] } }, 'options.retry.statuses[1]'],
    [{ services: { users: { timeout: { perTry: -5 } } } }, 'options.services.users.timeout.perTry'],
    [{ services: { users: { timeout: { perTry: 'soon' } } } }, 'options.services.users.timeout.perTry'],
    [{ services: { users: { retry: { attempts: 0 } } } }, 'options.services.users.retry.attempts'],
    [{ services: { 'user-api': { retry: { attempts: 0 } } } }, 'options.services["user-api"].retry.attempts'],
    [{ loadBalancer: { policy: 'fastest' } }, 'options.loadBalancer.policy'],
    [{ loadBalancer: 'fastest' }, 'options.loadBalancer'],
    [{ loadBalancer: { decay: 0 } }, 'options.loadBalancer.decay'],
    [
      { circuitBreaker: { errorThresholdPercentage: 101 } },
      'options.circuitBreaker.errorThresholdPercentage',
    ],
    [{ circuitBreaker: { maxEjectionPercent: -1 } }, 'options.circuitBreaker.maxEjectionPercent'],
    [{ circuitBreaker: true }, 'options.circuitBreaker'],
    [{ timeout: { total: Number.POSITIVE_INFINITY } }, 'options.timeout.total'],
    [{ discovery: { static: { users: ['not a url'] } } }, 'options.discovery.static.users[0]'],
    [{ discovery: { static: { users: ['ftp://10.0.0.1'] } } }, 'options.discovery.static.users[0]'],
    [
      { discovery: { static: { users: [{ url: 'http://a', weight: 0 }] } } },
      'options.discovery.static.users[0].weight',
    ],
    [{ discovery: 'consul' }, 'options.discovery'],
    [{ axios: { adapter: 'http' } }, 'options.axios'],
    [{ clock: Date }, 'options.clock'],
  ])('rejects %j at %s', (raw, path) => {
    const message = failure(raw);
    expect(message).toMatch(/^MESH_BAD_OPTIONS: /);
    expect(message).toContain(`${path}: `);
  });

  it.each([
    [{ retyr: { attempts: 2 } }, 'options.retyr'],
    [{ retry: { attempts: 2, backof: {} } }, 'options.retry.backof'],
    [{ services: { users: { timeOut: {} } } }, 'options.services.users.timeOut'],
    [
      { discovery: { static: { users: [{ url: 'http://a', wieght: 2 }] } } },
      'options.discovery.static.users[0].wieght',
    ],
  ])('names the unknown key in %j', (raw, path) => {
    expect(failure(raw)).toContain(`${path}: unknown option`);
  });

  it('says what a bad union value should have been', () => {
    expect(failure({ loadBalancer: 'fastest' })).toMatch(
      /options\.loadBalancer: .*"peak-ewma".*"ring-hash".*object/,
    );
    expect(failure({ circuitBreaker: true })).toMatch(/options\.circuitBreaker: .*false.*object.*boolean/);
    expect(failure({ timeout: { total: 'soon' } })).toMatch(
      /options\.timeout\.total: .*false.*number.*string/,
    );
  });

  it('reports every bad option, not just the first', () => {
    const message = failure({ retry: { attempts: 0 }, timeout: { perTry: -1 } });
    expect(message).toContain('options.retry.attempts');
    expect(message).toContain('options.timeout.perTry');
  });

  it('rejects options that are not an object', () => {
    for (const raw of [5, 'peak-ewma', [], true]) expect(failure(raw)).toContain('options: ');
  });
});

describe('resolvePolicy', () => {
  it('gives a service without overrides the global policy, defaults filled', () => {
    const p = resolvePolicy({}, 'users');
    expect(p).toMatchObject({
      loadBalancer: LB_DEFAULTS,
      retry: RETRY_DEFAULTS,
      circuitBreaker: BREAKER_DEFAULTS,
      timeout: { total: 15_000, perTry: 5_000, propagate: true },
      axios: {},
    });
  });

  it('merges override objects onto the global ones, nested objects included', () => {
    const o: MeshClientOptions = {
      retry: { attempts: 5, backoff: { base: 10 } },
      circuitBreaker: { volumeThreshold: 5 },
      timeout: { total: 20_000 },
      services: {
        users: {
          retry: { backoff: { cap: 1_000 }, budget: { ratio: 0.5 } },
          circuitBreaker: { resetTimeout: 2_000 },
          timeout: { perTry: 2_000 },
        },
      },
    };
    const p = resolvePolicy(o, 'users');
    expect(p.retry).toEqual({
      ...RETRY_DEFAULTS,
      attempts: 5,
      backoff: { base: 10, cap: 1_000 },
      budget: { ratio: 0.5, minPerSecond: 10, window: 10_000 },
    });
    expect(p.circuitBreaker).toEqual({ ...BREAKER_DEFAULTS, volumeThreshold: 5, resetTimeout: 2_000 });
    expect(p.timeout).toEqual({ total: 20_000, perTry: 2_000, propagate: true });
    // Other services keep the globals.
    expect(resolvePolicy(o, 'orders').retry).toEqual({
      ...RETRY_DEFAULTS,
      attempts: 5,
      backoff: { base: 10, cap: 250 },
    });
  });

  it('lets false in an override replace the global object', () => {
    const o: MeshClientOptions = {
      services: { users: { retry: false, circuitBreaker: false, timeout: { total: false } } },
    };
    const p = resolvePolicy(o, 'users');
    expect(p.retry).toBe(false);
    expect(p.circuitBreaker).toBe(false);
    expect(p.timeout).toEqual({ total: false, perTry: 5_000, propagate: true });
    expect(resolvePolicy(o, 'users').retry).toBe(false);
    const budgetOff = resolvePolicy({ services: { users: { retry: { budget: false } } } }, 'users');
    expect(budgetOff.retry).toEqual({ ...RETRY_DEFAULTS, budget: false });
  });

  it('fills defaults when an override re-enables what the globals turned off', () => {
    const o: MeshClientOptions = {
      retry: false,
      circuitBreaker: false,
      services: { users: { retry: { attempts: 2 }, circuitBreaker: { volumeThreshold: 1 } } },
    };
    const p = resolvePolicy(o, 'users');
    expect(p.retry).toEqual({ ...RETRY_DEFAULTS, attempts: 2 });
    expect(p.circuitBreaker).toEqual({ ...BREAKER_DEFAULTS, volumeThreshold: 1 });
    expect(resolvePolicy(o, 'orders').retry).toBe(false);
  });

  it('fills budget defaults when an override turns the budget back on', () => {
    const o: MeshClientOptions = {
      retry: { budget: false },
      services: { users: { retry: { budget: { ratio: 0.5 } } } },
    };
    const retry = resolvePolicy(o, 'users').retry;
    if (retry === false) throw new Error('retry should be on');
    expect(retry.budget).toEqual({ ratio: 0.5, minPerSecond: 10, window: 10_000 });
  });

  it('merges the load balancer: a name keeps the global tuning, an object merges onto it', () => {
    const o: MeshClientOptions = {
      loadBalancer: { policy: 'least-request', decay: 2_000 },
      services: { users: { loadBalancer: 'ring-hash' }, orders: { loadBalancer: { initialRtt: 5 } } },
    };
    expect(resolvePolicy(o, 'users').loadBalancer).toEqual({
      ...LB_DEFAULTS,
      policy: 'ring-hash',
      decay: 2_000,
    });
    expect(resolvePolicy(o, 'orders').loadBalancer).toEqual({
      ...LB_DEFAULTS,
      policy: 'least-request',
      decay: 2_000,
      initialRtt: 5,
    });
    const named: MeshClientOptions = { loadBalancer: 'random' };
    expect(resolvePolicy(named, 'x').loadBalancer).toEqual({ ...LB_DEFAULTS, policy: 'random' });
  });

  it('merges axios defaults, headers included', () => {
    const o: MeshClientOptions = {
      axios: { timeout: 1_000, headers: { 'user-agent': 'orders/1.0', accept: 'application/json' } },
      services: { users: { axios: { headers: { 'x-tenant': 'a', accept: 'text/plain' } } } },
    };
    expect(resolvePolicy(o, 'users').axios).toEqual({
      timeout: 1_000,
      headers: { 'user-agent': 'orders/1.0', accept: 'text/plain', 'x-tenant': 'a' },
    });
    expect(resolvePolicy(o, 'orders').axios).toEqual({
      timeout: 1_000,
      headers: { 'user-agent': 'orders/1.0', accept: 'application/json' },
    });
  });

  it('does not mutate the options, as written or parsed', () => {
    const o: MeshClientOptions = {
      retry: { attempts: 4 },
      services: { users: { retry: { backoff: { cap: 9 } } } },
    };
    const parsed = parseOptions(o);
    const before = structuredClone({ raw: o, retry: parsed.retry, services: parsed.services });
    policyFor(parsed, o, 'users');
    policyFor(parsed, o, 'orders');
    expect({ raw: o, retry: parsed.retry, services: parsed.services }).toEqual(before);
  });
});
