/**
 * Consul under ACLs, as Consul really behaves (the emulator is faithful to it, see
 * testkit/consul-acl.ts): a token that may not read a service gets `200 []` with
 * `X-Consul-Results-Filtered-By-ACLs: true`, not a 403. The client must never take that for "no
 * instances": the last set stays, an error says why, and a service never seen fails at once with
 * the reason. Refusals of writes come with Consul's long texts (over the 80 characters the `consul`
 * package's HTTP layer keeps), and the user must see what was denied, never the token.
 *
 * Emulator only: a real agent would need ACLs bootstrapped with these policies.
 */
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { isMeshError, MeshClient } from 'mesh-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulDiscovery } from '../src/discovery/consul/discovery.js';
import { ConsulRegistrar } from '../src/discovery/consul/registration.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { FAST, REAL, Recorder, unique, until } from './support/consul-target.js';

const admin = `admin-${randomUUID()}`;
const reader = `reader-${randomUUID()}`;

async function secured(): Promise<ConsulEmulator> {
  const em = await ConsulEmulator.start({
    token: admin,
    tokens: { [reader]: { serviceRead: true, nodeRead: true } },
  });
  onTestFinished(() => em.close());
  return em;
}

function discoveryOn(em: ConsulEmulator, token: string | undefined, extra = {}): ConsulDiscovery {
  const d = new ConsulDiscovery({
    ...FAST,
    env: { CONSUL_HTTP_ADDR: em.address },
    ...(token && { token }),
    ...extra,
  });
  onTestFinished(() => d.close());
  return d;
}

async function register(em: ConsulEmulator, name: string, id: string, port: number): Promise<void> {
  const r = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: em.address }, token: admin });
  onTestFinished(() => r.close());
  await r.register({ name, id, address: '127.0.0.1', port, check: { ttl: 60_000 } });
}

describe.skipIf(!!REAL)('Consul ACL filtering (emulator)', () => {
  it('a token that lost service:read keeps the last set and reports why; it never empties routing', async () => {
    const em = await secured();
    const name = unique('acl');
    await register(em, name, `${name}-a`, 4101);
    await register(em, name, `${name}-b`, 4102);
    const rec = new Recorder();
    discoveryOn(em, reader).subscribe(name, rec.onUpdate, rec.onError);
    await until(() => rec.latest?.length === 2, 'both instances');
    const calls = rec.updates.length;

    // An operator narrows the policy by mistake; then the service changes, so the client reads it.
    em.setToken(reader, { serviceRead: ['something-else'], nodeRead: true });
    em.setHealth(`${name}-a`, 'warning');
    await until(() => rec.errors.some((e) => /filtered the instances/.test(e.message)), 'the ACL report');
    expect(rec.updates.length).toBe(calls);
    expect(rec.ports()).toEqual([4101, 4102]);
    const error = rec.errors.find((e) => /filtered the instances/.test(e.message))!;
    expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(error.message).toContain(`service:read on "${name}"`);
    expect(error.message).toContain('X-Consul-Results-Filtered-By-ACLs');
    expect(error.message).toContain('the last known endpoints stay in force');

    // The policy is fixed: the next change is routed again.
    em.setToken(reader, { serviceRead: true, nodeRead: true });
    em.setHealth(`${name}-a`, 'passing');
    await register(em, name, `${name}-c`, 4103);
    await until(() => rec.latest?.length === 3, 'routing to follow Consul again');
  });

  it('a service the token may not read fails its first requests at once, saying why', async () => {
    const em = await secured();
    const name = unique('hidden');
    await register(em, name, `${name}-a`, 4201);
    const blind = `blind-${randomUUID()}`;
    em.setToken(blind, { serviceRead: ['other'], nodeRead: true });
    const mesh = new MeshClient({
      discovery: {
        consul: { host: '127.0.0.1', port: em.port, token: blind, ...FAST, initialTimeout: 10_000 },
      },
    });
    onTestFinished(() => mesh.close().catch(() => undefined));
    const errors: Error[] = [];
    mesh.on('discovery-error', (e) => errors.push(e.error));
    const start = performance.now();
    const failure = await mesh.request({ service: name, url: '/' }).catch((e: unknown) => e as Error);
    const waited = performance.now() - start;
    expect(isMeshError(failure, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(String(failure)).toMatch(/filtered the instances .* by ACLs/);
    // Well before initialTimeout (10 s): the answer itself said why.
    expect(waited).toBeLessThan(5_000);
    expect(errors.some((e) => /by ACLs/.test(e.message))).toBe(true);
    const printed = inspect([failure, errors], { depth: 10 });
    expect(printed).not.toContain(blind);
  });

  it('the emulator withholds the filtered header from anonymous requests, as Consul does', async () => {
    const em = await secured();
    const name = unique('anon');
    await register(em, name, `${name}-a`, 4301);
    const anonymous = await fetch(`http://${em.address}/v1/health/service/${name}`);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual([]);
    expect(anonymous.headers.get('x-consul-results-filtered-by-acls')).toBeNull();
    const limited = `limited-${randomUUID()}`;
    em.setToken(limited, { nodeRead: true });
    const filtered = await fetch(`http://${em.address}/v1/health/service/${name}`, {
      headers: { 'x-consul-token': limited },
    });
    expect(await filtered.json()).toEqual([]);
    expect(filtered.headers.get('x-consul-results-filtered-by-acls')).toBe('true');
    const unknown = await fetch(`http://${em.address}/v1/health/service/${name}`, {
      headers: { 'x-consul-token': 'nobody-knows-me' },
    });
    expect(unknown.status).toBe(403);
    expect(await unknown.text()).toBe('ACL not found');
  });

  it('long refusals reach the user whole: what was denied, never the token', async () => {
    const em = await secured();
    const name = unique('denied');
    const errors: Error[] = [];
    const r = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: em.address }, token: reader });
    onTestFinished(() => r.close());
    errors.push(
      (await r.register({ name, port: 4401, check: { ttl: 1_000 } }).catch((e: Error) => e)) as Error,
    );
    const anonymous = new ConsulRegistrar({ env: { CONSUL_HTTP_ADDR: em.address } });
    onTestFinished(() => anonymous.close());
    errors.push(
      (await anonymous.register({ name, port: 4402, check: { ttl: 1_000 } }).catch((e: Error) => e)) as Error,
    );
    // The control plane: a token without key:read.
    const mesh = new MeshClient({
      discovery: { static: {} },
      controlPlane: {
        key: 'mesh/config',
        consul: { host: '127.0.0.1', port: em.port, token: reader },
        backoffBase: 20,
      },
    });
    onTestFinished(() => mesh.close().catch(() => undefined));
    errors.push(
      await new Promise<Error>((resolve) => mesh.once('control-plane-error', (e) => resolve(e.error))),
    );

    expect(errors[0]?.message).toMatch(/lacks permission 'service:write' on "denied-/);
    expect(errors[0]?.message).toMatch(/token with AccessorID '[0-9a-f-]+'/);
    expect(errors[1]?.message).toContain('anonymous token lacks permission');
    expect(errors[2]?.message).toContain("lacks permission 'key:read'");
    for (const e of errors) expect((e as Error).message.length).toBeGreaterThan(80);
    const printed = inspect(errors, { depth: 10, showHidden: true });
    expect(printed).not.toContain(reader);
    expect(printed).not.toContain(admin);
  });
});
