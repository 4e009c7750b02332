/**
 * Prometheus metrics of the fat client, against real loopback upstreams: exact counts after known
 * traffic, bounded label cardinality, departed endpoints' series removed, breaker and discovery
 * metrics from the mesh's events, and nothing recorded (nor registered globally) without a registry.
 */
import { isMeshError, MeshClient, type MeshError, type StaticDiscovery } from 'mesh-client';
import { Counter, register as globalRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ClientPosition } from '../src/client/position.js';
import { Mesh } from '../src/mesh/mesh.js';
import { STACK } from '../src/mesh/stack.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

async function upstream(name: string, behaviour?: Upstream['behaviour']) {
  const up = await Upstream.start(name, behaviour);
  open.push(up);
  return up;
}

function client(registry: Registry, options: ConstructorParameters<typeof MeshClient>[0]) {
  const mesh = new MeshClient({ ...options, telemetry: { metrics: { registry }, tracing: false } });
  open.push(mesh);
  return mesh;
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/** Every sample of a metric (prom-client runs its collectors, as a scrape would). */
async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Sample[];
}

/** The value of the one sample whose labels include `labels` (0 when there is none). */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const all = await samples(registry, name);
  const matching = all.filter(
    (s) =>
      (s.metricName === undefined || s.metricName === name) &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return matching.reduce((sum, s) => sum + s.value, 0);
}

const noResilience = { retry: false, circuitBreaker: false } as const;

describe('metrics after known traffic', () => {
  it('counts requests by endpoint, method and status class, errors by code, latency per service', async () => {
    const ok = await upstream('ok');
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const down = await closedPortUrl();
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [ok.url], broken: [bad.url], gone: [down] } },
      ...noResilience,
    });
    const users = mesh.service('users');
    for (let i = 0; i < 5; i++) await users.get(`/users/${i}`);
    for (let i = 0; i < 2; i++) await users.post('/users', { name: 'x' });
    for (let i = 0; i < 4; i++) await mesh.service('broken').get('/x', { validateStatus: null });
    for (let i = 0; i < 3; i++) await expect(mesh.service('gone').get('/x')).rejects.toThrow();

    const name = 'mesh_client_requests_total';
    expect(
      await value(registry, name, { service: 'users', endpoint: ok.url, method: 'GET', status_class: '2xx' }),
    ).toBe(5);
    expect(await value(registry, name, { service: 'users', method: 'POST', status_class: '2xx' })).toBe(2);
    expect(await value(registry, name, { service: 'broken', endpoint: bad.url, status_class: '5xx' })).toBe(
      4,
    );
    expect(await value(registry, name, { service: 'gone', endpoint: down, status_class: 'error' })).toBe(3);
    expect(
      await value(registry, 'mesh_client_request_errors_total', { service: 'gone', code: 'ECONNREFUSED' }),
    ).toBe(3);
    expect(
      await value(registry, 'mesh_client_attempts_total', { service: 'users', status_class: '2xx' }),
    ).toBe(7);

    const count = 'mesh_client_request_duration_seconds_count';
    const histogram = await samples(registry, 'mesh_client_request_duration_seconds');
    const of = (metricName: string, service: string) =>
      histogram.find((s) => s.metricName === metricName && s.labels.service === service)?.value;
    expect([of(count, 'users'), of(count, 'broken'), of(count, 'gone')]).toEqual([7, 4, 3]);
    expect(of('mesh_client_request_duration_seconds_sum', 'users')).toBeGreaterThan(0);
    expect(await value(registry, 'mesh_client_endpoints', { service: 'users' })).toBe(1);
  });

  it('retries: the request counts once, each attempt against its endpoint, each retry by reason', async () => {
    const ok = await upstream('ok');
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [bad.url, ok.url] } },
      loadBalancer: 'round-robin',
      retry: { attempts: 2, budget: false, backoff: { base: 0, cap: 0 } },
      circuitBreaker: false,
    });
    for (let i = 0; i < 10; i++) await mesh.service('users').get('/x');

    // Whatever the rotation, every request ends on the good endpoint, after a retry when it began on the bad one.
    const retried = bad.count;
    expect(retried).toBeGreaterThan(0);
    expect(
      await value(registry, 'mesh_client_requests_total', { endpoint: ok.url, status_class: '2xx' }),
    ).toBe(10);
    expect(await value(registry, 'mesh_client_requests_total', { endpoint: bad.url })).toBe(0);
    expect(
      await value(registry, 'mesh_client_attempts_total', { endpoint: bad.url, status_class: '5xx' }),
    ).toBe(retried);
    expect(
      await value(registry, 'mesh_client_attempts_total', { endpoint: ok.url, status_class: '2xx' }),
    ).toBe(10);
    expect(await value(registry, 'mesh_client_retries_total', { service: 'users', reason: '503' })).toBe(
      retried,
    );
  });

  it('a budget that refuses every retry is counted, per refused retry', async () => {
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [bad.url] } },
      retry: { attempts: 3, budget: { ratio: 0, minPerSecond: 0 } },
      circuitBreaker: false,
    });
    for (let i = 0; i < 3; i++) await mesh.service('users').get('/x', { validateStatus: null });
    expect(await value(registry, 'mesh_client_retry_budget_exhausted_total', { service: 'users' })).toBe(3);
    expect(await value(registry, 'mesh_client_retries_total', { service: 'users' })).toBe(0);
  });
});

