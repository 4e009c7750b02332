/**
 * Consul Connect as the mesh's CA and authorizer: the documented answers of
 * `/v1/agent/connect/ca/roots`, `/v1/agent/connect/ca/leaf/:service` and
 * `/v1/agent/connect/authorize` (fixtures in test/consul-contract/, each naming its source) read by
 * the client; the emulator answering in the same shapes; the CA source following roots and leaf
 * with blocking queries (rotation, renewal, ACLs, an agent outage); intentions deciding.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Intentions } from '../src/authz/intentions.js';
import { systemClock } from '../src/core/clock.js';
import type { EventSink } from '../src/core/events.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { ConsulCaSource, parseLeaf, parseRoots } from '../src/identity/consul-ca.js';
import { buildMaterial } from '../src/identity/material.js';
import type { ConsulCaPolicy } from '../src/identity/options.js';
import type { IdentityEvents, TlsErrorEvent, TlsRotatedEvent } from '../src/identity/source.js';
import { ConsulEmulator, type ConsulEmulatorOptions } from '../testkit/consul-emulator.js';
import { consulId, istioId } from '../testkit/pki.js';
import { drift, fixture, skipOf } from './support/consul-fixtures.js';

const emulators: ConsulEmulator[] = [];
const sources: ConsulCaSource[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});

async function emulator(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
  const e = await ConsulEmulator.start({
    trustDomain: 'f00dcafe-0000-4000-8000-000000000001.consul',
    ...options,
  });
  emulators.push(e);
  return e;
}

/** A sink that records TLS events and lets a test wait for the next one. */
class Events implements EventSink<IdentityEvents> {
  readonly rotated: TlsRotatedEvent[] = [];
  readonly errors: TlsErrorEvent[] = [];
  #waiters: Array<() => void> = [];
  wants(): boolean {
    return true;
  }
  emit<K extends keyof IdentityEvents>(event: K, payload: IdentityEvents[K]): void {
    if (event === 'tls-rotated') this.rotated.push(payload as TlsRotatedEvent);
    else this.errors.push(payload as TlsErrorEvent);
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Resolves once `condition` holds, re-checked at each event. */
  async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((r) => this.#waiters.push(r));
  }
}

function caSource(
  e: ConsulEmulator,
  events: Events,
  extra: Partial<ConsulCaPolicy> = {},
  initialTimeout = 10_000,
) {
  const source = new ConsulCaSource(
    {
      service: 'web',
      host: '127.0.0.1',
      port: e.port,
      wait: 5_000,
      backoffBase: 20,
      backoffMax: 100,
      minWakeupInterval: 10,
      ...extra,
    },
    { clock: systemClock, random: Math.random, events, expected: undefined, initialTimeout },
  );
  sources.push(source);
  return source;
}

describe("the client reads the answers of Consul's docs", () => {
  it('roots: the trust domain and the CA certificates; leaf: certificate, key and URI', () => {
    const roots = parseRoots(fixture('agent-connect-ca-roots').body);
    const leaf = parseLeaf(fixture('agent-connect-ca-leaf').body);
    if (typeof roots === 'string' || typeof leaf === 'string') throw new Error(`${roots} ${leaf}`);
    expect(roots.trustDomain).toBe('124df5a0-9820-76c3-9aa9-6f62164ba1c2.consul');
    expect(roots.pems).toHaveLength(1);
    expect(leaf.serviceUri).toBe(
      'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web',
    );
    // The documented pair is real: the leaf chains to the root, names web, and expired in 2018.
    const material = buildMaterial({ cert: leaf.cert, key: leaf.key, ca: roots.pems.join('\n') });
    expect(material).toBe('certificate: expired at 2018-05-24T16:33:28.000Z');
    expect(
      buildMaterial(
        { cert: leaf.cert, key: leaf.key, ca: roots.pems.join('\n') },
        undefined,
        Date.parse('2018-05-22'),
      ),
    ).toMatchObject({
      identity: { shape: 'consul', workload: 'web', datacenter: 'dc1' },
    });
  });

  it('refuses answers without the documented fields', () => {
    expect(parseRoots({ Roots: [] })).toBe('the roots answer lists no root certificate');
    expect(parseRoots({})).toBe('the roots answer has no Roots list');
    expect(parseLeaf({ CertPEM: 'x' })).toBe('the leaf answer has no CertPEM and PrivateKeyPEM');
  });
});

describe('the emulator answers in the documented shapes', () => {
  const get = async (e: ConsulEmulator, path: string) => {
    const res = await fetch(`http://${e.address}${path}`);
    return { res, body: (await res.json()) as unknown };
  };

  it('roots, leaf and authorize', async () => {
    const e = await emulator();
    for (const [name, path] of [
      ['agent-connect-ca-roots', '/v1/agent/connect/ca/roots'],
      ['agent-connect-ca-leaf', '/v1/agent/connect/ca/leaf/web'],
    ] as const) {
      const f = fixture(name);
      const { res, body } = await get(e, path);
      expect(res.status).toBe(200);
      for (const h of f.headers ?? []) expect(Number(res.headers.get(h))).toBeGreaterThan(0);
      expect(drift(f.body, body, skipOf(f)), name).toEqual([]);
    }
    const auth = fixture('agent-connect-authorize');
    const res = await fetch(`http://${e.address}/v1/agent/connect/authorize`, {
      method: 'POST',
      body: JSON.stringify(auth.request),
    });
    expect(drift(auth.body, await res.json(), new Set())).toEqual([]);
  });

  it('the leaf names the service in the trust domain, signed by the active root', async () => {
    const e = await emulator();
    const roots = parseRoots((await get(e, '/v1/agent/connect/ca/roots')).body);
    const leaf = parseLeaf((await get(e, '/v1/agent/connect/ca/leaf/web')).body);
    if (typeof roots === 'string' || typeof leaf === 'string') throw new Error('unreadable');
    const material = buildMaterial({ cert: leaf.cert, key: leaf.key, ca: roots.pems.join('\n') });
    expect(material).toMatchObject({ identity: { id: consulId(e.connect.trustDomain, 'web') } });
  });

  it('authorize: 400 for a missing target or a non-service URI, intentions, then the default', async () => {
    const e = await emulator();
    const post = async (body: unknown) => {
      const res = await fetch(`http://${e.address}/v1/agent/connect/authorize`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    };
    const web = consulId('td', 'web');
    expect(await post({ ClientCertURI: web })).toEqual({
      status: 400,
      text: 'Target service must be specified',
    });
    expect((await post({ Target: 'db', ClientCertURI: istioId('td', 'web') })).text).toBe(
      'ClientCertURI not a valid Service identifier',
    );
    expect(JSON.parse((await post({ Target: 'db', ClientCertURI: web })).text)).toEqual({
      Authorized: true,
      Reason: 'ACLs disabled, access is allowed by default',
    });
    const put = await fetch(`http://${e.address}/v1/connect/intentions/exact?source=web&destination=db`, {
      method: 'PUT',
      body: JSON.stringify({ Action: 'deny' }),
    });
    expect(put.status).toBe(200);
    expect(JSON.parse((await post({ Target: 'db', ClientCertURI: web })).text)).toEqual({
      Authorized: false,
      Reason: 'Matched L4 intention: web => db (deny)',
    });
  });
});

describe('ConsulCaSource', () => {
  it('takes its material from the agent, and follows a CA rotation and a renewal', async () => {
    const e = await emulator();
    const events = new Events();
    const source = caSource(e, events);
    const first = await source.ready();
    expect(first.identity.id).toBe(consulId(e.connect.trustDomain, 'web'));
    expect(first.bundle).toHaveLength(1);

    await e.connect.rotate();
    // The new root is trusted alongside the old (peers' leaves signed by it still live), and the
    // leaf is re-signed by the new one.
    await events.until(
      () => source.current()!.bundle.length === 2 && source.current()!.facts.serial !== first.facts.serial,
    );
    const rotated = source.current()!;
    expect(rotated.version).toBeGreaterThan(first.version);

    const before = events.rotated.length;
    await e.connect.renew('web');
    await events.until(() => events.rotated.length > before);
    expect(source.current()!.facts.serial).not.toBe(rotated.facts.serial);

    e.connect.retire();
    await events.until(() => source.current()!.bundle.length === 1);
  });

  it('without service:write on the service, reports the refusal and never has material', async () => {
    const e = await emulator({ token: 'root', tokens: { reader: { serviceRead: true } } });
    const events = new Events();
    const source = caSource(e, events, { token: 'reader' }, 300);
    const failure = await source.ready().catch((error: unknown) => error);
    expect(isMeshError(failure, 'MESH_TLS_UNAVAILABLE')).toBe(true);
    expect(String((failure as Error).message)).toContain("lacks permission 'service:write'");
    expect(String((failure as Error).message)).not.toContain('reader');
    expect(events.errors.length).toBeGreaterThan(0);
  });

  it('keeps its material through an agent outage and follows again after it', async () => {
    const e = await emulator();
    const events = new Events();
    const source = caSource(e, events);
    const first = await source.ready();
    await e.stop();
    await events.until(() => events.errors.length > 0);
    expect(source.current()).toBe(first);
    await e.start();
    await e.connect.renew('web');
    await events.until(() => source.current()!.facts.serial !== first.facts.serial);
  });
});

describe('Intentions', () => {
  it('allows and denies as the agent says, caches answers, and denies a non-Consul identity', async () => {
    const e = await emulator();
    const intentions = new Intentions(
      { cacheTtl: 60_000, cacheSize: 10, host: '127.0.0.1', port: e.port },
      'users',
      systemClock,
      undefined,
    );
    try {
      const web = { id: consulId(e.connect.trustDomain, 'web'), serial: '01' };
      e.connect.setIntention('web', 'users', 'allow');
      expect(await intentions.judge(web)).toEqual({
        allowed: true,
        reason: 'consul: Matched L4 intention: web => users (allow)',
      });
      const asked = e.requests.filter((r) => r.path === '/v1/agent/connect/authorize').length;
      e.connect.setIntention('web', 'users', 'deny');
      // Within the cache's time the answer is reused: no second call.
      expect(await intentions.judge(web)).toMatchObject({ allowed: true });
      expect(e.requests.filter((r) => r.path === '/v1/agent/connect/authorize')).toHaveLength(asked);
      const other = { id: consulId(e.connect.trustDomain, 'web'), serial: '02' };
      expect(await intentions.judge(other)).toMatchObject({ allowed: false });
      expect(await intentions.judge({ id: istioId('cluster.local', 'web'), serial: '03' })).toEqual({
        allowed: false,
        reason: 'consul: ClientCertURI not a valid Service identifier',
      });
      await e.stop();
      const down = await Promise.resolve(intentions.judge({ id: consulId('td', 'x'), serial: '04' })).catch(
        (error: unknown) => error,
      );
      expect(isMeshError(down, 'MESH_AUTHZ_UNAVAILABLE')).toBe(true);
    } finally {
      intentions.close();
    }
  });
});
