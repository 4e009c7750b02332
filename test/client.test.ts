/**
 * The public surface of MeshClient: construction and option errors, request/service, axios
 * integration (interceptors, transforms, validateStatus), discovery updates, events, close().
 */

import { AxiosError } from 'axios';
import { type Discovery, isMeshError, MeshClient, type MeshError, StaticDiscovery } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { runExitChild } from './support/exit-child.js';

const open = closeAfterEach();

async function upstream(name = 'u', behaviour?: Upstream['behaviour']) {
  const up = await Upstream.start(name, behaviour);
  open.push(up);
  return up;
}

function badOptions(options: unknown): string {
  try {
    new MeshClient(options as never);
  } catch (err) {
    expect(isMeshError(err, 'MESH_BAD_OPTIONS')).toBe(true);
    return (err as MeshError).message;
  }
  throw new Error('construction should have failed');
}

describe('options', () => {
  it('construct with no options at all', async () => {
    const mesh = new MeshClient();
    const err = await mesh.request({ service: 'nobody', url: '/' }).catch((e) => e);
    expect(isMeshError(err, 'MESH_NO_ENDPOINTS')).toBe(true);
    await mesh.close();
  });

  it.each([
    [{ retry: { attempts: 0 } }, 'options.retry.attempts'],
    [{ retry: { backoff: { cap: -1 } } }, 'options.retry.backoff.cap'],
    [{ loadBalancer: 'fastest' }, 'options.loadBalancer'],
    [{ loadBalancer: { policy: 'ring-hash', decay: 0 } }, 'options.loadBalancer.decay'],
    [{ timeout: { perTry: '5s' } }, 'options.timeout.perTry'],
    [{ circuitBreaker: { maxEjectionPercent: 150 } }, 'options.circuitBreaker.maxEjectionPercent'],
    [{ services: { users: { timeout: { total: -5 } } } }, 'options.services.users.timeout.total'],
    [{ services: { users: { retyr: {} } } }, 'options.services.users.retyr'],
    [{ retyr: { attempts: 2 } }, 'options.retyr'],
    [{ discovery: { static: { users: ['not a url'] } } }, 'options.discovery.static.users[0]'],
    [
      { discovery: { static: { users: [{ url: 'http://a:1', weight: 0 }] } } },
      'options.discovery.static.users[0].weight',
    ],
    [{ axios: { adapter: 'fetch' } }, 'options.axios'],
  ])('rejects %j naming %s', (options, path) => {
    const message = badOptions(options);
    expect(message).toContain(`${path}:`);
  });

  it('per-service overrides change only what they name', async () => {
    const up = await upstream('u', { kind: 'status', status: 503 });
    const mesh = new MeshClient({
      discovery: { static: { flaky: [up.url], strict: [up.url] } },
      retry: { attempts: 3, backoff: { base: 0, cap: 0 } },
      circuitBreaker: false,
      services: { strict: { retry: false } },
    });
    open.push(mesh);
    await mesh.request({ service: 'flaky', url: '/' }).catch(() => undefined);
    expect(up.count).toBe(3);
    await mesh.request({ service: 'strict', url: '/' }).catch(() => undefined);
    expect(up.count).toBe(4);
  });
});

describe('requests', () => {
  it('request() and service() reach the service with path, query, headers and body', async () => {
    const up = await upstream();
    const mesh = new MeshClient({
      discovery: { static: { users: [up.url] } },
      axios: { headers: { 'user-agent': 'orders/1.0' } },
    });
    open.push(mesh);
    const a = await mesh.request<{ upstream: string }>({
      service: 'users',
      url: '/users/42',
      params: { full: 1 },
    });
    expect(a.data.upstream).toBe('u');
    await mesh.service('users').post('/users', { name: 'ada' });
    expect(up.received.map((r) => [r.method, r.url, r.headers['user-agent']])).toEqual([
      ['GET', '/users/42?full=1', 'orders/1.0'],
      ['POST', '/users', 'orders/1.0'],
    ]);
    expect(up.received[1]!.body).toBe('{"name":"ada"}');
    expect(mesh.service('users')).toBe(mesh.service('users'));
  });

  it('keeps axios interceptors, transforms and a baseURL path prefix working', async () => {
    const up = await upstream();
    const mesh = new MeshClient({ discovery: { static: { users: [up.url] } } });
    open.push(mesh);
    const users = mesh.service('users');
    users.defaults.baseURL = '/api/v2';
    users.interceptors.request.use((config) => {
      config.headers.set('x-request-id', 'r-1');
      return config;
    });
    users.interceptors.response.use((res) => ({ ...res, data: { wrapped: res.data } }));
    const res = await users.get('/users/1', {
      transformResponse: [(raw: string) => JSON.parse(raw).upstream.toUpperCase()],
    });
    expect(res.data).toEqual({ wrapped: 'U' });
    expect(up.received[0]).toMatchObject({ url: '/api/v2/users/1', headers: { 'x-request-id': 'r-1' } });
  });

  it('HTTP error statuses are AxiosErrors, and validateStatus is honoured', async () => {
    const up = await upstream('u', { kind: 'status', status: 404 });
    const mesh = new MeshClient({ discovery: { static: { users: [up.url] } } });
    open.push(mesh);
    const err = await mesh.request({ service: 'users', url: '/missing' }).catch((e) => e);
    expect(err).toBeInstanceOf(AxiosError);
    expect(err.response.status).toBe(404);
    expect(err.config.url).toBe('/missing');
    const res = await mesh.request({ service: 'users', url: '/missing', validateStatus: () => true });
    expect(res.status).toBe(404);
    expect(up.count).toBe(2);
  });

  it('refuses absolute URLs and requests without a service', async () => {
    const mesh = new MeshClient({ discovery: { static: { users: ['http://127.0.0.1:1'] } } });
    open.push(mesh);
    const abs = await mesh
      .service('users')
      .get('http://evil.example/x')
      .catch((e) => e);
    expect(isMeshError(abs, 'MESH_BAD_REQUEST')).toBe(true);
    const none = await mesh.request({ url: '/x' } as never).catch((e) => e);
    expect(isMeshError(none, 'MESH_BAD_REQUEST')).toBe(true);
  });

  it('ring-hash sends one key to one endpoint', async () => {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => upstream(n)));
    const mesh = new MeshClient({
      discovery: { static: { svc: ups.map((u) => u.url) } },
      loadBalancer: 'ring-hash',
    });
    open.push(mesh);
    const seen = new Map<string, Set<string>>();
    // 30 keys: the ring depends on the endpoints' ports, and all of 6 keys landing on one of 3
    // equal endpoints would happen once in 240 runs.
    for (let i = 0; i < 90; i++) {
      const key = `user-${i % 30}`;
      const res = await mesh.request<{ upstream: string }>({ service: 'svc', url: '/', hashKey: key });
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)!.add(res.data.upstream);
    }
    for (const owners of seen.values()) expect(owners.size).toBe(1);
    expect(new Set([...seen.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
  });
});

