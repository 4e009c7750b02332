/**
 * Consul discovery and self-registration over real sockets.
 *
 * Runs against the Consul emulator (test/support/consul-emulator.ts, a test double), or against a real
 * agent when `CONSUL_HTTP_ADDR` is set (`consul agent -dev`, then
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/consul.test.ts`); tests that need the emulator's
 * helpers (index bumps, outages, ACL tokens, in-flight counts) are skipped then.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import type { EndpointInfo } from '../src/core/endpoint.js';
import { ConsulDiscovery, type ConsulOptions, resolveConsulConnection } from '../src/discovery/consul.js';
import { ConsulRegistrar } from '../src/discovery/consul-registration.js';
import { isMeshError } from '../src/errors.js';
import { ConsulEmulator } from './support/consul-emulator.js';

const REAL = process.env.CONSUL_HTTP_ADDR;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Quick enough for tests; the defaults are minutes and seconds. */
const FAST = { wait: 5_000, minWakeupInterval: 20, backoffBase: 20, backoffMax: 200, initialTimeout: 5_000 };

let emulator: ConsulEmulator | undefined;
let addr: string;

beforeAll(async () => {
  if (REAL) addr = REAL.replace(/^https?:\/\//, '');
  else {
    emulator = await ConsulEmulator.start({ minCheckInterval: 100 });
    addr = emulator.address;
  }
});
afterAll(async () => {
  await emulator?.close();
});

function env(): Record<string, string | undefined> {
  return {
    CONSUL_HTTP_ADDR: REAL ?? addr,
    CONSUL_HTTP_TOKEN: REAL ? process.env.CONSUL_HTTP_TOKEN : undefined,
  };
}

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Poll `condition` until it holds; the polling is the wait, there is no sleep to "let things settle". */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 5_000,
): Promise<void> {
  const end = performance.now() + timeout;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects what a subscription delivers, with the time of each delivery. */
class Recorder {
  readonly updates: (readonly EndpointInfo[])[] = [];
  readonly times: number[] = [];
  readonly errors: Error[] = [];
  readonly onUpdate = (endpoints: readonly EndpointInfo[]) => {
    this.updates.push(endpoints);
    this.times.push(performance.now());
  };
  readonly onError = (error: Error) => {
    this.errors.push(error);
  };
  get latest(): readonly EndpointInfo[] | undefined {
    return this.updates.at(-1);
  }
  ports(): number[] {
    return (this.latest ?? []).map((e) => Number(new URL(e.url).port)).sort();
  }
}

function discovery(options: ConsulOptions = {}): ConsulDiscovery {
  const d = new ConsulDiscovery({ env: env(), ...FAST, ...options });
  onTestFinished(() => d.close());
  return d;
}

function registrar(): ConsulRegistrar {
  const r = new ConsulRegistrar({ env: env() });
  onTestFinished(() => r.close());
  return r;
}

/** A raw agent call, for what the registrar deliberately does not offer (weights, manual check states). */
async function agent(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<unknown> {
  const token = env().CONSUL_HTTP_TOKEN;
  const res = await fetch(`http://${addr}${path}`, {
    method,
    headers: token ? { 'x-consul-token': token } : {},
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** Register an instance with a TTL check that starts passing; removed when the test ends. */
async function rawInstance(name: string, id: string, port: number, weights = { Passing: 1, Warning: 1 }) {
  await agent('PUT', '/v1/agent/service/register', {
    Name: name,
    ID: id,
    Address: '127.0.0.1',
    Port: port,
    Weights: weights,
    Check: { TTL: '60s', Status: 'passing' },
  });
  onTestFinished(async () => {
    await agent('PUT', `/v1/agent/service/deregister/${id}`).catch(() => {});
  });
}

async function checkStatus(checkId: string): Promise<string | undefined> {
  const checks = (await agent('GET', '/v1/agent/checks')) as Record<
    string,
    { Status: string; Output: string }
  >;
  return checks[checkId]?.Status;
}

describe(`Consul discovery and registration (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
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

  it.skipIf(!!REAL)('does not call listeners when the index moves but the result is equal', async () => {
    const em = emulator!;
    const name = unique('quiet');
    const rec = new Recorder();
    discovery().subscribe(name, rec.onUpdate);
    await rawInstance(name, `${name}-1`, 6001);
    await until(() => rec.latest?.length === 1, 'the instance');
    const calls = rec.updates.length;
    const queries = () => em.requests.filter((r) => r.path === `/v1/health/service/${name}`).length;
    for (let i = 0; i < 3; i++) {
      const before = queries();
      em.bumpIndex(name);
      em.setHealth(`${name}-1`, 'passing', `probe ${i}`); // output-only change: index moves, set does not
      // A new query means the previous answer was fully handled.
      await until(() => queries() > before && em.blockingQueries > 0, 'the watch to wake up and block again');
    }
    expect(rec.updates.length).toBe(calls);
    await rawInstance(name, `${name}-2`, 6002);
    await until(() => rec.latest?.length === 2, 'a real change to still arrive');
  });

  it.skipIf(!!REAL)('keeps the last set through an outage, reports it, and recovers by itself', async () => {
    const em = emulator!;
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
    expect(rec.updates.every((set) => set.length > 0)).toBe(true);
  });

  it.skipIf(!!REAL)('rejects ready after initialTimeout and keeps trying in the background', async () => {
    const em = emulator!;
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
    // ceiling = min(400, 100 * 2^(n-1)); delay = ceiling / 2 + random * ceiling / 2
    for (const [n, delay] of [
      [1, 75],
      [2, 150],
      [3, 300],
      [4, 300],
    ] as const) {
      await until(() => rec.errors.length === n && clock.pending === 2, `failure ${n} and its backoff timer`);
      clock.advance(delay - 1);
      expect(clock.pending).toBe(2); // the initialTimeout timer and the backoff timer, not yet due
      clock.advance(1);
      expect(clock.pending).toBe(1);
    }
    await until(() => rec.errors.length === 5, 'the fifth attempt');
    clock.advance(5_000);
    await expect(sub.ready).rejects.toMatchObject({ code: 'MESH_DISCOVERY_UNAVAILABLE' });
    expect(rec.updates).toEqual([]);
  });

  it.skipIf(!!REAL)('sends the token in a header and never prints it', async () => {
    const secret = `s3cr3t-${randomUUID()}`;
    const wrong = `wr0ng-${randomUUID()}`;
    const secured = await ConsulEmulator.start({ token: secret });
    onTestFinished(() => secured.close());
    const name = unique('acl');
    const good = new Recorder();
    const d = new ConsulDiscovery({
      ...FAST,
      env: { CONSUL_HTTP_ADDR: secured.address, CONSUL_HTTP_TOKEN: secret },
    });
    onTestFinished(() => d.close());
    const r = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: `http://${secured.address}` }, token: secret });
    onTestFinished(() => r.close());
    d.subscribe(name, good.onUpdate);
    await r.register({ name, address: '127.0.0.1', port: 8001, check: { ttl: 10_000 } });
    await until(() => good.latest?.length === 1, 'the instance behind the ACL');
    expect(secured.requests.length).toBeGreaterThan(1);
    for (const req of secured.requests) {
      expect(req.headers['x-consul-token']).toBe(secret);
      expect(req.query.has('token')).toBe(false);
    }

    const bad = new Recorder();
    const badDiscovery = new ConsulDiscovery({
      ...FAST,
      initialTimeout: 200,
      env: { CONSUL_HTTP_ADDR: secured.address },
      token: wrong,
    });
    onTestFinished(() => badDiscovery.close());
    const sub = badDiscovery.subscribe(name, bad.onUpdate, bad.onError);
    const rejection = await sub.ready.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await until(() => bad.errors.length >= 2, 'errors from the refused watch');
    const badRegistrar = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: secured.address }, token: wrong });
    const refused = await badRegistrar
      .register({ name, address: '127.0.0.1', port: 8002, check: { ttl: 1_000 } })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    await badRegistrar.close();
    const anonymous = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: secured.address } });
    const denied = await anonymous
      .register({ name, address: '127.0.0.1', port: 8003, check: { ttl: 1_000 } })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    await anonymous.close();

    expect(rejection?.message).toContain('ACL not found');
    expect(refused?.message).toContain('ACL not found');
    expect(denied?.message).toContain('Permission denied');
    for (const error of [rejection, refused, denied, ...bad.errors]) {
      expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
      const printed = `${String(error)} ${inspect(error, { depth: 10, showHidden: true })}`;
      expect(printed).not.toContain(wrong);
      expect(printed).not.toContain(secret);
    }
    expect(bad.updates).toEqual([]);
  });

  it('heart-beats a TTL check so it stays passing; without heart-beats it goes critical', async () => {
    const name = unique('ttl');
    const rec = new Recorder();
    discovery().subscribe(name, rec.onUpdate);
    const reg = await registrar().register({ name, address: '127.0.0.1', port: 9001, check: { ttl: 300 } });
    await until(() => rec.latest?.length === 1, 'the instance');
    const calls = rec.updates.length;
    // An assertion over four TTLs, polled: a missed heart-beat would show as critical.
    const end = performance.now() + 1_200;
    while (performance.now() < end) {
      expect(await checkStatus(reg.checkId)).toBe('passing');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(rec.updates.length).toBe(calls);

    const stopped = performance.now();
    reg.stopHeartbeat();
    await until(() => rec.latest?.length === 0, 'the TTL to expire', 3_000);
    expect(performance.now() - stopped).toBeGreaterThan(150); // the last beat still covers up to a TTL
    expect(await checkStatus(reg.checkId)).toBe('critical');
  });

  it('runs HTTP checks: the instance appears when its health URL answers 2xx and leaves on 5xx', async () => {
    let healthy = true;
    const app: Server = createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end());
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => app.close(() => r())));
    const port = (app.address() as AddressInfo).port;
    const name = unique('http');
    const rec = new Recorder();
    discovery().subscribe(name, rec.onUpdate);
    await registrar().register({
      name,
      address: '127.0.0.1',
      port,
      check: { http: `http://127.0.0.1:${port}/health`, interval: 100 },
    });
    await until(() => rec.latest?.length === 1, 'the first passing HTTP check', 5_000);
    healthy = false;
    await until(() => rec.latest?.length === 0, 'the failing HTTP check', 5_000);
  });

  it.skipIf(!!REAL)('reports heart-beat failures during an outage; close() says what it left', async () => {
    const em = emulator!;
    const errors: Error[] = [];
    const r = new ConsulRegistrar({ env: env(), onError: (e) => errors.push(e) });
    const name = unique('beat');
    const reg = await r.register({ name, address: '127.0.0.1', port: 9050, check: { ttl: 150 } });
    await em.stop();
    try {
      await until(() => errors.length >= 1, 'a failed heart-beat');
      await expect(r.close()).rejects.toThrow(new RegExp(`could not deregister ${reg.id}`));
    } finally {
      await em.start();
    }
    expect(isMeshError(errors[0], 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    await agent('PUT', `/v1/agent/service/deregister/${reg.id}`);
  });

  it.skipIf(!!REAL)(
    'lets the agent reap a long-critical service; deregister() then still succeeds',
    async () => {
      const reaping = await ConsulEmulator.start({ reapInterval: 20, minDeregisterAfter: 50 });
      onTestFinished(() => reaping.close());
      const r = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: reaping.address } });
      onTestFinished(() => r.close());
      const name = unique('reap');
      const reg = await r.register({
        name,
        port: 9100,
        check: { ttl: 100, deregisterCriticalServiceAfter: 50 },
      });
      reg.stopHeartbeat();
      const instances = async () => {
        const res = await fetch(`http://${reaping.address}/v1/health/service/${name}`);
        return ((await res.json()) as unknown[]).length;
      };
      await until(async () => (await instances()) === 0, 'the reaper');
      await expect(reg.deregister()).resolves.toBeUndefined();
    },
  );

  it.skipIf(!!REAL)('close() aborts every in-flight query at once and closes every connection', async () => {
    const own = await ConsulEmulator.start();
    onTestFinished(() => own.close());
    const ownEnv = { CONSUL_HTTP_ADDR: own.address };
    const d = new ConsulDiscovery({ ...FAST, wait: 60_000, env: ownEnv });
    const r = new ConsulRegistrar({ env: ownEnv });
    const names = [unique('a'), unique('b'), unique('c')];
    for (const name of names) d.subscribe(name, () => {});
    await r.register({ name: names[0] ?? '', address: '127.0.0.1', port: 9300, check: { ttl: 300 } });
    await until(() => own.blockingQueries === 3, 'three blocking queries');
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

  it('leaves nothing open: a process that watches, registers and closes exits by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-consul-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const script = join(dir, 'child.mts');
    await writeFile(
      script,
      `import { ConsulDiscovery } from ${JSON.stringify(join(ROOT, 'src/discovery/consul.ts'))};
import { ConsulRegistrar } from ${JSON.stringify(join(ROOT, 'src/discovery/consul-registration.ts'))};
const name = process.argv[2];
const d = new ConsulDiscovery({ wait: 60000 });
const r = new ConsulRegistrar();
const seen = new Promise((done) => d.subscribe(name, (e) => { if (e.length === 1) done(undefined); }));
await r.register({ name, address: '127.0.0.1', port: 9200, check: { ttl: 300 } });
await seen;
await Promise.all([d.close(), r.close()]);
console.log('closed');
`,
    );
    const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [script, unique('child')], {
      cwd: ROOT,
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const started = performance.now();
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(output).toContain('closed');
    expect(code).toBe(0);
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});

describe('Consul options', () => {
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

  it('validates registrations with errors that name the field', async () => {
    const r = new ConsulRegistrar({ env: {}, port: 1 });
    onTestFinished(() => r.close());
    const base = { name: 'svc', port: 8080, check: { ttl: 1_000 } };
    const cases: [object, RegExp][] = [
      [{ ...base, name: '' }, /register\.name/],
      [{ ...base, port: 70_000 }, /register\.port/],
      [{ ...base, tags: ['ok', 3] }, /register\.tags/],
      [{ ...base, meta: { a: 1 } }, /register\.meta/],
      [{ ...base, check: {} }, /register\.check must set exactly one/],
      [{ ...base, check: { http: 'http://x/health' } }, /register\.check\.interval/],
      [{ ...base, check: { http: 'ftp://x', interval: 1_000 } }, /register\.check\.http/],
      [{ ...base, check: { ttl: -1 } }, /register\.check\.ttl/],
      [
        { ...base, check: { ttl: 1_000, deregisterCriticalServiceAfter: 0 } },
        /deregisterCriticalServiceAfter/,
      ],
    ];
    for (const [input, message] of cases) {
      const error = await r
        .register(input as Parameters<ConsulRegistrar['register']>[0])
        .catch((e: Error) => e);
      expect(isMeshError(error, 'MESH_BAD_OPTIONS'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
