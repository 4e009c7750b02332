/**
 * Registration as the Consul agent really judges it: what the agent refuses is refused at
 * `register()` with `MESH_BAD_OPTIONS` naming the field; what an agent refuses anyway reaches the
 * user in the agent's words; and an agent that forgot its services (restarted without its data
 * dir) gets them back, whatever the check kind. Times to re-register are printed for
 * docs/discovery.md.
 *
 * Runs against the emulator, or a real agent with `CONSUL_HTTP_ADDR` (levers skipped then).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshClient } from 'mesh-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulRegistrar } from '../src/discovery/consul/registration.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import {
  agent,
  env,
  REAL,
  registrar,
  target,
  unique,
  until,
  useConsulTarget,
} from './support/consul-target.js';

useConsulTarget();

const base = { name: 'svc', port: 8080, check: { ttl: 1_000 } };
const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));

describe(`Consul registration rules (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
  it.each([
    [{ ...base, meta: { 'bad key': 'v' } }, /register\.meta\["bad key"\] key may hold only letters/],
    [
      { ...base, meta: { 'consul-version': '1' } },
      /register\.meta\["consul-version"\] key prefix 'consul-' is reserved/,
    ],
    [{ ...base, meta: { ['k'.repeat(129)]: 'v' } }, /longer than Consul's limit of 128/],
    [
      { ...base, meta: { big: 'v'.repeat(513) } },
      /register\.meta\["big"\] value is 513 characters; Consul allows at most 512/,
    ],
    [{ ...base, meta: many }, /register\.meta has 65 pairs; Consul allows at most 64/],
    [{ ...base, address: '0.0.0.0' }, /register\.address "0\.0\.0\.0" is a wildcard address/],
    [{ ...base, address: '::' }, /register\.address "::" is a wildcard address/],
    [{ ...base, weights: { passing: 0 } }, /register\.weights\.passing must be an integer from 1/],
    [{ ...base, weights: { passing: 1, warning: -1 } }, /register\.weights\.warning/],
    [{ ...base, weights: { passing: 70_000 } }, /register\.weights\.passing/],
  ])('refuses %j before sending anything', async (input, message) => {
    const r = new ConsulRegistrar({ env: {}, port: 1 });
    onTestFinished(() => r.close());
    const error = await r.register(input as never).catch((e: Error) => e);
    expect(isMeshError(error, 'MESH_BAD_OPTIONS'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('sends weights whole: a warning weight left out is 1, not the 0 Consul would store', async () => {
    const name = unique('weights');
    const reg = await registrar().register({
      name,
      address: '127.0.0.1',
      port: 8101,
      weights: { passing: 10 },
      check: { ttl: 10_000 },
    });
    const services = (await agent('GET', '/v1/agent/services')) as Record<string, { Weights: unknown }>;
    expect(services[reg.id]?.Weights).toEqual({ Passing: 10, Warning: 1 });
  });

  it("the agent's own rules and texts (what the emulator must match)", async () => {
    const put = (body: object) =>
      fetch(`http://${target.addr}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify(body) });
    const name = unique('rules');
    const meta = await put({ Name: name, Port: 1, Meta: { 'consul-x': 'y' } });
    expect(meta.status).toBe(400);
    expect(await meta.text()).toMatch(/Invalid Service Meta: .*'consul-' is reserved for internal use/);
    const weights = await put({ Name: name, Port: 1, Weights: { Passing: 0 } });
    expect(weights.status).toBe(400);
    expect(await weights.text()).toMatch(/Invalid Weights: Passing must be greater than 0/);
    const address = await put({ Name: name, Port: 1, Address: '0.0.0.0' });
    expect(address.status).toBe(400);
    expect(await address.text()).toMatch(/Invalid service address/);
    // A Weights object without Warning: Go's zero value.
    const id = `${name}-w`;
    expect((await put({ Name: name, ID: id, Port: 1, Weights: { Passing: 5 } })).status).toBe(200);
    onTestFinished(async () => {
      await agent('PUT', `/v1/agent/service/deregister/${id}`).catch(() => {});
    });
    const services = (await agent('GET', '/v1/agent/services')) as Record<string, { Weights: unknown }>;
    expect(services[id]?.Weights).toEqual({ Passing: 5, Warning: 0 });
  });

  it("an agent's 400 is a MESH_BAD_OPTIONS in the agent's words, never a success", async () => {
    const text =
      "Invalid Service Meta: Couldn't load metadata pair ('zone', 'x'): a rule this client does not know yet, " +
      'worded at length by the agent';
    const fake = createServer((req, res) => {
      req.resume();
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => fake.close(() => r())));
    const r = new ConsulRegistrar({ env: {}, host: '127.0.0.1', port: (fake.address() as AddressInfo).port });
    onTestFinished(() => r.close());
    const error = await r.register({ ...base, name: unique('refused') }).catch((e: Error) => e);
    expect(isMeshError(error, 'MESH_BAD_OPTIONS')).toBe(true);
    expect((error as Error).message).toContain('register: the consul agent refused');
    expect((error as Error).message).toContain(text);
  });

  it.skipIf(!!REAL)(
    'an agent that forgot its services gets them back, TTL and HTTP checks alike',
    async () => {
      const em = target.emulator!;
      const app = createServer((_req, res) => res.writeHead(200).end());
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
      onTestFinished(() => new Promise<void>((r) => app.close(() => r())));
      const port = (app.address() as AddressInfo).port;
      const errors: Error[] = [];
      const r = new ConsulRegistrar({
        env: env(),
        registrationCheckInterval: 500,
        onError: (e) => errors.push(e),
      });
      onTestFinished(() => r.close());
      const ttl = await r.register({
        name: unique('forgot-ttl'),
        address: '127.0.0.1',
        port,
        check: { ttl: 300 },
      });
      const http = await r.register({
        name: unique('forgot-http'),
        address: '127.0.0.1',
        port,
        check: { http: `http://127.0.0.1:${port}/health`, interval: 100 },
      });
      const present = async (id: string) => id in ((await agent('GET', '/v1/agent/services')) as object);
      const back: Record<string, number> = {};
      const forgotten = performance.now();
      em.forget();
      expect(await present(ttl.id)).toBe(false);
      await until(
        async () => {
          for (const reg of [ttl, http])
            if (!(reg.id in back) && (await present(reg.id))) back[reg.id] = performance.now() - forgotten;
          return Object.keys(back).length === 2;
        },
        'both registrations to come back',
        5_000,
      );
      console.log(
        `agent forgot its services: TTL check (ttl 300 ms) back after ${back[ttl.id]?.toFixed(0)} ms, ` +
          `HTTP check back after ${back[http.id]?.toFixed(0)} ms (registrationCheckInterval 500 ms)`,
      );
      // The TTL one noticed at its next heart-beat (every ttl / 3), before any registration check.
      expect(back[ttl.id]).toBeLessThan(500);
      expect(errors).toEqual([]);
      await until(
        async () =>
          ((await agent('GET', `/v1/health/service/${http.name}?passing=1`)) as unknown[]).length === 1,
        'the HTTP check to pass again',
      );
    },
  );

  it.skipIf(!!REAL)('mesh.register() takes registrationCheckInterval from discovery.consul', async () => {
    const em = target.emulator!;
    const app = createServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => app.close(() => r())));
    const port = (app.address() as AddressInfo).port;
    const mesh = new MeshClient({
      discovery: { consul: { host: '127.0.0.1', port: em.port, registrationCheckInterval: 200 } },
    });
    onTestFinished(() => mesh.close().catch(() => undefined));
    const reg = await mesh.register({
      name: unique('wired'),
      address: '127.0.0.1',
      port,
      check: { http: `http://127.0.0.1:${port}/health`, interval: 1_000 },
    });
    em.forget();
    await until(
      async () => reg.id in ((await agent('GET', '/v1/agent/services')) as object),
      'the re-registration',
      3_000,
    );
  });
});
