/**
 * Across layers (client -> service A -> sidecar -> service B): one deadline for the whole
 * chain, one retry budget instead of multiplying retries, and a report of which layer applies
 * what. Real servers and a real sidecar on loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMeshError, MeshClient, type MeshClientOptions, withIncomingDeadline } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import type { Sidecar } from '../src/sidecar/sidecar.js';
import { HAProxy, haproxyInstalled } from '../testkit/haproxy.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

/** A mesh request's timeout: axios's ECONNABORTED, the mesh's MESH_TIMEOUT as its cause. */
function timedOut(err: unknown): boolean {
  const e = err as { code?: string; cause?: unknown };
  return e?.code === 'ECONNABORTED' && isMeshError(e.cause, 'MESH_TIMEOUT');
}

/** Service A: for each request, calls service B through its mesh, inside the caller's deadline. */
async function serviceA(mesh: MeshClient): Promise<string> {
  const server = http.createServer((req, res) => {
    withIncomingDeadline(req, async () => {
      try {
        const r = await mesh.request({ service: 'b', url: '/work' });
        res.writeHead(200).end(JSON.stringify(r.data));
      } catch (err) {
        res.writeHead(timedOut(err) ? 504 : 502).end(String((err as Error).message));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function idle(sidecar: Sidecar): Promise<void> {
  // The sidecar reports in-flight requests: poll (bounded) until its last attempt has ended.
  await expect.poll(() => sidecar.report().inFlight, { timeout: 5_000 }).toBe(0);
}

async function chain(propagate: boolean) {
  const b = await Upstream.start('b', { kind: 'hang' });
  const b2 = await Upstream.start('b2', { kind: 'hang' });
  open.push(b, b2);
  const sidecar = await sidecarFor({
    discovery: { static: { b: [b.url, b2.url] } },
    loadBalancer: 'round-robin',
    retry: { attempts: 3, budget: false, backoff: { base: 0, cap: 0 } },
    // perTry above the caller's total: with propagation there is time for one attempt only.
    timeout: { total: 10_000, perTry: 500, propagate },
  });
  open.push(sidecar);
  const meshA = new MeshClient({
    mode: 'sidecar',
    sidecar: { url: sidecar.address, fallback: 'none' },
    timeout: { propagate },
  });
  open.push(meshA);
  const a = await serviceA(meshA);
  const client = new MeshClient({
    discovery: { static: { a: [a] } },
    retry: false,
    timeout: { total: 400, propagate },
  });
  open.push(client);
  const started = performance.now();
  const err = await client.request({ service: 'a', url: '/' }).catch((e) => e);
  const gaveUpAfter = performance.now() - started;
  return { err, gaveUpAfter, b, b2, sidecar };
}

describe('deadline propagation', () => {
  it('the whole chain stops at the first caller deadline; B sees no work after it', async () => {
    const { err, b, b2, sidecar, gaveUpAfter } = await chain(true);
    expect(timedOut(err)).toBe(true);
    await idle(sidecar);
    const received = [...b.received, ...b2.received];
    expect(received).toHaveLength(1);
    const left = Number(received[0]!.headers['x-mesh-deadline-ms']);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(400);
    console.log(
      `with propagation: caller gave up after ${gaveUpAfter.toFixed(0)} ms; B received 1 request (${left} ms left)`,
    );
  });

  it('without propagation the sidecar keeps retrying after the caller gave up', async () => {
    const { err, b, b2, sidecar } = await chain(false);
    expect(timedOut(err)).toBe(true);
    await idle(sidecar);
    const received = [...b.received, ...b2.received];
    expect(received).toHaveLength(3);
    expect(received.every((r) => r.headers['x-mesh-deadline-ms'] === undefined)).toBe(true);
    console.log(`without propagation: B received ${received.length} requests, most after the caller gave up`);
  });

  it('the sidecar refuses a request whose deadline already passed, and forwards nothing', async () => {
    const b = await Upstream.start('b');
    const sidecar = await sidecarFor({ discovery: { static: { b: [b.url] } } });
    open.push(b, sidecar);
    const res = await raw(sidecar.address, '/', { headers: { host: 'b', 'x-mesh-deadline-ms': '0' } });
    expect([res.status, res.headers['x-mesh-error']]).toEqual([504, 'MESH_TIMEOUT']);
    expect(b.count).toBe(0);
  });

  it('each attempt tells the upstream the time it has, and the sidecar passes on the remainder', async () => {
    const b = await Upstream.start('b');
    const sidecar = await sidecarFor({ discovery: { static: { b: [b.url] } }, timeout: { perTry: 2_000 } });
    open.push(b, sidecar);
    await raw(sidecar.address, '/', { headers: { host: 'b', 'x-mesh-deadline-ms': '700' } });
    const sent = Number(b.received[0]!.headers['x-mesh-deadline-ms']);
    expect(sent).toBeGreaterThan(600);
    expect(sent).toBeLessThanOrEqual(700);
  });
});

describe('no retry stacking', () => {
  /** Client (direct, retrying) -> sidecar (retrying) -> two upstreams answering 503. */
  async function outage(clientRetry: MeshClientOptions['retry'], sidecarBudget: object | false) {
    const ups = await Promise.all([
      Upstream.start('u1', { kind: 'status', status: 503 }),
      Upstream.start('u2', { kind: 'status', status: 503 }),
    ]);
    const sidecar = await sidecarFor({
      discovery: { static: { b: ups.map((u) => u.url) } },
      circuitBreaker: false,
      retry: { attempts: 3, budget: sidecarBudget, backoff: { base: 0, cap: 0 } },
    });
    // The client reaches the sidecar as an ordinary endpoint, naming the service in Host.
    const client = new MeshClient({
      discovery: { static: { b: [sidecar.address] } },
      circuitBreaker: false,
      retry: clientRetry,
      services: { b: { axios: { headers: { host: 'b' } } } },
    });
    open.push(...ups, sidecar, client);
    const n = 300;
    for (let i = 0; i < n; i++) await client.request({ service: 'b', url: '/' }).catch(() => undefined);
    return ups.reduce((s, u) => s + u.count, 0) / n;
  }

  const backoff = { base: 0, cap: 0 };
  it('a reply the sidecar already retried is not retried again; one budget bounds the chain', async () => {
    const budget = { ratio: 0.2, minPerSecond: 0 };
    const stacked = await outage({ attempts: 3, backoff, budget: false, stacking: 'allow' }, false);
    const avoided = await outage({ attempts: 3, backoff, budget: false, stacking: 'avoid' }, false);
    const budgeted = await outage({ attempts: 3, backoff, budget, stacking: 'avoid' }, budget);
    console.log(
      `total outage through client + sidecar, upstream attempts per request: ${stacked.toFixed(2)}x stacked, ` +
        `${avoided.toFixed(2)}x with x-mesh-attempts honoured, ${budgeted.toFixed(2)}x with a 20% budget in each layer`,
    );
    expect(stacked).toBe(9);
    expect(avoided).toBe(3);
    expect(budgeted).toBeLessThanOrEqual(1.2 + 1 / 300);
  });

  it('the sidecar reports its attempts on every reply', async () => {
    const [bad, good] = await Promise.all([
      Upstream.start('bad', { kind: 'status', status: 503 }),
      Upstream.start('good'),
    ]);
    const sidecar = await sidecarFor({
      discovery: { static: { b: [bad.url, good.url] } },
      loadBalancer: 'round-robin',
      retry: { backoff: { base: 0, cap: 0 } },
    });
    open.push(bad, good, sidecar);
    const res = await raw(sidecar.address, '/', { headers: { host: 'b' } });
    expect([res.status, res.headers['x-mesh-attempts']]).toEqual([200, '2']);
  });
});

describe('explain()', () => {
  it('direct mode: every part runs in the client', () => {
    const mesh = new MeshClient({
      discovery: { static: { users: ['http://127.0.0.1:1'] } },
      services: { users: { retry: false } },
    });
    open.push(mesh);
    const report = mesh.explain('users');
    expect(report).toMatchObject({ position: 'client', mode: 'direct', ignored: [] });
    expect(report.parts.loadBalancer.layer).toBe('client');
    expect(report.parts.retry).toMatchObject({ layer: 'none', setting: false });
    expect(report.parts['timeout.propagate']).toMatchObject({ layer: 'client', setting: true });
  });

  it("sidecar mode with fallback 'none': the sidecar applies the policy; the client's own settings are listed as ignored", () => {
    const mesh = new MeshClient({
      mode: 'sidecar',
      sidecar: { fallback: 'none' },
      services: { users: { retry: { attempts: 5 } } },
    });
    open.push(mesh);
    const report = mesh.explain('users');
    expect(report.mode).toBe('sidecar');
    expect(report.parts.retry.layer).toBe('sidecar');
    expect(report.parts['timeout.total']).toMatchObject({
      layer: 'client',
      note: 'propagated to the sidecar',
    });
    expect(report.ignored.map((i) => i.option)).toEqual([
      'services.users.discovery',
      'services.users.retry',
      'services.users.retry.stacking',
      'services.users.loadBalancer',
      'services.users.circuitBreaker',
      'services.users.timeout.perTry',
    ]);
  });

  it('reports the traffic-governance parts too: configured ones by layer, the rest as none', () => {
    const direct = new MeshClient({ limits: { rate: { rate: 10 } } });
    const viaSidecar = new MeshClient({
      mode: 'sidecar',
      sidecar: { fallback: 'none' },
      services: { users: { faults: { abort: { percent: 5, status: 503 } } } },
    });
    open.push(direct, viaSidecar);
    const parts = direct.explain('users').parts;
    expect(parts['limits.rate']).toMatchObject({ layer: 'client', setting: { rate: 10 } });
    expect(parts.hedge.layer).toBe('none');
    expect(parts.routing.layer).toBe('none');
    const report = viaSidecar.explain('users');
    expect(report.parts.faults.layer).toBe('sidecar');
    const ignored = report.ignored.map((i) => i.option);
    expect(ignored).toContain('services.users.faults');
    expect(ignored).not.toContain('services.users.hedge');
  });

  it("the sidecar's /stats reports its policy per service, and what it ignores", async () => {
    const b = await Upstream.start('b');
    const sidecar = await sidecarFor({
      discovery: { static: { b: [b.url] } },
      axios: { headers: { 'x-app': '1' } },
      redirects: { follow: 'none' },
    });
    open.push(b, sidecar);
    await raw(sidecar.address, '/', { headers: { host: 'b' } });
    const stats = JSON.parse((await raw(sidecar.adminAddress, '/stats')).body);
    expect(stats.services.b.policy).toMatchObject({
      position: 'sidecar',
      parts: { retry: { layer: 'sidecar' } },
    });
    expect(stats.services.b.policy.ignored).toEqual([
      { option: 'axios', reason: 'the sidecar forwards with undici; axios defaults do not apply' },
      {
        option: 'redirects',
        reason: 'the sidecar passes a redirect back to its client, whose own redirect policy follows it',
      },
    ]);
  });
});

const needHAProxy = haproxyInstalled() || process.env.CI === 'true';
describe.skipIf(!needHAProxy)('behind a third-party proxy that retries (HAProxy)', () => {
  /** Client (direct) -> HAProxy with `retries 2` on 503 -> two upstreams answering 503. */
  async function attemptsPerRequest(clientRetry: MeshClientOptions['retry']) {
    const ups = await Promise.all([
      Upstream.start('u1', { kind: 'status', status: 503 }),
      Upstream.start('u2', { kind: 'status', status: 503 }),
    ]);
    const haproxy = await HAProxy.start({ b: ups.map((u) => u.url) }, { retries: 2 });
    const client = new MeshClient({
      discovery: { static: { b: [haproxy.url] } },
      circuitBreaker: false,
      services: { b: { retry: clientRetry, axios: { headers: { host: 'b' } } } },
    });
    open.push(...ups, haproxy, client);
    const n = 20;
    for (let i = 0; i < n; i++) await client.request({ service: 'b', url: '/' }).catch(() => undefined);
    return ups.reduce((s, u) => s + u.count, 0) / n;
  }

  it("doubles up unless one layer's retries are off: services.<name>.retry = false", async () => {
    const stacked = await attemptsPerRequest({ attempts: 3, budget: false, backoff: { base: 0, cap: 0 } });
    const single = await attemptsPerRequest(false);
    console.log(
      `behind HAProxy (retries 2): ${stacked}x upstream attempts with client retries, ${single}x with retry: false`,
    );
    expect(stacked).toBe(9);
    expect(single).toBe(3);
  });
});
