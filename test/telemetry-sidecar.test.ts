/**
 * The sidecar's admin `/metrics`: Prometheus text with the mesh's series after known traffic
 * and the process's own metrics, from the sidecar's own registry (or the one its options name).
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

async function setup(options: Record<string, unknown> = {}) {
  const ok = await Upstream.start('ok');
  const bad = await Upstream.start('bad', { kind: 'status', status: 500 });
  const sidecar = await sidecarFor({
    discovery: { static: { users: [ok.url], broken: [bad.url] } },
    retry: false,
    circuitBreaker: false,
    ...options,
  });
  open.push(ok, bad, sidecar);
  return { ok, bad, sidecar };
}

describe('admin /metrics', () => {
  it('serves Prometheus text with the expected series after known traffic', async () => {
    const { ok, bad, sidecar } = await setup();
    for (let i = 0; i < 3; i++) await raw(sidecar.address, `/users/${i}`, { headers: { host: 'users' } });
    await raw(sidecar.address, '/x', { method: 'POST', headers: { host: 'broken' }, body: '{}' });
    await raw(sidecar.address, '/x', { headers: { host: 'unknown' } });

    const res = await raw(sidecar.adminAddress, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = res.body.split('\n');
    expect(lines).toContain(
      `mesh_client_requests_total{service="users",endpoint="${ok.url}",method="GET",status_class="2xx"} 3`,
    );
    expect(lines).toContain(
      `mesh_client_requests_total{service="broken",endpoint="${bad.url}",method="POST",status_class="5xx"} 1`,
    );
    expect(lines).toContain(
      `mesh_client_attempts_total{service="users",endpoint="${ok.url}",status_class="2xx"} 3`,
    );
    expect(lines).toContain('mesh_client_request_duration_seconds_count{service="users"} 3');
    expect(lines).toContain('mesh_client_endpoints{service="users"} 1');
    expect(lines).toContain('mesh_client_retry_budget_exhausted_total{service="users"} 0');
    expect(lines).toContain('# TYPE mesh_client_request_duration_seconds histogram');
    expect(res.body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(res.body).not.toContain('unknown');
    expect(res.body).not.toContain('/users/');

    const head = await raw(sidecar.adminAddress, '/metrics', { method: 'HEAD' });
    expect([head.status, head.body]).toEqual([200, '']);
  });

  it('metrics: false leaves only the process metrics', async () => {
    const { sidecar } = await setup({ telemetry: { metrics: false } });
    await raw(sidecar.address, '/x', { headers: { host: 'users' } });
    const res = await raw(sidecar.adminAddress, '/metrics');
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('mesh_client_');
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('uses the registry and prefix its options name', async () => {
    const registry = new Registry();
    const { sidecar } = await setup({ telemetry: { metrics: { registry, prefix: 'edge_' } } });
    expect(sidecar.registry).toBe(registry);
    await raw(sidecar.address, '/x', { headers: { host: 'users' } });
    const res = await raw(sidecar.adminAddress, '/metrics');
    expect(res.body).toMatch(/^edge_requests_total\{service="users",.*\} 1$/m);
    expect(res.body).not.toContain('process_cpu');
  });
});
