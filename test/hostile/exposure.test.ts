/**
 * What a client can make the sidecar keep or show: unique service names (bounded: refused
 * names are counted by code, not kept), credentials of endpoint URLs (never on the admin port
 * nor in metric labels), the sidecar's surroundings in error bodies (an upstream's address,
 * the registry's error text: never).
 */
import { describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../testkit/consul-emulator.js';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../../testkit/upstream.js';
import { raw, sidecarFor } from '../support/sidecar.js';
import { exchange } from './wire.js';

const open = closeAfterEach();

describe('unique service names', () => {
  it('5,000 unknown names leave no per-name state: /stats and /metrics stay the same size', async () => {
    const up = await Upstream.start('u');
    const sidecar = await sidecarFor({ discovery: { static: { users: [up.url] } } });
    open.push(up, sidecar);
    const port = Number(new URL(sidecar.address).port);
    await raw(sidecar.address, '/', { headers: { host: 'users' } });
    const before = [
      (await raw(sidecar.adminAddress, '/stats')).body,
      (await raw(sidecar.adminAddress, '/metrics')).body,
    ];
    // Pipelined on a few connections: many names, few sockets.
    for (let c = 0; c < 10; c++) {
      const requests = Array.from({ length: 500 }, (_, i) => `GET / HTTP/1.1\r\nHost: svc-${c}-${i}\r\n\r\n`);
      const reply = await exchange(port, [requests.join('')], { responses: 500, waitMs: 30_000 });
      expect(reply.statuses.filter((s) => s === 404)).toHaveLength(500);
    }
    const stats = JSON.parse((await raw(sidecar.adminAddress, '/stats')).body);
    expect(Object.keys(stats.services)).toEqual(['users']);
    expect(stats.refused).toEqual({ MESH_UNKNOWN_SERVICE: 5_000 });
    expect(JSON.stringify(stats)).not.toContain('svc-');
    const metrics = (await raw(sidecar.adminAddress, '/metrics')).body;
    expect(metrics).not.toContain('svc-');
    // Same series as before: only the process metrics' values changed.
    const series = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('mesh_client_'))
        .map((l) => l.split(' ')[0]);
    expect(series(metrics)).toEqual(series(before[1]!));
    expect(JSON.parse(before[0]!).services.users.requests).toBe(1);
  });
});

describe('credentials in endpoint URLs', () => {
  it('are shown neither in /stats (id, url) nor in /metrics labels', async () => {
    const up = await Upstream.start('u');
    const port = new URL(up.url).port;
    const secretUrl = `http://admin:s3cr3t-pass@127.0.0.1:${port}`;
    const tokenUrl = `http://tok3n-only@127.0.0.1:${await closedPortUrl().then((u) => new URL(u).port)}`;
    const sidecar = await sidecarFor({
      discovery: { static: { users: [secretUrl, tokenUrl] } },
      retry: false,
    });
    open.push(up, sidecar);
    for (let i = 0; i < 4; i++) await raw(sidecar.address, '/', { headers: { host: 'users' } });
    const stats = (await raw(sidecar.adminAddress, '/stats')).body;
    const metrics = (await raw(sidecar.adminAddress, '/metrics')).body;
    for (const text of [stats, metrics]) {
      expect(text).not.toContain('s3cr3t');
      expect(text).not.toContain('admin:');
      expect(text).not.toContain('tok3n');
    }
    const endpoints = JSON.parse(stats).services.users.endpoints;
    expect(endpoints.map((e: { url: string }) => e.url)).toEqual([
      `http://[Redacted]@127.0.0.1:${port}`,
      expect.stringMatching(/^http:\/\/\[Redacted\]@127\.0\.0\.1:\d+$/),
    ]);
    expect(metrics).toContain(`endpoint="http://[Redacted]@127.0.0.1:${port}"`);
  });
});

describe('error bodies', () => {
  it("a refused upstream: 502 with the code, not the upstream's address", async () => {
    const dead = await closedPortUrl();
    const sidecar = await sidecarFor({ discovery: { static: { users: [dead] } } });
    open.push(sidecar);
    const res = await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect([res.status, res.headers['x-mesh-error']]).toEqual([502, 'ECONNREFUSED']);
    expect(JSON.parse(res.body)).toEqual({
      error: 'ECONNREFUSED',
      message: 'the upstream connection failed (ECONNREFUSED)',
    });
    expect(res.body).not.toContain('127.0.0.1');
    expect(res.body).not.toContain(new URL(dead).port);
  });

  it("the registry's ACL error: 503 MESH_DISCOVERY_UNAVAILABLE, without Consul's text", async () => {
    const consul = await ConsulEmulator.start({ token: 'the-right-token' });
    open.push(consul);
    const [host, port] = consul.address.split(':');
    const sidecar = await sidecarFor({
      discovery: {
        consul: {
          host,
          port: Number(port),
          token: 'a-wrong-token',
          services: ['users'],
          initialTimeout: 500,
        },
      },
    });
    open.push(sidecar);
    const res = await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect([res.status, res.headers['x-mesh-error']]).toEqual([503, 'MESH_DISCOVERY_UNAVAILABLE']);
    expect(res.body).not.toMatch(/ACL|token|403|forbidden/i);
    expect(res.body).not.toContain(port);
    expect(JSON.parse(res.body).message).toBe('the registry could not list the endpoints of the service');
  });
});
