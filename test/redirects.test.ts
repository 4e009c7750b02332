/**
 * The `redirects` policy beyond what the compatibility suite compares with plain axios: its
 * validation, per-service overrides and live changes; a refused redirect is the endpoint's
 * answer, so it never counts against a breaker and is never retried; and in sidecar mode, where
 * "the endpoint" is the sidecar, a relative Location goes back through the sidecar to the same
 * service. Real servers on loopback, a real mesh-sidecar.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMeshError, MeshClient, type MeshClientOptions } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

interface Server {
  url: string;
  /** Paths requested so far, with the Host each came with. */
  seen: Array<{ path: string; host: string | undefined }>;
}

/** `/redirect?to=&code=` answers a redirect; anything else echoes the path it was asked. */
async function server(): Promise<Server> {
  const seen: Server['seen'] = [];
  const s = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', host: req.headers.host });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/redirect') {
      res.writeHead(Number(url.searchParams.get('code') ?? 302), {
        location: url.searchParams.get('to') ?? '/',
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: url.pathname }));
  });
  s.listen(0, '127.0.0.1');
  await new Promise((resolve) => s.once('listening', resolve));
  open.push({
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

function client(options: MeshClientOptions): MeshClient {
  const mesh = new MeshClient(options);
  open.push(mesh);
  return mesh;
}

describe('the redirects option', () => {
  it('bad values fail at construction, naming the option', () => {
    for (const [redirects, path] of [
      [{ follow: 'sideways' }, 'options.redirects.follow'],
      [{ max: -1 }, 'options.redirects.max'],
      [{ max: 1.5 }, 'options.redirects.max'],
      [{ hops: 3 }, 'options.redirects'],
    ] as const) {
      let err: unknown;
      try {
        new MeshClient({ redirects: redirects as never });
      } catch (e) {
        err = e;
      }
      expect(isMeshError(err, 'MESH_BAD_OPTIONS')).toBe(true);
      expect((err as Error).message).toContain(path);
    }
  });

  it('per service, and changed live by configure()', async () => {
    const up = await server();
    const mesh = client({
      discovery: { static: { a: [up.url], b: [up.url] } },
      services: { b: { redirects: { follow: 'none' } } },
    });
    const to = { url: '/redirect', params: { to: '/json' }, validateStatus: () => true };
    expect((await mesh.request({ service: 'a', ...to })).data).toEqual({ path: '/json' });
    expect((await mesh.request({ service: 'b', ...to })).status).toBe(302);
    mesh.configure({ redirects: { follow: 'none' } });
    expect((await mesh.request({ service: 'a', ...to })).status).toBe(302);
  });
});

describe('a refused redirect', () => {
  for (const transport of ['axios', 'undici'] as const) {
    it(`is not the endpoint's failure: no breaker trips, nothing is retried (${transport})`, async () => {
      const up = await server();
      const other = await server();
      const mesh = client({
        discovery: { static: { svc: [up.url] } },
        transport,
        circuitBreaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
        outlierDetection: { consecutive5xx: 1, consecutiveGatewayFailure: 1 },
      });
      const retries: unknown[] = [];
      mesh.on('retry', (e) => retries.push(e));
      for (let i = 0; i < 5; i++) {
        const err = await mesh
          .request({ service: 'svc', url: '/redirect', params: { to: `${other.url}/json` } })
          .catch((e) => e);
        expect(isMeshError(err, 'MESH_REDIRECT_REFUSED')).toBe(true);
      }
      expect(retries).toEqual([]);
      expect(up.seen).toHaveLength(5);
      expect(other.seen).toHaveLength(0);
      expect(mesh.endpoints('svc')[0]).toMatchObject({ state: 'healthy', failures: 0 });
    });
  }
});

describe('in sidecar mode', () => {
  async function viaSidecar(redirects?: MeshClientOptions['redirects']) {
    const up = await server();
    const sidecar = await sidecarFor({ discovery: { static: { users: [up.url] } } });
    open.push(sidecar);
    const mesh = client({
      mode: 'sidecar',
      sidecar: { url: sidecar.address, fallback: 'none' },
      ...(redirects ? { redirects } : {}),
    });
    return { up, mesh };
  }

  it('a relative Location goes back through the sidecar, to the same service', async () => {
    const { up, mesh } = await viaSidecar();
    const res = await mesh.request({ service: 'users', url: '/redirect', params: { to: '/json' } });
    expect(res.data).toEqual({ path: '/json' });
    expect(up.seen.map((s) => s.path)).toEqual(['/redirect?to=%2Fjson', '/json']);
  });

  it("an absolute Location naming the service is the service's too", async () => {
    const { up, mesh } = await viaSidecar();
    const res = await mesh.request({
      service: 'users',
      url: '/redirect',
      params: { to: 'http://users/json' },
    });
    expect(res.data).toEqual({ path: '/json' });
    expect(up.seen).toHaveLength(2);
  });

  it('a Location elsewhere is refused', async () => {
    const { mesh } = await viaSidecar();
    const other = await server();
    const err = await mesh
      .request({ service: 'users', url: '/redirect', params: { to: `${other.url}/json` } })
      .catch((e) => e);
    expect(isMeshError(err, 'MESH_REDIRECT_REFUSED')).toBe(true);
    expect(other.seen).toHaveLength(0);
  });

  it("follow: 'none' gives the 3xx", async () => {
    const { mesh } = await viaSidecar({ follow: 'none' });
    const res = await mesh.request({
      service: 'users',
      url: '/redirect',
      params: { to: '/json' },
      validateStatus: () => true,
    });
    expect([res.status, res.headers.location]).toEqual([302, '/json']);
  });
});
