/**
 * The client in `mode: 'sidecar'`: through our sidecar and through HAProxy (a proxy we did not
 * write), and the fallback when the sidecar is unreachable, both ways.
 */

import { isMeshError, ManualClock, MeshClient, type MeshClientOptions } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { Sidecar } from '../src/sidecar/sidecar.js';
import { HAProxy, haproxyInstalled } from '../testkit/haproxy.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';
import { sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

function client(options: MeshClientOptions): MeshClient {
  const mesh = new MeshClient(options);
  open.push(mesh);
  return mesh;
}

async function upstreams(n: number) {
  const ups = await Promise.all(Array.from({ length: n }, (_, i) => Upstream.start(`u${i}`)));
  open.push(...ups);
  return ups;
}

describe('through mesh-sidecar', () => {
  it('the client hands requests to the sidecar, which runs discovery and balancing', async () => {
    const ups = await upstreams(2);
    const sidecar = await sidecarFor({ discovery: { static: { users: ups.map((u) => u.url) } } });
    open.push(sidecar);
    // The client itself knows no endpoints for "users": only the sidecar does.
    const mesh = client({ mode: 'sidecar', sidecar: { url: sidecar.address, fallback: 'none' } });
    for (let i = 0; i < 10; i++) {
      const res = await mesh.request({ service: 'users', url: `/users/${i}` });
      expect(res.status).toBe(200);
    }
    expect(ups[0]!.count + ups[1]!.count).toBe(10);
    expect(ups[0]!.received[0]!.headers.via).toBe('1.1 mesh-sidecar');
    expect(ups[0]!.received[0]!.headers['x-forwarded-host']).toBe('users');
  });

  it('mode is per service: one service through the sidecar, another direct', async () => {
    const [viaSidecar, direct] = await upstreams(2);
    const sidecar = await sidecarFor({ discovery: { static: { users: [viaSidecar!.url] } } });
    open.push(sidecar);
    const mesh = client({
      discovery: { static: { orders: [direct!.url] } },
      sidecar: { url: sidecar.address },
      services: { users: { mode: 'sidecar' } },
    });
    await mesh.request({ service: 'users', url: '/' });
    await mesh.request({ service: 'orders', url: '/' });
    expect(viaSidecar!.received[0]!.headers.via).toBe('1.1 mesh-sidecar');
    expect(direct!.received[0]!.headers.via).toBeUndefined();
  });
});

describe('fallback', () => {
  it("'direct': delivers in-process while the sidecar is down, re-probes after probeInterval", async () => {
    const [up] = await upstreams(1);
    // Start and stop a sidecar to own a port that refuses connections, then start it again there.
    const first = await sidecarFor({ discovery: { static: { users: [up!.url] } } });
    const port = new URL(first.address).port;
    await first.close();
    const clock = new ManualClock();
    const mesh = client({
      discovery: { static: { users: [up!.url] } },
      mode: 'sidecar',
      sidecar: { url: `http://127.0.0.1:${port}`, fallback: 'direct', probeInterval: 5_000 },
      clock,
    });
    const fallbacks: string[] = [];
    mesh.on('sidecar-fallback', (e) => fallbacks.push(`${e.reason}:${e.action}`));

    await mesh.request({ service: 'users', url: '/a' });
    await mesh.request({ service: 'users', url: '/b' });
    expect(fallbacks).toEqual(['ECONNREFUSED:direct', 'SIDECAR_DOWN:direct']);
    expect(up!.received.map((r) => r.headers.via)).toEqual([undefined, undefined]);

    const again = await new Sidecar({
      discovery: { static: { users: [up!.url] } },
      listen: `127.0.0.1:${port}`,
      admin: '127.0.0.1:0',
    }).start();
    open.push(again);
    await mesh.request({ service: 'users', url: '/c' });
    expect(up!.received[2]!.headers.via).toBeUndefined();
    clock.advance(5_000);
    await mesh.request({ service: 'users', url: '/d' });
    expect(up!.received[3]!.headers.via).toBe('1.1 mesh-sidecar');
    expect(fallbacks).toHaveLength(3);
  });

  it("'direct': a POST refused by the sidecar is delivered once, directly", async () => {
    const [up] = await upstreams(1);
    const mesh = client({
      discovery: { static: { users: [up!.url] } },
      mode: 'sidecar',
      sidecar: { url: await closedPortUrl() },
    });
    await mesh.request({ service: 'users', method: 'POST', url: '/orders', data: { n: 1 } });
    expect(up!.count).toBe(1);
  });

  it("'none': fails with MESH_SIDECAR_UNREACHABLE", async () => {
    const mesh = client({ mode: 'sidecar', sidecar: { url: await closedPortUrl(), fallback: 'none' } });
    const err = await mesh.request({ service: 'users', url: '/' }).catch((e) => e);
    expect(isMeshError(err, 'MESH_SIDECAR_UNREACHABLE')).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
  });
});

const needHAProxy = haproxyInstalled() || process.env.CI === 'true';
describe.skipIf(!needHAProxy)('through HAProxy (a third-party sidecar)', () => {
  it('routes by Host to the service, with the mesh client in sidecar mode', async () => {
    const users = await upstreams(2);
    const [orders] = await upstreams(1);
    const haproxy = await HAProxy.start({ users: users.map((u) => u.url), orders: [orders!.url] });
    open.push(haproxy);
    const mesh = client({ mode: 'sidecar', sidecar: { url: haproxy.url, fallback: 'none' } });
    for (let i = 0; i < 10; i++) await mesh.service('users').get(`/users/${i}`);
    await mesh.request({ service: 'orders', method: 'POST', url: '/orders', data: { n: 1 } });
    expect(users.map((u) => u.count)).toEqual([5, 5]);
    expect(orders!.received[0]).toMatchObject({ method: 'POST', url: '/orders', body: '{"n":1}' });
  });

  it('falls back to direct delivery when HAProxy goes away', async () => {
    const [up] = await upstreams(1);
    const haproxy = await HAProxy.start({ users: [up!.url] });
    const mesh = client({
      discovery: { static: { users: [up!.url] } },
      mode: 'sidecar',
      sidecar: { url: haproxy.url, fallback: 'direct' },
    });
    await mesh.request({ service: 'users', url: '/via-haproxy' });
    await haproxy.close();
    const res = await mesh.request({ service: 'users', url: '/direct' });
    expect(res.status).toBe(200);
    expect(up!.received.map((r) => r.url)).toEqual(['/via-haproxy', '/direct']);
  });
});
