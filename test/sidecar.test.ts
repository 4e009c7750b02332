/**
 * mesh-sidecar in-process: both ingress forms, refusal of unknown services, the same resilience
 * as the fat client (same scenarios), streaming of large bodies, admin endpoints.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { describe, expect, it } from 'vitest';
import type { Sidecar } from '../src/sidecar/sidecar.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

async function setup(
  behaviours: Upstream['behaviour'][],
  options: Record<string, unknown> = {},
  extra: string[] = [],
) {
  const ups = await Promise.all(behaviours.map((b, i) => Upstream.start(`u${i}`, b)));
  const sidecar = await sidecarFor({
    discovery: { static: { users: [...ups.map((u) => u.url), ...extra] } },
    ...options,
  });
  open.push(...ups, sidecar);
  return { ups, sidecar };
}

async function many(sidecar: Sidecar, n: number, method = 'GET') {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++)
    statuses.push((await raw(sidecar.address, '/x', { method, headers: { host: 'users' } })).status);
  return statuses;
}

describe('ingress', () => {
  it('accepts absolute-form, as any client with HTTP_PROXY set sends it', async () => {
    const { ups, sidecar } = await setup([{ kind: 'ok' }]);
    const port = Number(new URL(sidecar.address).port);
    const res = await axios.get('http://users/users/42?full=1', {
      proxy: { host: '127.0.0.1', port, protocol: 'http' },
    });
    expect(res.data).toMatchObject({ upstream: 'u0', url: '/users/42?full=1' });
    expect(ups[0]!.received[0]!.headers).toMatchObject({
      via: '1.1 mesh-sidecar',
      'x-forwarded-for': '127.0.0.1',
    });
    expect(res.headers.via).toBe('1.1 mesh-sidecar');
  });

  it('accepts origin-form with the service in Host', async () => {
    const { ups, sidecar } = await setup([{ kind: 'ok' }]);
    const res = await raw(sidecar.address, '/users/7', { headers: { host: 'users:80' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ url: '/users/7' });
    expect(ups[0]!.received[0]!.headers['x-forwarded-host']).toBe('users:80');
  });

  it('refuses services it does not know, and forwards nothing', async () => {
    const { ups, sidecar } = await setup([{ kind: 'ok' }]);
    const origin = await raw(sidecar.address, '/', { headers: { host: 'evil.example' } });
    const absolute = await raw(sidecar.address, 'http://127.0.0.1:22/', {
      headers: { host: '127.0.0.1:22' },
    });
    for (const res of [origin, absolute]) {
      expect(res.status).toBe(404);
      expect(res.headers['x-mesh-error']).toBe('MESH_UNKNOWN_SERVICE');
    }
    expect(ups[0]!.count).toBe(0);
  });

  it('strips hop-by-hop headers, including those Connection names', async () => {
    const { ups, sidecar } = await setup([{ kind: 'ok' }]);
    await raw(sidecar.address, '/', {
      headers: {
        host: 'users',
        connection: 'x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': '5',
        'x-kept': 'yes',
      },
    });
    const headers = ups[0]!.received[0]!.headers;
    expect(headers['x-kept']).toBe('yes');
    expect(headers['x-secret-hop']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
  });
});

describe('the same resilience as the fat client', () => {
  it('one endpoint refusing connections: every GET succeeds', async () => {
    const { sidecar } = await setup([{ kind: 'ok' }, { kind: 'ok' }], {}, [await closedPortUrl()]);
    expect(new Set(await many(sidecar, 100))).toEqual(new Set([200]));
  });

  it('one endpoint answering 503: requests succeed; it is ejected and gets a small share', async () => {
    const { ups, sidecar } = await setup([{ kind: 'ok' }, { kind: 'ok' }, { kind: 'status', status: 503 }], {
      loadBalancer: 'round-robin',
      circuitBreaker: { volumeThreshold: 5, resetTimeout: 60_000 },
    });
    expect(new Set(await many(sidecar, 200))).toEqual(new Set([200]));
    const total = ups.reduce((s, u) => s + u.count, 0);
    expect(ups[2]!.count / total).toBeLessThan(0.05);
    const bad = sidecar.mesh
      .service('users')
      .snapshot()
      .find((e) => e.url === ups[2]!.url);
    expect(bad).toMatchObject({ state: 'open', ejected: true });
  });

  it('a POST answered 503 is not retried and reaches the server exactly once', async () => {
    const { ups, sidecar } = await setup([{ kind: 'status', status: 503 }]);
    const res = await raw(sidecar.address, '/orders', {
      method: 'POST',
      headers: { host: 'users' },
      body: '{}',
    });
    expect(res.status).toBe(503);
    expect(ups[0]!.count).toBe(1);
  });

  it('a POST to a refused endpoint is retried and reaches a live server exactly once', async () => {
    const [live] = await Promise.all([Upstream.start('live')]);
    const sidecar = await sidecarFor({
      discovery: { static: { users: [await closedPortUrl(), live!.url] } },
      loadBalancer: 'round-robin',
    });
    open.push(live!, sidecar);
    const res = await raw(sidecar.address, '/orders', {
      method: 'POST',
      headers: { host: 'users' },
      body: '{"n":1}',
    });
    expect(res.status).toBe(200);
    expect(live!.count).toBe(1);
    expect(live!.received[0]!.body).toBe('{"n":1}');
  });

  it('a hung endpoint: MESH_TIMEOUT becomes 504', async () => {
    const { sidecar } = await setup([{ kind: 'hang' }], { timeout: { total: 200, perTry: false } });
    const res = await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect(res.status).toBe(504);
    expect(res.headers['x-mesh-error']).toBe('MESH_TIMEOUT');
  });

  it('no endpoints: 503 with MESH_NO_ENDPOINTS', async () => {
    const sidecar = await sidecarFor({ discovery: { static: { users: [] } } });
    open.push(sidecar);
    const res = await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect([res.status, res.headers['x-mesh-error']]).toEqual([503, 'MESH_NO_ENDPOINTS']);
  });
});

describe('bodies', () => {
  it('streams large request and response bodies both ways, intact', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const echo = http.createServer((req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      req.on('end', () => {
        res.writeHead(200, { 'x-received-sha256': hash.digest('hex'), 'x-received-bytes': String(bytes) });
        res.end(payload);
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    open.push({ close: () => new Promise((resolve) => echo.close(() => resolve())) });
    const sidecar = await sidecarFor({
      discovery: { static: { blobs: [`http://127.0.0.1:${(echo.address() as AddressInfo).port}`] } },
      retryBufferBytes: 1024,
    });
    open.push(sidecar);
    const res = await axios.post(`${sidecar.address}/upload`, payload, {
      headers: { host: 'blobs', 'content-type': 'application/octet-stream' },
      responseType: 'arraybuffer',
      maxBodyLength: Number.POSITIVE_INFINITY,
    });
    expect(res.headers['x-received-bytes']).toBe(String(payload.length));
    expect(res.headers['x-received-sha256']).toBe(digest(payload));
    expect(digest(Buffer.from(res.data))).toBe(digest(payload));
  });

  it('a body larger than the retry buffer is not retried (it was streamed)', async () => {
    const { ups, sidecar } = await setup([{ kind: 'status', status: 503 }, { kind: 'ok' }], {
      loadBalancer: 'round-robin',
      retryBufferBytes: 4,
    });
    const res = await raw(sidecar.address, '/', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'more than four bytes',
    });
    expect(res.status).toBe(503);
    expect([ups[0]!.count, ups[1]!.count]).toEqual([1, 0]);
    const small = await raw(sidecar.address, '/', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'tiny',
    });
    expect(small.status).toBe(200);
  });
});

describe('admin', () => {
  it('serves /healthz, /ready and /stats', async () => {
    const { sidecar } = await setup([{ kind: 'ok' }]);
    await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect((await raw(sidecar.adminAddress, '/healthz')).status).toBe(200);
    expect((await raw(sidecar.adminAddress, '/ready')).status).toBe(200);
    const stats = JSON.parse((await raw(sidecar.adminAddress, '/stats')).body);
    expect(stats.services.users).toMatchObject({ requests: 1, responses: { '2xx': 1 } });
    expect(stats.services.users.endpoints[0]).toMatchObject({ state: 'healthy', requests: 1 });
    expect((await raw(sidecar.adminAddress, '/nope')).status).toBe(404);
  });
});