describe('discovery', () => {
  it('static endpoints can change at runtime; routing follows and an event tells', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    const registry = new StaticDiscovery({ svc: [a.url] });
    const mesh = new MeshClient({ discovery: registry, loadBalancer: 'round-robin' });
    open.push(mesh);
    await mesh.request({ service: 'svc', url: '/' });
    const events: Array<{ added: string[]; removed: string[] }> = [];
    mesh.on('endpoints', (e) => events.push({ added: e.added, removed: e.removed }));
    registry.set('svc', [b.url]);
    expect(events).toEqual([{ added: [b.url], removed: [a.url] }]);
    expect(mesh.endpoints('svc').map((e) => e.url)).toEqual([b.url]);
    await mesh.request({ service: 'svc', url: '/' });
    expect([a.count, b.count]).toEqual([1, 1]);
    registry.set('svc', []);
    expect(
      isMeshError(await mesh.request({ service: 'svc', url: '/' }).catch((e) => e), 'MESH_NO_ENDPOINTS'),
    ).toBe(true);
  });

  it('an endpoint that stays keeps its state across updates', async () => {
    const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
    const mesh = new MeshClient({ discovery: { static: { svc: [a.url] } } });
    open.push(mesh);
    await mesh.request({ service: 'svc', url: '/' });
    (mesh.discovery as StaticDiscovery).set('svc', [a.url, b.url]);
    expect(mesh.endpoints('svc').find((e) => e.url === a.url)?.requests).toBe(1);
  });

  it('a Discovery of your own reporting a plain Error: the event carries a MeshError with it as cause', async () => {
    const a = await upstream('a');
    const trouble = new Error('registry unreachable');
    let report: ((error: Error) => void) | undefined;
    const discovery: Discovery = {
      subscribe(_service, onUpdate, onError) {
        onUpdate([{ url: a.url }]);
        report = onError;
        return { ready: Promise.resolve(), close() {} };
      },
      async close() {},
    };
    const mesh = new MeshClient({ discovery });
    open.push(mesh);
    const seen: MeshError[] = [];
    mesh.on('discovery-error', (e) => seen.push(e.error));
    await mesh.request({ service: 'svc', url: '/' });
    report?.(trouble);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.code).toBe('MESH_DISCOVERY_UNAVAILABLE');
    expect(seen[0]!.service).toBe('svc');
    expect(seen[0]!.cause).toBe(trouble);
    expect(seen[0]!.message).toContain('registry unreachable');
  });

  it('unknown service: MESH_NO_ENDPOINTS naming it', async () => {
    const mesh = new MeshClient({ discovery: { static: {} } });
    open.push(mesh);
    const err = await mesh.request({ service: 'ghost', url: '/' }).catch((e) => e);
    expect(isMeshError(err, 'MESH_NO_ENDPOINTS')).toBe(true);
    expect(err.message).toContain('"ghost"');
  });
});

describe('close()', () => {
  it('fails later calls and in-flight calls with MESH_CLOSED', async () => {
    const up = await upstream('u', { kind: 'hang' });
    const mesh = new MeshClient({ discovery: { static: { svc: [up.url] } } });
    const inflight = mesh.request({ service: 'svc', url: '/' }).catch((e) => e);
    await up.receivedAtLeast(1);
    await mesh.close();
    expect(isMeshError(await inflight, 'MESH_CLOSED')).toBe(true);
    expect(isMeshError(await mesh.request({ service: 'svc', url: '/' }).catch((e) => e), 'MESH_CLOSED')).toBe(
      true,
    );
    await mesh.close();
  });

  it('leaves no handle open: the process exits on its own', async () => {
    expect(await runExitChild('exit-after-close.ts')).toEqual({ ok: 60, resources: [] });
  });
});
