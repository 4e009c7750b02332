/**
 * Contract tests: fixtures written from the example answers of Consul's API docs
 * (test/consul-contract/*.json, each naming its source) checked two ways, so that neither the
 * client's parsing nor the emulator can drift from the real format:
 *
 * 1. the client reads each documented answer, served verbatim over a real socket, as Consul means it;
 * 2. the agent in use (the emulator, or a real agent with `CONSUL_HTTP_ADDR`) answers in the same
 *    shape: every documented field present with the documented JSON type (Enterprise-only fields,
 *    such as `Namespace`, and fields the docs mark as situational are listed in each fixture).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { KvWatch } from '../src/control/consul-kv.js';
import { systemClock } from '../src/core/clock.js';
import { ConsulDiscovery } from '../src/discovery/consul/discovery.js';
import { checkFingerprints, type HealthCheck } from '../src/discovery/consul/entries.js';
import { toConsulService } from '../src/discovery/consul/service-body.js';
import { drift, type Fixture, fixture, skipOf } from './support/consul-fixtures.js';
import {
  agent,
  env,
  FAST,
  REAL,
  Recorder,
  target,
  unique,
  until,
  useConsulTarget,
} from './support/consul-target.js';

useConsulTarget();

/** A server answering documented bodies verbatim; a blocking query on the served index waits until closed. */
async function documentedAgent(routes: Record<string, Fixture & { index?: number }>): Promise<string> {
  const held = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes[decodeURIComponent(url.pathname)];
    if (!route) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such route');
    const index = route.index ?? 100;
    if (Number(url.searchParams.get('index') ?? '0') >= index) {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'x-consul-index': String(index),
        'x-consul-knownleader': 'true',
        'x-consul-lastcontact': '0',
      })
      .end(JSON.stringify(route.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(async () => {
    for (const res of held) res.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("the client reads the answers of Consul's docs", () => {
  const routes = {
    '/v1/health/state/any': fixture('health-state'),
    '/v1/health/service/redis': fixture('health-service'),
    '/v1/agent/self': { source: 'agent/self', body: { Config: { Datacenter: 'dc1' } } },
  };

  it('/v1/health/service/:name becomes the endpoint the docs describe (LAN, and WAN for another dc)', async () => {
    const addr = await documentedAgent(routes);
    const lan = new Recorder();
    const wan = new Recorder();
    for (const [rec, options] of [
      [lan, {}],
      [wan, { datacenter: 'dc2' }],
    ] as const) {
      const d = new ConsulDiscovery({ ...FAST, env: { CONSUL_HTTP_ADDR: addr }, ...options });
      onTestFinished(() => d.close());
      d.subscribe('redis', rec.onUpdate, rec.onError);
    }
    await until(() => lan.latest?.length === 1 && wan.latest?.length === 1, 'both views');
    expect(lan.latest?.[0]).toEqual({
      url: 'http://10.1.10.12:8000',
      id: 'foobar/redis',
      weight: 10,
      tags: ['primary'],
      meta: { redis_version: '4.0' },
    });
    expect(wan.latest?.[0]?.url).toBe('http://198.18.1.2:80');
    expect([...lan.errors, ...wan.errors]).toEqual([]);
  });

  it('/v1/health/state/any gives a fingerprint per service and per node', () => {
    const { services, nodes } = checkFingerprints(fixture('health-state').body as HealthCheck[]);
    expect([...services.keys()]).toEqual(['redis']);
    expect([...nodes.keys()]).toEqual(['foobar']);
  });

  it('/v1/kv/:key gives the decoded value', async () => {
    const addr = await documentedAgent({ '/v1/kv/zip': { ...fixture('kv-read'), index: 200 } });
    const [host, port] = addr.split(':');
    const values: [string | undefined, number][] = [];
    const watch = new KvWatch(
      'zip',
      { key: 'zip', consul: { host, port: Number(port) } },
      {
        clock: systemClock,
        random: Math.random,
        onValue: (value, index) => values.push([value, index]),
        onError: () => {},
      },
    );
    watch.start();
    onTestFinished(() => watch.close());
    await until(() => values.length === 1, 'the value');
    expect(values).toEqual([['test', 200]]);
  });

  it('registrations use only the fields the docs list, in their types', () => {
    const documented = fixture('agent-service-register').body as Record<string, unknown>;
    const ours = toConsulService({
      name: 'redis',
      id: 'redis1',
      address: '127.0.0.1',
      port: 8000,
      tags: ['primary', 'v1'],
      meta: { redis_version: '4.0' },
      weights: { passing: 10, warning: 1 },
      check: {
        http: 'http://127.0.0.1:8000/health',
        interval: 10_000,
        timeout: 5_000,
        deregisterCriticalServiceAfter: 5_400_000,
      },
    });
    const { Check, ...top } = ours;
    const documentedTop = Object.fromEntries(Object.entries(documented).filter(([k]) => k !== 'Check'));
    for (const key of Object.keys(top)) expect(Object.keys(documentedTop)).toContain(key);
    expect(drift(top, documentedTop, new Set())).toEqual([]);
    // The check: the documented interval check's fields, in Go duration strings.
    const docCheck = documented.Check as Record<string, unknown>;
    for (const key of ['Interval', 'Timeout', 'DeregisterCriticalServiceAfter'] as const) {
      expect(typeof Check[key]).toBe(typeof docCheck[key]);
    }
    expect([Check.Interval, Check.Timeout, Check.DeregisterCriticalServiceAfter]).toEqual([
      '10s',
      '5s',
      '5400s',
    ]);
  });
});

describe(`the agent in use answers in the documented shapes (${REAL ? `real agent at ${REAL}` : 'emulator'})`, () => {
  const get = async (path: string) => {
    const token = env().CONSUL_HTTP_TOKEN;
    const res = await fetch(`http://${target.addr}${path}`, {
      headers: token ? { 'x-consul-token': token } : {},
    });
    return { res, body: res.status === 200 ? ((await res.json()) as unknown) : undefined };
  };
  const expectHeaders = (f: Fixture, res: Response) => {
    for (const name of f.headers ?? []) expect(res.headers.get(name), name).not.toBeNull();
    if (f.headers?.includes('X-Consul-Index'))
      expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThan(0);
  };

  it('health, health state, catalog and agent service answers', async () => {
    const name = unique('redis');
    const id = `${name}-1`;
    await agent('PUT', '/v1/agent/service/register', {
      Name: name,
      ID: id,
      Tags: ['primary'],
      Address: '127.0.0.1',
      TaggedAddresses: { lan: { address: '127.0.0.1', port: 8000 }, wan: { address: '127.0.0.1', port: 80 } },
      Meta: { redis_version: '4.0' },
      Port: 8000,
      Weights: { Passing: 10, Warning: 1 },
      Check: { TTL: '60s', Status: 'passing' },
    });
    onTestFinished(async () => {
      await agent('PUT', `/v1/agent/service/deregister/${id}`).catch(() => {});
    });

    const health = fixture('health-service');
    const answer = await get(`/v1/health/service/${name}`);
    expectHeaders(health, answer.res);
    expect(drift(health.body, answer.body, skipOf(health))).toEqual([]);

    const state = fixture('health-state');
    const checks = await get('/v1/health/state/any');
    expectHeaders(state, checks.res);
    const ours = (checks.body as { ServiceID?: string }[]).filter(
      (c) => c.ServiceID === id || c.ServiceID === '',
    );
    expect(drift(state.body, ours, skipOf(state))).toEqual([]);

    const catalog = fixture('catalog-services');
    const services = await get('/v1/catalog/services');
    expectHeaders(catalog, services.res);
    // Names to tag lists; the documented names are examples, except the agent's own `consul`.
    const listed = services.body as Record<string, unknown>;
    expect(Object.keys(listed)).toContain('consul');
    for (const [svc, tags] of Object.entries(listed)) {
      expect(drift((catalog.body as Record<string, unknown>).postgresql, tags, new Set()), svc).toEqual([]);
    }
    expect((services.body as Record<string, unknown>)[name]).toEqual(['primary']);

    const service = fixture('agent-service');
    const local = await get(`/v1/agent/service/${id}`);
    expect(drift(service.body, local.body, skipOf(service))).toEqual([]);
  });

  it('KV answers: a present key with its ModifyIndex, a missing key 404 with an index above 0', async () => {
    const kv = fixture('kv-read');
    const key = unique('contract/zip');
    const token = env().CONSUL_HTTP_TOKEN;
    const put = await fetch(`http://${target.addr}/v1/kv/${key}`, {
      method: 'PUT',
      body: 'test',
      headers: token ? { 'x-consul-token': token } : {},
    });
    expect(await put.json()).toBe(true);
    onTestFinished(() =>
      fetch(`http://${target.addr}/v1/kv/${key}`, { method: 'DELETE' }).then(() => undefined),
    );
    const present = await get(`/v1/kv/${key}`);
    expectHeaders(kv, present.res);
    expect(drift(kv.body, present.body, skipOf(kv))).toEqual([]);
    const [entry] = present.body as { Value: string; ModifyIndex: number }[];
    expect(Buffer.from(entry?.Value ?? '', 'base64').toString()).toBe('test');
    expect(present.res.headers.get('x-consul-index')).toBe(String(entry?.ModifyIndex));
    const missing = await get(`/v1/kv/${unique('contract/none')}`);
    expect(missing.res.status).toBe(404);
    expect(Number(missing.res.headers.get('x-consul-index'))).toBeGreaterThan(0);
  });
});
