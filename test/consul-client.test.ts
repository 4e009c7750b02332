/**
 * MeshClient with `discovery: { consul }` end to end: real loopback upstreams registered in Consul,
 * requests routed to them, deregistration and health changes followed, a registry outage survived,
 * the ACL token kept secret, self-registration with `mesh.register()`, and a `close()` that withdraws
 * what it registered and leaves nothing open.
 *
 * Runs against the Consul emulator (testkit/consul-emulator.ts, a test double), or against a real
 * agent when `CONSUL_HTTP_ADDR` is set (`consul agent -dev`, then
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/consul-client.test.ts`); tests that need the
 * emulator's helpers (outages, ACL tokens) are skipped then. Figures are printed for docs/discovery.md.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { isMeshError, MeshClient } from 'mesh-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import type { Upstream } from '../testkit/upstream.js';
import { client, deepText, EVENTS, portOf, served, upstreams, whenEndpoints } from './support/consul-mesh.js';
import {
  agent,
  checkStatus,
  connection,
  env,
  REAL,
  rawInstance,
  registrar,
  target,
  unique,
  until,
  useConsulTarget,
} from './support/consul-target.js';
import { runExitChild } from './support/exit-child.js';

useConsulTarget();

interface ChildResult {
  ok: number;
  id: string;
  closeError: string | null;
  resources: string[];
}

/** Run test/support/consul-client-exit.ts in a fresh process; it must exit by itself. */
function child(name: string, mode: 'reachable' | 'unreachable'): Promise<ChildResult> {
  return runExitChild<ChildResult>('consul-client-exit.ts', [name, mode], { env: env() });
}

