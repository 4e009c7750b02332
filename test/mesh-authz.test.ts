/**
 * The inbound listener's server-side policy, on real mutual TLS: authorization by the caller's
 * identity, method and path (deny first, default deny with rules present; a denied request gets
 * 403 and the app never sees it), Consul intentions as the rule source, the denial's event and
 * metric, the caller on the SERVER span, and the app's own limits and deadline in the same
 * pipeline model as the outbound side.
 */
import { SpanKind } from '@opentelemetry/api';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthzDeniedEvent } from '../src/authz/stage.js';
import { ManualClock } from '../src/core/clock.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { consulId } from '../testkit/pki.js';
import { type Destination, destination, tlsRequest } from './support/mesh.js';
import { type MeshPki, meshPki, TD, type Workload } from './support/mesh-pki.js';
import { raw } from './support/sidecar.js';
import { useTracingSdk } from './support/tracing-sdk.js';

const open = closeAfterEach();
let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

/** A request to `dest`'s inbound as `w` (no certificate when undefined). */
async function call(dest: Destination, w: Workload | undefined, path = '/x', method = 'GET') {
  const outcome = await tlsRequest(dest.port, pki.ca.cert, w, path, {}, method);
  if ('error' in outcome) throw outcome.error;
  return outcome;
}

function denials(dest: Destination): AuthzDeniedEvent[] {
  const seen: AuthzDeniedEvent[] = [];
  dest.sidecar.inbound!.mesh.events.on('authz-denied', (e) => seen.push(e));
  return seen;
}

describe('rules', () => {
  it('allows the identities named, denies the rest with 403; the app never sees a denied request', async () => {
    const users = await destination(open, pki.users, {
      authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
    });
    const seen = denials(users);
    expect((await call(users, pki.web)).status).toBe(200);
    const denied = await call(users, pki.billing, '/orders/7?token=secret');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-mesh-error']).toBe('MESH_FORBIDDEN');
    // The caller is not told which rule: that is the operator's to read, in the event and the log.
    expect(JSON.parse(denied.body)).toEqual({
      error: 'MESH_FORBIDDEN',
      message: 'the caller may not call this service',
    });
    expect(users.app.count).toBe(1);
    expect(seen).toEqual([
      {
        service: 'users',
        caller: pki.billing.id,
        method: 'GET',
        path: '/orders/7',
        reason: 'no allow rule matched',
      },
    ]);
  });

  it('methods and path prefixes, on whole segments; deny rules first whatever their order', async () => {
    const users = await destination(open, pki.users, {
      authorization: {
        rules: [
          { action: 'allow', paths: ['/public'] },
          { action: 'allow', from: [`spiffe://${TD}/ns/*/dc/*/svc/web`], methods: ['GET', 'POST'] },
          { action: 'deny', from: [pki.web.id], paths: ['/admin/'] },
        ],
      },
    });
    const seen = denials(users);
    expect((await call(users, pki.billing, '/public')).status).toBe(200);
    expect((await call(users, pki.billing, '/public/docs?x=1')).status).toBe(200);
    expect((await call(users, pki.billing, '/publicity')).status).toBe(403);
    expect((await call(users, pki.web, '/orders', 'POST')).status).toBe(200);
    expect((await call(users, pki.web, '/orders', 'DELETE')).status).toBe(403);
    expect((await call(users, pki.web, '/admin/users')).status).toBe(403);
    expect((await call(users, pki.web, '/admin')).status).toBe(403);
    expect(seen.map((e) => e.reason)).toEqual([
      'no allow rule matched',
      'no allow rule matched',
      'denied by rule 2',
      'denied by rule 2',
    ]);
  });

  it('a path not in normal form is refused with 400 when rules read paths', async () => {
    const users = await destination(open, pki.users, {
      authorization: { rules: [{ action: 'allow', paths: ['/public/'] }] },
    });
    for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public%2fadmin', '/public/./x']) {
      const res = await call(users, pki.web, path);
      expect(res.status, path).toBe(400);
      expect(res.headers['x-mesh-error'], path).toBe('MESH_BAD_REQUEST');
    }
    expect(users.app.count).toBe(0);
    expect((await call(users, pki.web, '/public/%7Euser')).status).toBe(400);
    expect((await call(users, pki.web, '/public/x')).status).toBe(200);
  });

  it('permissive: a caller without a certificate has no identity, so only rules without `from` admit it', async () => {
    const users = await destination(open, pki.users, {
      mtls: 'permissive',
      authorization: {
        rules: [
          { action: 'allow', from: [pki.web.id] },
          { action: 'allow', methods: ['GET'], paths: ['/health'] },
        ],
      },
    });
    const seen = denials(users);
    expect((await raw(users.url, '/health', { headers: { host: 'users' } })).status).toBe(200);
    expect((await raw(users.url, '/orders', { headers: { host: 'users' } })).status).toBe(403);
    expect((await call(users, undefined, '/orders')).status).toBe(403);
    expect((await call(users, pki.web, '/orders')).status).toBe(200);
    expect(seen.map((e) => e.caller)).toEqual([undefined, undefined]);
  });

  it('counts requests by caller and decision, the caller label bounded', async () => {
    const users = await destination(open, pki.users, {
      maxCallerLabels: 1,
      authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
    });
    await call(users, pki.web);
    await call(users, pki.web);
    await call(users, pki.billing);
    const metrics = await (await fetch(`${users.sidecar.adminAddress}/metrics`)).text();
    expect(metrics).toContain(
      `mesh_client_inbound_authz_requests_total{service="users",caller="${pki.web.id}",decision="allow"} 2`,
    );
    expect(metrics).toContain(
      'mesh_client_inbound_authz_requests_total{service="users",caller="_other",decision="deny"} 1',
    );
    // The app's own request metrics, apart from the outbound side's.
    expect(metrics).toMatch(
      /mesh_client_inbound_requests_total\{service="users",[^}]*status_class="2xx"\} 2/,
    );
  });
});

