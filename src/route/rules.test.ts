import { describe, expect, it } from 'vitest';
import { type BalanceContext, balance } from '../balance/filter.js';
import { RandomBalancer } from '../balance/random.js';
import { type Call, compose, type Handler, type Reply } from '../core/call.js';
import { ManualClock } from '../core/clock.js';
import type { EndpointInfo } from '../core/endpoint.js';
import { seededRandom } from '../core/random.js';
import { makeCall, makePool, setReady, sink } from '../core/test-helpers.js';
import { MeshEmitter } from '../telemetry/events.js';
import { type RoutingOptions, type RoutingPolicy, routingOption } from './options.js';
import { type RouteEvents, type RouteFallbackEvent, Router, route } from './rules.js';

/** Routing as the mesh resolves it: defaults filled in. */
const resolve = (options: RoutingOptions) => routingOption.parse(options) as RoutingPolicy;
/** Whether one rule is valid. */
const validRule = (rule: unknown) => routingOption.safeParse({ rules: [rule] }).success;

/** Requests carry their headers as a plain lower-case record. */
type Req = { headers: Record<string, string> };

const CANARY: RoutingOptions = {
  rules: [
    { name: 'canary-header', match: { headers: { 'x-canary': 'true' } }, subset: { version: 'v2' } },
    {
      name: 'split',
      split: [
        { subset: { version: 'v1' }, weight: 95 },
        { subset: { version: 'v2' }, weight: 5 },
      ],
      hashHeader: 'X-User-Id',
    },
  ],
};

/** `v1` endpoints (meta) and `v2` endpoints (tags), `zone` a or b. */
function fleet(v1: number, v2: number, zone = (_i: number) => 'a'): EndpointInfo[] {
  const infos: EndpointInfo[] = [];
  for (let i = 0; i < v1 + v2; i++) {
    const url = `http://10.0.2.${i}:80`;
    infos.push(
      i < v1
        ? { url, meta: { version: 'v1', zone: zone(i) } }
        : { url, tags: ['version=v2', `zone=${zone(i)}`] },
    );
  }
  return infos;
}

/** route -> balance -> a transport that answers with the picked endpoint's version and zone. */
function setup(options: RoutingOptions, infos: EndpointInfo[], seed = 1) {
  const clock = new ManualClock();
  const pool = makePool(infos, clock);
  const random = seededRandom(seed);
  const fallbacks: RouteFallbackEvent[] = [];
  const faults: unknown[] = [];
  const router = new Router<Req>(resolve(options), {
    service: 'svc',
    pool,
    header: (call, name) => call.request.headers[name],
    random,
    balancer: () => new RandomBalancer({ clock, random }),
    clock,
    events: sink<RouteEvents>((event, payload) => {
      if (event === 'route-fallback') fallbacks.push(payload as RouteFallbackEvent);
      else faults.push(payload);
    }),
  });
  const ctx: BalanceContext = {
    service: 'svc',
    pool,
    balancer: new RandomBalancer({ clock, random }),
    clock,
    events: new MeshEmitter(),
  };
  let sent = 0;
  const transport: Handler<Req, Reply> = async (call) => {
    sent++;
    const ep = call.endpoint!;
    const version = ep.meta.version ?? (ep.tags.includes('version=v2') ? 'v2' : '?');
    const zone = ep.meta.zone ?? ep.tags.find((t) => t.startsWith('zone='))?.slice(5);
    return { status: 200, headers: { version, zone } };
  };
  const send = compose(route(router), balance(ctx))(transport);
  const call = (headers: Record<string, string> = {}, overrides: Partial<Call> = {}) =>
    send({ ...makeCall(overrides), request: { headers } } as Call<Req>);
  return { clock, pool, router, fallbacks, faults, call, sentCount: () => sent };
}