describe(`MeshClient with Consul discovery (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
  it('routes to the instances registered in Consul; listed services are watched from construction', async () => {
    const name = unique('users');
    const [a, b] = await upstreams('a', 'b');
    await rawInstance(name, `${name}-a`, portOf(a!));
    await rawInstance(name, `${name}-b`, portOf(b!));
    const mesh = client({ services: [name] });
    // No request and no endpoints() call yet: only the up-front watch can produce this event.
    await whenEndpoints(mesh, name, (e) => e.endpoints.length === 2);
    const who = await served(mesh, name, 20);
    expect(who.filter((u) => u === 'a').length).toBe(10);
    expect(who.filter((u) => u === 'b').length).toBe(10);
  });

  it('a deregistration leaves routing within a second (measured, default rate limit)', async () => {
    const name = unique('orders');
    const [a, b] = await upstreams('a', 'b');
    const reg = registrar();
    const instance = (up: Upstream, id: string) =>
      reg.register({ name, id, address: '127.0.0.1', port: portOf(up), check: { ttl: 30_000 } });
    await instance(b!, `${name}-b`);
    let handle = await instance(a!, `${name}-a`);
    // The product's default rate limit (after a burst of two wake-ups, one per 250 ms), not FAST's.
    const mesh = client({ minWakeupInterval: 250 });
    await served(mesh, name, 2); // the first request starts the watch
    const deregister = async () => {
      const removed = whenEndpoints(mesh, name, (e) => e.removed.includes(a!.url));
      const start = performance.now();
      await handle.deregister();
      return (await removed) - start;
    };
    // A quiet service: the watch is blocked on Consul, which answers the moment the instance leaves.
    const quiet = await deregister();
    // Right after another change: the wake-up waits for the rate limiter's next token.
    const added = whenEndpoints(mesh, name, (e) => e.added.includes(a!.url), 3_000);
    handle = await instance(a!, `${name}-a`);
    await added;
    const churn = await deregister();
    console.log(
      `deregister() to the client's endpoints event: ${quiet.toFixed(1)} ms on a quiet service, ` +
        `${churn.toFixed(1)} ms right after another change (minWakeupInterval 250 ms)`,
    );
    expect(quiet).toBeLessThan(1_000);
    // Bounded by minWakeupInterval (plus its jitter) and the round trip: well within a second.
    expect(churn).toBeLessThan(1_000);
    const before = a!.count;
    expect(new Set(await served(mesh, name, 10))).toEqual(new Set(['b']));
    expect(a!.count).toBe(before);
  });

  it('a critical health check takes an endpoint out of routing; passing brings it back', async () => {
    const name = unique('stock');
    const [a, b] = await upstreams('a', 'b');
    await rawInstance(name, `${name}-a`, portOf(a!));
    await rawInstance(name, `${name}-b`, portOf(b!));
    const mesh = client({ services: [name] });
    await whenEndpoints(mesh, name, (e) => e.endpoints.length === 2);
    const removed = whenEndpoints(mesh, name, (e) => e.removed.includes(a!.url));
    await agent('PUT', `/v1/agent/check/fail/service:${name}-a?note=down`);
    await removed;
    expect(new Set(await served(mesh, name, 10))).toEqual(new Set(['b']));
    const back = whenEndpoints(mesh, name, (e) => e.added.includes(a!.url));
    await agent('PUT', `/v1/agent/check/pass/service:${name}-a`);
    await back;
    expect(new Set(await served(mesh, name, 10))).toEqual(new Set(['a', 'b']));
  });

  it.skipIf(!!REAL)(
    'Consul down for a while: no request to a live endpoint fails, and it recovers',
    async () => {
      const em = target.emulator!;
      const name = unique('billing');
      const [a, b, c] = await upstreams('a', 'b', 'c');
      await rawInstance(name, `${name}-a`, portOf(a!));
      await rawInstance(name, `${name}-b`, portOf(b!));
      const mesh = client({ services: [name] });
      await whenEndpoints(mesh, name, (e) => e.endpoints.length === 2);
      const errors: { service: string; error: Error }[] = [];
      mesh.on('discovery-error', (e) => errors.push(e));
      let requests = 0;
      let failures = 0;
      const send = async () => {
        requests++;
        await mesh.request({ service: name, url: '/' }).catch(() => failures++);
      };

      await em.stop();
      const stopped = performance.now();
      let outage = 0;
      try {
        // Traffic all through the outage, which lasts at least 1.5 s and until three failed watch attempts.
        while (errors.length < 3 || performance.now() - stopped < 1_500) {
          if (performance.now() - stopped > 10_000) throw new Error('no discovery-error events');
          await Promise.all([send(), send(), send(), send()]);
          expect(mesh.endpoints(name)).toHaveLength(2);
        }
      } finally {
        outage = performance.now() - stopped;
        await em.start();
      }
      const duringOutage = { requests, failures, events: errors.length };

      // Recovery without a restart: a change made after the outage reaches routing.
      const restarted = performance.now();
      const added = whenEndpoints(mesh, name, (e) => e.added.includes(c!.url), 10_000);
      await rawInstance(name, `${name}-c`, portOf(c!));
      await added;
      const recovered = performance.now() - restarted;
      await until(async () => {
        await send();
        return c!.count > 0;
      }, 'a request served by the new instance');
      console.log(
        `Consul outage of ${outage.toFixed(0)} ms: ${duringOutage.requests} requests, ${duringOutage.failures} failed, ` +
          `${duringOutage.events} discovery-error events; a new instance reached routing ${recovered.toFixed(0)} ms ` +
          `after Consul came back; ${requests} requests in all, ${failures} failed`,
      );
      expect(duringOutage.failures).toBe(0);
      expect(failures).toBe(0);
      for (const e of errors) {
        expect(e.service).toBe(name);
        expect(isMeshError(e.error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
      }
    },
  );

  it('mesh.register(): passing in Consul while heart-beaten, routed to, and deregistered by close()', async () => {
    const name = unique('self');
    const [up] = await upstreams('self');
    const mesh = client({ services: [name] });
    const seen = whenEndpoints(mesh, name, (e) => e.endpoints.length === 1);
    const ttl = 300;
    const reg = await mesh.register({ name, address: '127.0.0.1', port: portOf(up!), check: { ttl } });
    expect(reg).toMatchObject({ name, checkId: `service:${reg.id}` });
    await seen;
    expect(await served(mesh, name, 3)).toEqual(['self', 'self', 'self']);
    // Polled over three TTLs: without heart-beats the check would go critical after one.
    const end = performance.now() + 3 * ttl;
    while (performance.now() < end) {
      expect(await checkStatus(reg.checkId)).toBe('passing');
      await new Promise((r) => setTimeout(r, 50));
    }
    await mesh.close();
    expect(await checkStatus(reg.checkId)).toBeUndefined();
    expect(await agent('GET', `/v1/health/service/${name}`)).toEqual([]);
    expect(
      isMeshError(await mesh.register({ name, port: 1, check: { ttl } }).catch((e) => e), 'MESH_CLOSED'),
    ).toBe(true);
  });

  it('register() needs Consul: an explicit agent works with static discovery, none is refused', async () => {
    const name = unique('static');
    const mesh = new MeshClient({ discovery: { static: {} } });
    onTestFinished(() => mesh.close().catch(() => undefined));
    const registration = { name, address: '127.0.0.1', port: 9400, check: { ttl: 10_000 } };
    const refused = await mesh.register(registration).catch((e: Error) => e);
    expect(isMeshError(refused, 'MESH_BAD_OPTIONS')).toBe(true);
    expect((refused as Error).message).toMatch(/register\(\) needs Consul/);
    const badOptions = await mesh.register(registration, { consul: { port: 0 } }).catch((e: Error) => e);
    expect((badOptions as Error).message).toContain('register.options.consul.port:');
    const badRegistration = await mesh
      .register({ ...registration, port: 70_000 }, { consul: connection() })
      .catch((e: Error) => e);
    expect((badRegistration as Error).message).toContain('register.port');

    const reg = await mesh.register(registration, { consul: connection() });
    expect(await checkStatus(reg.checkId)).toBe('passing');
    await mesh.close();
    expect(await checkStatus(reg.checkId)).toBeUndefined();
  });

  it.skipIf(!!REAL)('sends the ACL token and never shows it in an error or an event payload', async () => {
    const secret = `s3cr3t-${randomUUID()}`;
    const wrong = `wr0ng-${randomUUID()}`;
    const secured = await ConsulEmulator.start({ token: secret });
    onTestFinished(() => secured.close());
    const at = { host: '127.0.0.1', port: secured.port };
    const payloads: unknown[] = [];
    const record = (mesh: MeshClient) => {
      for (const event of EVENTS) mesh.on(event, (e: unknown) => void payloads.push(e));
    };
    const name = unique('acl');
    const [up] = await upstreams('secured');
    const good = client({ ...at, token: secret, services: [name] });
    record(good);
    const routed = whenEndpoints(good, name, (e) => e.endpoints.length === 1);
    await good.register({ name, address: '127.0.0.1', port: portOf(up!), check: { ttl: 300 } });
    await routed;
    expect(await served(good, name, 3)).toEqual(['secured', 'secured', 'secured']);
    expect(secured.requests.length).toBeGreaterThan(2);
    for (const req of secured.requests) {
      expect(req.headers['x-consul-token']).toBe(secret);
      expect(req.query.has('token')).toBe(false);
    }

    const bad = client({ ...at, token: wrong, initialTimeout: 200 });
    record(bad);
    const errors: unknown[] = [];
    errors.push(await bad.request({ service: name, url: '/' }).catch((e: unknown) => e));
    errors.push(await bad.register({ name, port: 9500, check: { ttl: 1_000 } }).catch((e: unknown) => e));
    const refusals = () =>
      payloads.filter((p) => (p as { error?: Error }).error?.message.includes('ACL not'));
    await until(() => refusals().length >= 2, 'discovery-error events for the refused watch');
    // Consul gone while the good client closes: what it reports must not carry the token either.
    await secured.stop();
    errors.push(await good.close().catch((e: unknown) => e));
    await bad.close();

    expect(errors.map((e) => isMeshError(e, 'MESH_DISCOVERY_UNAVAILABLE'))).toEqual([true, true, true]);
    expect(String(errors[0])).toContain('ACL not found');
    expect(String(errors[1])).toContain('ACL not found');
    expect(String(errors[2])).toContain('could not deregister');
    const printed = deepText([errors, payloads]);
    expect(printed).toContain('ACL not found'); // the search covers messages and causes
    expect(printed).not.toContain(secret);
    expect(printed).not.toContain(wrong);
  });

  it.skipIf(!!REAL)(
    'close() with Consul unreachable still releases everything and says what it left',
    async () => {
      const em = target.emulator!;
      const name = unique('leaving');
      const [up] = await upstreams('leaving');
      const mesh = client({ services: [name] });
      const routed = whenEndpoints(mesh, name, (e) => e.endpoints.length === 1);
      const reg = await mesh.register({
        name,
        address: '127.0.0.1',
        port: portOf(up!),
        check: { ttl: 10_000 },
      });
      await routed;
      await em.stop();
      const start = performance.now();
      let error: unknown;
      try {
        error = await mesh.close().then(
          () => undefined,
          (e: unknown) => e,
        );
      } finally {
        await em.start();
      }
      console.log(`close() with Consul refusing connections: ${(performance.now() - start).toFixed(1)} ms`);
      expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
      expect(String(error)).toContain(`could not deregister ${reg.id}`);
      expect(
        isMeshError(await mesh.request({ service: name, url: '/' }).catch((e) => e), 'MESH_CLOSED'),
      ).toBe(true);
      expect(mesh.endpoints(name)).toEqual([]);
      await agent('PUT', `/v1/agent/service/deregister/${reg.id}`);
    },
  );

  it.skipIf(!!REAL)(
    'close() is bounded by requestTimeout when Consul accepts but never answers',
    async () => {
      const own = await ConsulEmulator.start();
      onTestFinished(() => own.close());
      const name = unique('hole');
      const mesh = client({ host: '127.0.0.1', port: own.port, requestTimeout: 300, services: [name] });
      await mesh.register({ name, address: '127.0.0.1', port: 9600, check: { ttl: 10_000 } });
      await own.stop();
      // A black hole on the agent's port: connections are accepted, requests never answered.
      const held = new Set<Socket>();
      const hole = createServer((socket) => void held.add(socket));
      await new Promise<void>((resolve) => hole.listen(own.port, '127.0.0.1', resolve));
      onTestFinished(async () => {
        for (const socket of held) socket.destroy();
        await new Promise((resolve) => hole.close(resolve));
      });
      const start = performance.now();
      const error = await mesh.close().then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - start;
      console.log(`close() with Consul not answering, requestTimeout 300 ms: ${elapsed.toFixed(1)} ms`);
      expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1_500);
    },
  );

  it.skipIf(!!REAL)('close() leaves no handle open even when Consul is unreachable', async () => {
    const result = await child(unique('child-down'), 'unreachable');
    expect(result).toMatchObject({ ok: 20, closeError: 'MESH_DISCOVERY_UNAVAILABLE', resources: [] });
  });

  it('close() leaves no handle open: a process with Consul discovery and a registration exits', async () => {
    const name = unique('child');
    const result = await child(name, 'reachable');
    expect(result).toMatchObject({ ok: 20, closeError: null, resources: [] });
    expect(await checkStatus(`service:${result.id}`)).toBeUndefined();
    expect(await agent('GET', `/v1/health/service/${name}`)).toEqual([]);
  });
});