describe('cardinality', () => {
  it('paths, queries and ids never become labels; unknown methods are _OTHER', async () => {
    const ok = await upstream('ok');
    const registry = new Registry();
    const mesh = client(registry, { discovery: { static: { users: [ok.url] } }, ...noResilience });
    const users = mesh.service('users');
    for (let i = 0; i < 200; i++) await users.get(`/users/${i}?token=t${i}`, { params: { page: i } });
    await users.request({ method: 'PURGE', url: '/cache/1' });
    await users.request({ method: 'PURGE', url: '/cache/2' });

    const requests = await samples(registry, 'mesh_client_requests_total');
    expect(requests.map((s) => s.labels.method).sort()).toEqual(['GET', '_OTHER']);
    expect(requests.find((s) => s.labels.method === 'GET')!.value).toBe(200);
    const text = await registry.metrics();
    expect(text).not.toMatch(/\/users\/|token|page|PURGE|\/cache/);
    const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(series.length).toBeLessThan(40);
  });
});

describe('endpoint churn', () => {
  it("removes a departed endpoint's series; the gauges follow the live set", async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [a.url, b.url] } },
      loadBalancer: 'round-robin',
      retry: false,
    });
    for (let i = 0; i < 4; i++) await mesh.service('users').get('/x');
    const endpointsOf = async (name: string) =>
      new Set((await samples(registry, name)).map((s) => s.labels.endpoint));
    expect(await endpointsOf('mesh_client_requests_total')).toEqual(new Set([a.url, b.url]));
    expect(await endpointsOf('mesh_client_circuit_breaker_state')).toEqual(new Set([a.url, b.url]));
    expect(await value(registry, 'mesh_client_endpoints', { service: 'users' })).toBe(2);

    (mesh.discovery as StaticDiscovery).set('users', [a.url]);
    for (const name of [
      'mesh_client_requests_total',
      'mesh_client_attempts_total',
      'mesh_client_circuit_breaker_state',
    ]) {
      expect(await endpointsOf(name), name).toEqual(new Set([a.url]));
    }
    expect(await value(registry, 'mesh_client_endpoints', { service: 'users' })).toBe(1);
    expect(await value(registry, 'mesh_client_requests_total', { endpoint: a.url })).toBe(2);
  });
});