/** Send `n` requests and count replies by a header. */
async function tally(
  n: number,
  send: (i: number) => Promise<Reply>,
  by = 'version',
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = String((await send(i)).headers?.[by]);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('route rules', () => {
  it('splits 95/5 between subsets within 1% over 20,000 requests', async () => {
    const { call } = setup(CANARY, fleet(6, 2));
    const counts = await tally(20_000, () => call());
    const share = (counts.v2 ?? 0) / 20_000;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.06);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(20_000);
    console.log(`canary split, random: v2 took ${(share * 100).toFixed(2)}% of 20,000 requests (target 5%)`);
  });

  it('keeps a split stable per key (header, else hashKey) and still 5% across keys', async () => {
    const { call } = setup(CANARY, fleet(6, 2));
    const byUser = await tally(20_000, (i) => call({ 'x-user-id': `user-${i}` }));
    const share = (byUser.v2 ?? 0) / 20_000;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.06);
    console.log(
      `canary split, by x-user-id: v2 took ${(share * 100).toFixed(2)}% of 20,000 users (target 5%)`,
    );
    for (let user = 0; user < 200; user++) {
      const once = await tally(10, () => call({ 'x-user-id': `user-${user}` }));
      expect(Object.keys(once)).toHaveLength(1);
      const byKey = await tally(10, () => call({}, { hashKey: `user-${user}` }));
      expect(Object.keys(byKey)).toHaveLength(1);
    }
  });

  it('sends requests with the canary header to v2, in order of the rules', async () => {
    const { call } = setup(CANARY, fleet(6, 2));
    expect(await tally(500, () => call({ 'x-canary': 'true' }))).toEqual({ v2: 500 });
    // Another value does not match the header rule: the split takes it.
    const other = await tally(500, () => call({ 'x-canary': 'false' }));
    expect(other.v1).toBeGreaterThan(400);
  });

  it('matches methods and path prefixes, and sends the rest to the default route', async () => {
    const { call } = setup(
      {
        rules: [{ match: { methods: ['post'], pathPrefix: '/orders' }, subset: { version: 'v2' } }],
        default: { subset: { version: 'v1' } },
      },
      fleet(3, 3),
    );
    expect(await tally(50, () => call({}, { method: 'POST', path: '/orders/7' }))).toEqual({ v2: 50 });
    expect(await tally(50, () => call({}, { method: 'GET', path: '/orders/7' }))).toEqual({ v1: 50 });
    expect(await tally(50, () => call({}, { method: 'POST', path: '/users' }))).toEqual({ v1: 50 });
  });

  it('matches a header by presence', async () => {
    const { call } = setup(
      { rules: [{ match: { headers: { 'X-Debug': true } }, subset: { version: 'v2' } }] },
      fleet(3, 3),
    );
    expect(await tally(50, () => call({ 'x-debug': '' }))).toEqual({ v2: 50 });
  });

  it('falls back to the default route when a subset is empty, with a route-fallback event', async () => {
    const options: RoutingOptions = {
      rules: [{ name: 'to-v3', match: { headers: { 'x-v3': 'yes' } }, subset: { version: 'v3' } }],
      default: { subset: { version: 'v1' } },
    };
    const { call, fallbacks } = setup(options, fleet(3, 3));
    expect(await tally(20, () => call({ 'x-v3': 'yes' }))).toEqual({ v1: 20 });
    expect(fallbacks).toHaveLength(20);
    expect(fallbacks[0]).toEqual({
      service: 'svc',
      rule: 'to-v3',
      subset: 'version=v3',
      reason: 'empty',
      fallback: 'version=v1',
    });
  });

  it('falls back when every endpoint of the subset is out of rotation, and to the whole service last', async () => {
    const infos = [...fleet(2, 2), { url: 'http://10.0.2.99:80', meta: { version: 'v0' } }];
    const { call, fallbacks, pool } = setup(
      { rules: [{ name: 'v2-only', subset: { version: 'v2' } }], default: { subset: { version: 'v1' } } },
      infos,
    );
    const [v1a, v1b, v2a, v2b, v0] = pool.all;
    for (const ep of [v2a!, v2b!]) setReady(pool, ep, false);
    expect(await tally(10, () => call())).toEqual({ v1: 10 });
    expect(fallbacks.at(-1)).toMatchObject({
      rule: 'v2-only',
      reason: 'unavailable',
      fallback: 'version=v1',
    });
    // The default route empties too: what is left of the whole service takes the request.
    for (const ep of [v1a!, v1b!]) setReady(pool, ep, false);
    expect(await tally(10, () => call())).toEqual({ v0: 10 });
    expect(fallbacks.at(-1)).toMatchObject({ rule: 'v2-only', subset: 'version=v2', fallback: '*' });
    // Nothing left anywhere: the balancer says so, as without routing.
    setReady(pool, v0!, false);
    await expect(call()).rejects.toMatchObject({ code: 'MESH_CIRCUIT_OPEN' });
    expect(fallbacks).toHaveLength(21);
  });

  it('injects a rule fault only into the requests the rule takes', async () => {
    const { call, faults, sentCount } = setup(
      {
        rules: [
          { name: 'chaos', match: { pathPrefix: '/chaos' }, fault: { abort: { percent: 100, status: 503 } } },
        ],
      },
      fleet(2, 2),
    );
    const reply = await call({}, { path: '/chaos/1' });
    expect(reply).toEqual({ status: 503, headers: { 'x-mesh-fault': 'abort' } });
    expect(sentCount()).toBe(0);
    expect(faults).toEqual([{ service: 'svc', kind: 'abort', status: 503, rule: 'chaos' }]);
    expect((await call({}, { path: '/calm' })).status).toBe(200);
    expect(sentCount()).toBe(1);
  });

  it('applies new rules to later requests when reconfigured', async () => {
    const { call, router } = setup(CANARY, fleet(3, 3));
    router.configure(resolve({ default: { subset: { version: 'v2' } } }));
    expect(await tally(20, () => call())).toEqual({ v2: 20 });
  });

  it('validates its options', () => {
    expect(resolve(CANARY)).toEqual({ ...CANARY, zone: false });
    expect(validRule({ subset: { version: 'v2' }, split: [] })).toBe(false);
    expect(validRule({ subset: { version: 'v2' }, split: [{ subset: {}, weight: 1 }] })).toBe(false);
    expect(validRule({ split: [{ subset: { version: 'v1' }, weight: 0 }] })).toBe(false);
    expect(validRule({ match: { methods: [] }, fault: { abort: { status: 42 } } })).toBe(false);
    expect(routingOption.safeParse({ zone: { local: 'a', minHealthyPercent: 0 } }).success).toBe(false);
    expect(resolve({ zone: false })).toEqual({ rules: [], zone: false });
    expect(resolve({ zone: { local: 'a' } }).zone).toEqual({
      local: 'a',
      zoneKey: 'zone',
      minHealthyPercent: 70,
      minClusterSize: 6,
    });
  });
});