describe('discovery.consul options', () => {
  it.each([
    [{ port: 0 }, 'options.discovery.consul.port'],
    [{ host: '' }, 'options.discovery.consul.host'],
    [{ secure: 'yes' }, 'options.discovery.consul.secure'],
    [{ ca: 'not pem' }, 'options.discovery.consul.ca'],
    [{ token: '' }, 'options.discovery.consul.token'],
    [{ datacenter: 3 }, 'options.discovery.consul.datacenter'],
    [{ tags: ['ok', ''] }, 'options.discovery.consul.tags[1]'],
    [{ near: '' }, 'options.discovery.consul.near'],
    [{ passingOnly: 'no' }, 'options.discovery.consul.passingOnly'],
    [{ stale: 1 }, 'options.discovery.consul.stale'],
    [{ wait: 700_000 }, 'options.discovery.consul.wait'],
    [{ backoffMax: -1 }, 'options.discovery.consul.backoffMax'],
    [{ requestTimeout: 0 }, 'options.discovery.consul.requestTimeout'],
    [{ services: 'users' }, 'options.discovery.consul.services'],
    [{ servics: ['users'] }, 'options.discovery.consul.servics'],
    [{ readConcurrency: 0 }, 'options.discovery.consul.readConcurrency'],
    [{ readConcurrency: 1.5 }, 'options.discovery.consul.readConcurrency'],
    [{ remoteAddress: 'nat' }, 'options.discovery.consul.remoteAddress'],
    [{ registrationCheckInterval: -1 }, 'options.discovery.consul.registrationCheckInterval'],
  ])('rejects %j naming %s', (consul, path) => {
    let message = '';
    try {
      new MeshClient({ discovery: { consul } } as never);
    } catch (error) {
      expect(isMeshError(error, 'MESH_BAD_OPTIONS')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain(`${path}:`);
  });
});

describe('controlPlane options', () => {
  it('rejects a minWakeupInterval that is not a positive number, naming it', () => {
    let message = '';
    try {
      new MeshClient({ discovery: { static: {} }, controlPlane: { key: 'k', minWakeupInterval: 0 } });
    } catch (error) {
      expect(isMeshError(error, 'MESH_BAD_OPTIONS')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain('options.controlPlane.minWakeupInterval:');
  });
});