describe('breakers, discovery, sidecar fallback', () => {
  it('breaker state per endpoint, transitions and ejections', async () => {
    const ok = await upstream('ok');
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [bad.url, ok.url] } },
      loadBalancer: 'round-robin',
      retry: false,
      circuitBreaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeout: 60_000 },
    });
    const opened = new Promise((resolve) => mesh.once('circuit-open', resolve));
    const users = mesh.service('users');
    for (let i = 0; i < 10 && bad.count < 3; i++) await users.get('/x', { validateStatus: null });
    await opened;

    const state = (url: string) => value(registry, 'mesh_client_circuit_breaker_state', { endpoint: url });
    expect([await state(bad.url), await state(ok.url)]).toEqual([2, 0]);
    expect(
      await value(registry, 'mesh_client_circuit_breaker_transitions_total', {
        endpoint: bad.url,
        state: 'open',
      }),
    ).toBe(1);
    expect(await value(registry, 'mesh_client_ejections_total', { service: 'users' })).toBe(1);
    expect(await value(registry, 'mesh_client_endpoints_ejected', { service: 'users' })).toBe(1);
  });

  it('discovery errors', async () => {
    const ok = await upstream('ok');
    const registry = new Registry();
    // A Discovery of our own that reports one failed refresh, as a registry outage would.
    const discovery = {
      subscribe(_service: string, onUpdate: (e: { url: string }[]) => void, onError?: (e: Error) => void) {
        onUpdate([{ url: ok.url }]);
        onError?.(new Error('registry unreachable'));
        return { ready: Promise.resolve(), close() {} };
      },
      close: async () => undefined,
    };
    const mesh = client(registry, { discovery });
    await mesh.service('users').get('/x');
    expect(await value(registry, 'mesh_client_discovery_errors_total', { service: 'users' })).toBe(1);
  });

  it('sidecar fallbacks, by reason and action; the direct deliveries are counted as requests', async () => {
    const ok = await upstream('ok');
    const registry = new Registry();
    const mesh = client(registry, {
      discovery: { static: { users: [ok.url] } },
      mode: 'sidecar',
      sidecar: { url: await closedPortUrl(), fallback: 'direct', probeInterval: 60_000 },
    });
    for (let i = 0; i < 3; i++) await mesh.service('users').get('/x');
    const name = 'mesh_client_sidecar_fallbacks_total';
    expect(await value(registry, name, { reason: 'ECONNREFUSED', action: 'direct' })).toBe(1);
    expect(await value(registry, name, { reason: 'SIDECAR_DOWN', action: 'direct' })).toBe(2);
    expect(
      await value(registry, 'mesh_client_requests_total', { endpoint: ok.url, status_class: '2xx' }),
    ).toBe(3);
  });
});

describe('registries', () => {
  it('without a registry nothing is recorded, nothing global is touched, no filter is composed', async () => {
    const ok = await upstream('ok');
    const mesh = new MeshClient({ discovery: { static: { users: [ok.url] } } });
    open.push(mesh);
    await mesh.service('users').get('/x');
    expect(await globalRegistry.getMetricsAsJSON()).toEqual([]);

    const core = new Mesh(
      { discovery: { static: { users: [ok.url] } }, telemetry: { tracing: false } },
      new ClientPosition(),
    );
    open.push(core);
    const state = core.service('users');
    const telemetry = STACK.filter((stage) => /metrics|tracing/.test(stage.role));
    expect(telemetry.map((stage) => stage.role)).toEqual([
      'request-tracing',
      'request-metrics',
      'attempt-tracing',
      'attempt-metrics',
    ]);
    for (const stage of telemetry) expect(stage.make(state)).toBeUndefined();
  });

  it('clients sharing a registry add to the same series; a name clash is MESH_BAD_OPTIONS', async () => {
    const ok = await upstream('ok');
    const registry = new Registry();
    const one = client(registry, { discovery: { static: { users: [ok.url] } } });
    const two = client(registry, { discovery: { static: { users: [ok.url] } } });
    await one.service('users').get('/x');
    await two.service('users').get('/x');
    expect(await value(registry, 'mesh_client_requests_total', { service: 'users' })).toBe(2);
    expect(await value(registry, 'mesh_client_endpoints', { service: 'users' })).toBe(2);

    const taken = new Registry();
    new Counter({ name: 'app_requests_total', help: 'the app', registers: [taken] });
    let error: unknown;
    try {
      new MeshClient({ telemetry: { metrics: { registry: taken, prefix: 'app_' } } });
    } catch (err) {
      error = err;
    }
    expect(isMeshError(error, 'MESH_BAD_OPTIONS')).toBe(true);
    expect((error as MeshError).message).toContain('options.telemetry.metrics');
  });

  it('validates the telemetry and logger options with their paths', () => {
    const bad = (options: unknown) => {
      try {
        new MeshClient(options as never);
      } catch (err) {
        return (err as Error).message;
      }
      return 'constructed';
    };
    expect(bad({ telemetry: { metrics: { prefix: 'bad-prefix' } } })).toContain(
      'options.telemetry.metrics.prefix:',
    );
    expect(bad({ telemetry: { metrics: { registry: {} } } })).toContain(
      'options.telemetry.metrics.registry:',
    );
    expect(bad({ telemetry: { tracing: { tracer: 1 } } })).toContain('options.telemetry.tracing');
    expect(bad({ logger: { info() {} } })).toContain('options.logger:');
  });
});