describe('zone-aware routing', () => {
  /** 12 endpoints: v1 only, six in zone a (local), six in zone b. */
  const zoned = () => fleet(12, 0, (i) => (i < 6 ? 'a' : 'b'));
  const ZONE: RoutingOptions = { zone: { local: 'a' } };

  it('keeps all traffic in the local zone while it is healthy enough', async () => {
    const { call, pool } = setup(ZONE, zoned());
    expect(await tally(1_000, () => call(), 'zone')).toEqual({ a: 1_000 });
    // 5 of 6 local endpoints (83%) is above the 70% threshold.
    setReady(pool, pool.all[0]!, false);
    expect(await tally(1_000, () => call(), 'zone')).toEqual({ a: 1_000 });
  });

  it('spills over in proportion once the local healthy share falls below the threshold', async () => {
    const { call, pool } = setup(ZONE, zoned(), 3);
    for (const ep of pool.all.slice(0, 3)) setReady(pool, ep, false);
    // 50% healthy: the local zone takes 50/70 = 71.4% of the traffic.
    const half = await tally(20_000, () => call(), 'zone');
    const local = (half.a ?? 0) / 20_000;
    expect(local).toBeGreaterThan(0.7);
    expect(local).toBeLessThan(0.73);
    console.log(
      `zone spill-over at 50% local health: ${(local * 100).toFixed(1)}% stayed local (expected 71.4%)`,
    );
    for (const ep of pool.all.slice(3, 6)) setReady(pool, ep, false);
    expect(await tally(1_000, () => call(), 'zone')).toEqual({ b: 1_000 });
  });

  it('ignores zones for destinations smaller than minClusterSize, or without local endpoints', async () => {
    const small = setup(
      ZONE,
      fleet(4, 0, (i) => (i < 2 ? 'a' : 'b')),
    );
    const counts = await tally(1_000, () => small.call(), 'zone');
    expect(counts.a).toBeGreaterThan(400);
    expect(counts.b).toBeGreaterThan(400);
    const elsewhere = setup({ zone: { local: 'c' } }, zoned());
    const spread = await tally(1_000, () => elsewhere.call(), 'zone');
    expect(spread.a).toBeGreaterThan(400);
    expect(spread.b).toBeGreaterThan(400);
  });

  it('applies within the subset a rule chose', async () => {
    const infos = fleet(12, 12, (i) => (i % 12 < 6 ? 'a' : 'b'));
    const { call } = setup({ default: { subset: { version: 'v2' } }, zone: { local: 'b' } }, infos);
    expect(await tally(500, () => call(), 'zone')).toEqual({ b: 500 });
    expect(await tally(500, () => call())).toEqual({ v2: 500 });
  });
});
