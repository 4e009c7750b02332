/**
 * Consul discovery over real sockets: instances appear and disappear after (de)registration, health
 * filtering, equal-result suppression, outages, backoff, `close()`, and the connection options.
 *
 * Runs against the Consul emulator (testkit/consul-emulator.ts, a test double), or against a real
 * agent when `CONSUL_HTTP_ADDR` is set (`consul agent -dev`, then
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/consul-discovery.test.ts`); tests that need the
 * emulator's helpers (index bumps, outages, in-flight counts) are skipped then.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import { resolveConsulConnection } from '../src/discovery/consul/connection.js';
import { ConsulDiscovery } from '../src/discovery/consul/discovery.js';
import { ConsulRegistrar } from '../src/discovery/consul/registration.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import {
  agent,
  discovery,
  FAST,
  REAL,
  Recorder,
  rawInstance,
  registrar,
  target,
  unique,
  until,
  useConsulTarget,
} from './support/consul-target.js';

useConsulTarget();

describe(`Consul discovery (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
  it('sees instances appear and disappear promptly after register and deregister', async () => {
    const name = unique('web');
    const rec = new Recorder();
    const sub = discovery().subscribe(name, rec.onUpdate, rec.onError);
    await sub.ready;
    expect(rec.latest).toEqual([]);
    const reg = registrar();
    const a = await reg.register({
      name,
      id: `${name}-a`,
      address: '127.0.0.1',
      port: 4001,
      tags: ['v1'],
      meta: { version: '1' },
      check: { ttl: 10_000 },
    });
    await until(() => rec.latest?.length === 1, 'the first instance');
    expect(rec.latest?.[0]).toMatchObject({
      url: 'http://127.0.0.1:4001',
      weight: 1,
      tags: ['v1'],
      meta: { version: '1' },
    });
    expect(rec.latest?.[0]?.id).toMatch(new RegExp(`/${name}-a$`));
    await reg.register({ name, id: `${name}-b`, address: '127.0.0.1', port: 4002, check: { ttl: 10_000 } });
    await until(() => rec.latest?.length === 2, 'the second instance');

    const seen = rec.updates.length;
    const start = performance.now();
    await a.deregister();
    await until(() => rec.updates.length > seen && rec.latest?.length === 1, 'the deregistration');
    const elapsed = (rec.times[seen] ?? Number.NaN) - start;
    console.log(`deregistration reached listener in ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(1_000);
    expect(rec.ports()).toEqual([4002]);
    expect(rec.errors).toEqual([]);
  });

  it('drops critical instances; keeps warning ones at their warning weight unless passingOnly', async () => {
    const name = unique('api');
    const strict = new Recorder();
    const loose = new Recorder();
    discovery().subscribe(name, strict.onUpdate);
    discovery({ passingOnly: false }).subscribe(name, loose.onUpdate);
    await rawInstance(name, `${name}-x`, 5001, { Passing: 10, Warning: 1 });
    await rawInstance(name, `${name}-y`, 5002, { Passing: 10, Warning: 1 });
    await until(() => strict.latest?.length === 2 && loose.latest?.length === 2, 'both instances');
    expect(strict.latest?.map((e) => e.weight)).toEqual([10, 10]);

    await agent('PUT', `/v1/agent/check/warn/service:${name}-y`);
    await until(
      () => strict.latest?.length === 1 && loose.latest?.some((e) => e.weight === 1) === true,
      'warning',
    );
    expect(strict.ports()).toEqual([5001]);
    expect(loose.latest?.find((e) => e.url.endsWith(':5002'))?.weight).toBe(1);

    await agent('PUT', `/v1/agent/check/fail/service:${name}-y`);
    await until(() => loose.latest?.length === 1, 'critical to drop the instance for passingOnly: false too');
    expect(loose.ports()).toEqual([5001]);

    await agent('PUT', `/v1/agent/check/pass/service:${name}-y`);
    await until(() => strict.latest?.length === 2 && loose.latest?.length === 2, 'recovery to passing');
  });

  it.skipIf(!!REAL)(
    'does not call listeners, nor read, when the index moves but the result is equal',
    async () => {
      const em = target.emulator!;
      const name = unique('quiet');
      const rec = new Recorder();
      discovery().subscribe(name, rec.onUpdate);
      await rawInstance(name, `${name}-1`, 6001);
      await until(() => rec.latest?.length === 1, 'the instance');
      const calls = rec.updates.length;
      const count = (path: string) => em.requests.filter((r) => r.path === path).length;
      const reads = count(`/v1/health/service/${name}`);
      for (let i = 0; i < 3; i++) {
        const before = count('/v1/health/state/any');
        em.bumpIndex(name);
        em.setHealth(`${name}-1`, 'passing', `probe ${i}`); // output-only change: index moves, set does not
        // A new feed query means the previous answer was fully handled.
        await until(
          () => count('/v1/health/state/any') > before && em.blockingQueries > 0,
          'the change feed to wake up and block again',
        );
      }
      expect(rec.updates.length).toBe(calls);
      expect(count(`/v1/health/service/${name}`)).toBe(reads);
      await rawInstance(name, `${name}-2`, 6002);
      await until(() => rec.latest?.length === 2, 'a real change to still arrive');
    },
  );

  it('a change no health check shows (same ID, new port) is picked up by the periodic re-read', async () => {
    const name = unique('moved');
    const rec = new Recorder();
    // The re-read comes round once per wait: a short one for the test (the default is 5 minutes).
    discovery({ wait: 1_000 }).subscribe(name, rec.onUpdate, rec.onError);
    await rawInstance(name, `${name}-1`, 6101);
    await until(() => rec.ports().join() === '6101', 'the instance');
    // Re-registered under the same ID with the same check: the checks, hence the change feed, stay as they were.
    await rawInstance(name, `${name}-1`, 6102);
    await until(() => rec.ports().join() === '6102', 'the new port', 5_000);
    expect(rec.errors).toEqual([]);
  });

  it.skipIf(!!REAL)('keeps the last set through an outage, reports it, and recovers by itself', async () => {
    const em = target.emulator!;
    const name = unique('outage');
    const rec = new Recorder();
    discovery().subscribe(name, rec.onUpdate, rec.onError);
    await rawInstance(name, `${name}-1`, 7001);
    await until(() => rec.latest?.length === 1, 'the instance');
    const calls = rec.updates.length;

    await em.stop();
    try {
      await until(() => rec.errors.length >= 3, 'several failed attempts');
    } finally {
      await em.start();
    }
    expect(rec.updates.length).toBe(calls);
    for (const error of rec.errors) {
      expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
      expect(error.message).toContain(name);
    }
    await rawInstance(name, `${name}-2`, 7002);
    await until(() => rec.latest?.length === 2, 'the watch to recover without a restart');
    // From the first sighting of the instance on, no update was empty (an answer before it may be).
    const seen = rec.updates.findIndex((set) => set.length > 0);
    expect(rec.updates.slice(seen).every((set) => set.length > 0)).toBe(true);
  });

  it.skipIf(!!REAL)('rejects ready after initialTimeout and keeps trying in the background', async () => {
    const em = target.emulator!;
    const name = unique('late');
    const rec = new Recorder();
    await em.stop();
    let sub: ReturnType<ConsulDiscovery['subscribe']>;
    const start = performance.now();
    try {
      sub = discovery({ initialTimeout: 300 }).subscribe(name, rec.onUpdate, rec.onError);
      await expect(sub.ready).rejects.toMatchObject({ code: 'MESH_DISCOVERY_UNAVAILABLE', service: name });
      expect(performance.now() - start).toBeGreaterThanOrEqual(290);
    } finally {
      await em.start();
    }
    await until(() => rec.updates.length === 1, 'the first answer once the agent is back');
    expect(rec.latest).toEqual([]);
  });

  it('backs off on the injected clock: exponential, capped, jittered by the injected random', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r)); // nothing listens there now: connections are refused
    const clock = new ManualClock();
    const rec = new Recorder();
    const d = discovery({
      host: '127.0.0.1',
      port,
      env: {},
      clock,
      random: () => 0.5,
      backoffBase: 100,
      backoffMax: 400,
    });
    const sub = d.subscribe('svc', rec.onUpdate, rec.onError);
    const feed = () => rec.errors.filter((e) => e.message.includes('change feed')).length;
    const reads = () => rec.errors.filter((e) => e.message.includes('reading attempt')).length;
    // ceiling = min(400, 100 * 2^(n-1)); delay = ceiling / 2 + random * ceiling / 2
    for (const [n, delay] of [
      [1, 75],
      [2, 150],
      [3, 300],
      [4, 300],
    ] as const) {
      await until(() => feed() === n && reads() === n, `failure ${n} of the feed and of the read`);
      clock.advance(delay - 1);
      // Not due yet: no new attempt may start (the refusal would arrive within a few ms).
      await new Promise((r) => setTimeout(r, 20));
      expect([feed(), reads()]).toEqual([n, n]);
      clock.advance(1);
    }
    await until(() => feed() === 5 && reads() === 5, 'the fifth attempts');
    clock.advance(5_000);
    await expect(sub.ready).rejects.toMatchObject({ code: 'MESH_DISCOVERY_UNAVAILABLE' });
    expect(rec.updates).toEqual([]);
  });

  it.skipIf(!!REAL)('close() aborts every in-flight query at once and closes every connection', async () => {
    const own = await ConsulEmulator.start();
    onTestFinished(() => own.close());
    const ownEnv = { CONSUL_HTTP_ADDR: own.address };
    const d = new ConsulDiscovery({ ...FAST, wait: 60_000, env: ownEnv });
    const r = new ConsulRegistrar({ env: ownEnv });
    const names = [unique('a'), unique('b'), unique('c')];
    for (const name of names) d.subscribe(name, () => {});
    await r.register({ name: names[0] ?? '', address: '127.0.0.1', port: 9300, check: { ttl: 300 } });
    // Three services, one blocking query: the change feed.
    await until(() => own.blockingQueries === 1 && own.connections > 0, 'the change feed to block');
    expect(own.blockingQueries).toBe(1);
    const start = performance.now();
    await Promise.all([d.close(), r.close()]);
    const closing = performance.now() - start;
    await until(
      () => own.blockingQueries === 0 && own.connections === 0,
      'the agent to see every socket end',
      500,
    );
    expect(closing).toBeLessThan(200);
    const deregistered = own.requests.filter((q) => q.path.startsWith('/v1/agent/service/deregister/'));
    expect(deregistered.length).toBe(1);
  });
});

describe('Consul connection options', () => {
  it('reads CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN from the given env; explicit options win', () => {
    expect(resolveConsulConnection({ env: {} })).toEqual({
      host: '127.0.0.1',
      port: 8500,
      secure: false,
      ca: undefined,
      token: undefined,
    });
    expect(resolveConsulConnection({ env: { CONSUL_HTTP_ADDR: 'consul.local:8501' } })).toMatchObject({
      host: 'consul.local',
      port: 8501,
      secure: false,
    });
    expect(resolveConsulConnection({ env: { CONSUL_HTTP_ADDR: 'http://10.0.0.1:8500' } })).toMatchObject({
      host: '10.0.0.1',
      port: 8500,
      secure: false,
    });
    expect(
      resolveConsulConnection({
        env: { CONSUL_HTTP_ADDR: 'https://consul.local:8501', CONSUL_HTTP_TOKEN: 't' },
      }),
    ).toMatchObject({ host: 'consul.local', port: 8501, secure: true, token: 't' });
    expect(
      resolveConsulConnection({ env: { CONSUL_HTTP_ADDR: 'consul.local:8501', CONSUL_HTTP_SSL: 'true' } }),
    ).toMatchObject({ secure: true });
    expect(
      resolveConsulConnection({
        host: 'h',
        env: { CONSUL_HTTP_ADDR: 'x:1', CONSUL_HTTP_TOKEN: 't' },
        token: 'o',
      }),
    ).toMatchObject({ host: 'h', port: 8500, token: 'o' });
    expect(() => resolveConsulConnection({ env: { CONSUL_HTTP_ADDR: 'unix:///tmp/consul.sock' } })).toThrow(
      /MESH_BAD_OPTIONS/,
    );
    expect(() => new ConsulDiscovery({ env: {}, wait: 700_000 })).toThrow(/consul\.wait/);
    expect(() => new ConsulDiscovery({ env: {}, port: 0 })).toThrow(/consul\.port/);
  });
});