describe('Consul intentions', () => {
  const emulators: ConsulEmulator[] = [];
  afterEach(async () => {
    await Promise.all(emulators.splice(0).map((e) => e.close()));
  });

  it('decide what no local rule matched; answers are reused for cacheTtl on the clock; an unreachable agent is 503', async () => {
    const consul = await ConsulEmulator.start({ token: 'root', intentionDefault: 'deny' });
    emulators.push(consul);
    const clock = new ManualClock();
    const users = await destination(
      open,
      pki.users,
      {
        authorization: {
          rules: [{ action: 'allow', paths: ['/health'] }],
          consul: { host: '127.0.0.1', port: consul.port, token: 'root', cacheTtl: 5_000 },
        },
      },
      { clock },
    );
    consul.connect.setIntention('web', 'users', 'allow');
    expect((await call(users, pki.web)).status).toBe(200);
    // No intention for orders, and the agent's default (ACLs on, default deny).
    const orders = await pki.issue(consulId(TD, 'orders'));
    expect((await call(users, orders)).status).toBe(403);
    // An Istio-shaped caller is not a Connect service identity: the agent answers 400, a denial.
    expect((await call(users, pki.billing)).status).toBe(403);
    // The local rule decides without asking.
    const asked = consul.requests.filter((r) => r.path === '/v1/agent/connect/authorize').length;
    expect((await call(users, pki.billing, '/health')).status).toBe(200);
    expect(consul.requests.filter((r) => r.path === '/v1/agent/connect/authorize')).toHaveLength(asked);

    consul.connect.setIntention('web', 'users', 'deny');
    expect((await call(users, pki.web)).status).toBe(200);
    clock.advance(5_000);
    expect((await call(users, pki.web)).status).toBe(403);

    await consul.stop();
    clock.advance(5_000);
    const down = await call(users, pki.web);
    expect(down.status).toBe(503);
    expect(down.headers['x-mesh-error']).toBe('MESH_AUTHZ_UNAVAILABLE');
    // web twice (asked, then from the cache) and the health check: nothing denied reached the app.
    expect(users.app.count).toBe(3);
  });
});

describe("the app's server-side policy", () => {
  it('a rate limit that counts only what was authorized', async () => {
    const clock = new ManualClock();
    const users = await destination(
      open,
      pki.users,
      {
        limits: { rate: { rate: 1, burst: 1 } },
        authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
      },
      { clock },
    );
    expect((await call(users, pki.billing)).status).toBe(403);
    expect((await call(users, pki.web)).status).toBe(200);
    const limited = await call(users, pki.web);
    expect(limited.status).toBe(429);
    expect(limited.headers['x-mesh-error']).toBe('MESH_RATE_LIMITED');
    clock.advance(1_000);
    expect((await call(users, pki.web)).status).toBe(200);
  });

  it("a concurrency limit and the deadline (the caller's when shorter)", async () => {
    const clock = new ManualClock();
    const users = await destination(
      open,
      pki.users,
      { timeout: 10_000, limits: { concurrency: { maxConcurrent: 1 } } },
      { clock },
      { kind: 'held' },
    );
    const first = call(users, pki.web);
    await users.app.receivedAtLeast(1);
    const second = await call(users, pki.web);
    expect(second.status).toBe(503);
    expect(second.headers['x-mesh-error']).toBe('MESH_BULKHEAD_FULL');
    clock.advance(10_000);
    const late = await first;
    expect(late.status).toBe(504);
    expect(late.headers['x-mesh-error']).toBe('MESH_TIMEOUT');
    const short = tlsRequest(users.port, pki.ca.cert, pki.web, '/x', { 'x-mesh-deadline-ms': '500' });
    await users.app.receivedAtLeast(2);
    clock.advance(500);
    const outcome = await short;
    expect('status' in outcome && outcome.status).toBe(504);
    users.app.release();
  });
});

describe('tracing', () => {
  const exporter = useTracingSdk();

  it("the inbound request is a SERVER span continuing the caller's trace, with the caller's identity", async () => {
    const users = await destination(open, pki.users);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await tlsRequest(users.port, pki.ca.cert, pki.web, '/users/1', {
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
    });
    expect('status' in res && res.status).toBe(200);
    const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!;
    expect(server.name).toBe('GET users');
    expect(server.spanContext().traceId).toBe(traceId);
    expect(server.attributes).toMatchObject({ 'mesh.peer.identity': pki.web.id, 'mesh.service': 'users' });
  });
});
