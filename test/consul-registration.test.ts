/**
 * Consul self-registration over real sockets: ACL tokens (sent, never printed), TTL heart-beats, HTTP
 * checks, heart-beat failures during an outage, reaping, validation, and a process that exits by itself.
 *
 * Runs against the Consul emulator (testkit/consul-emulator.ts, a test double), or against a real
 * agent when `CONSUL_HTTP_ADDR` is set (`consul agent -dev`, then
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx vitest run test/consul-registration.test.ts`); tests that need
 * the emulator's helpers (outages, ACL tokens, reaping) are skipped then.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulDiscovery } from '../src/discovery/consul/discovery.js';
import { ConsulRegistrar } from '../src/discovery/consul/registration.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import {
  agent,
  checkStatus,
  discovery,
  env,
  FAST,
  REAL,
  Recorder,
  ROOT,
  registrar,
  target,
  unique,
  until,
  useConsulTarget,
} from './support/consul-target.js';

useConsulTarget();

describe(`Consul registration (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
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
    const em = target.emulator!;
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

  it('leaves nothing open: a process that watches, registers and closes exits by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-consul-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const script = join(dir, 'child.mts');
    await writeFile(
      script,
      `import { ConsulDiscovery } from ${JSON.stringify(join(ROOT, 'src/discovery/consul/discovery.ts'))};
import { ConsulRegistrar } from ${JSON.stringify(join(ROOT, 'src/discovery/consul/registration.ts'))};
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
