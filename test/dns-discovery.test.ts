/**
 * DNS discovery against a real DNS server (BIND's named, testkit/dns-server.ts): A, AAAA and SRV
 * answers, zone changes followed on the TTL, weights and priorities. Time is a ManualClock, so every
 * refresh happens when the test moves the clock; only the queries take real (loopback) time.
 * Failures, empty answers and the lifecycle are in dns-failures.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DnsDiscovery, type DnsOptions } from '../src/discovery/dns/discovery.js';
import type { DnsRecord } from '../testkit/dns-server.js';
import { A, USERS, useDnsFixture } from './support/dns-discovery.js';

const t = useDnsFixture();

describe('DNS discovery: A and AAAA', () => {
  it('maps a service to {service}.{namespace}.svc.cluster.local and follows the TTL', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2', 7), A(USERS, '127.0.0.3', 7)]);
    const d = t.discovery({ port: 8080 });
    expect(d.target('users')).toEqual({
      name: 'users.default.svc.cluster.local',
      type: 'A',
      port: 8080,
      scheme: 'http',
    });
    const { rec, sub } = t.watch(d);
    await sub.ready;
    expect(rec.urls).toEqual(['http://127.0.0.2:8080', 'http://127.0.0.3:8080']);
    // An endpoint added and one removed: seen at the next refresh, when the 7 s TTL runs out.
    await t.server.setRecords([A(USERS, '127.0.0.3', 7), A(USERS, '127.0.0.4', 7)]);
    expect(t.stillWaitingAfter(6_999)).toBe(true);
    expect(rec.updates).toHaveLength(1);
    await t.refresh(1);
    expect(rec.urls).toEqual(['http://127.0.0.3:8080', 'http://127.0.0.4:8080']);
    // An unchanged answer is no news.
    await t.refresh(7_000);
    expect(rec.updates).toHaveLength(2);
    await t.server.setRecords([A(USERS, '127.0.0.4', 7)]);
    await t.refresh(7_000);
    expect(rec.urls).toEqual(['http://127.0.0.4:8080']);
    expect(rec.updates).toHaveLength(3);
    expect(rec.errors).toEqual([]);
  });

  it('holds the refresh within minRefresh and maxRefresh, and jitter brings it forward', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2', 0), A('big.default.svc', '127.0.0.2', 3600)]);
    const d = t.discovery({ minRefresh: 2_000, maxRefresh: 20_000 });
    const fast = t.watch(d);
    await fast.sub.ready;
    await t.server.setRecords([A(USERS, '127.0.0.3', 0), A('big.default.svc', '127.0.0.2', 3600)]);
    // TTL 0: asked again after minRefresh, not at once.
    expect(t.stillWaitingAfter(1_999)).toBe(true);
    await t.refresh(1);
    expect(fast.rec.urls).toEqual(['http://127.0.0.3:80']);
    fast.sub.close();

    const slow = t.watch(d, 'big');
    await slow.sub.ready;
    await t.server.setRecords([A('big.default.svc', '127.0.0.5', 3600)]);
    // TTL 3600 s: asked again after maxRefresh.
    expect(t.stillWaitingAfter(19_999)).toBe(true);
    await t.refresh(1);
    expect(slow.rec.urls).toEqual(['http://127.0.0.5:80']);
    slow.sub.close();

    // random() = 1 with jitter 0.25: a TTL of 8 s is asked again 2 s early.
    await t.server.setRecords([A(USERS, '127.0.0.2', 8)]);
    const j = t.watch(t.discovery({ jitter: 0.25, random: () => 1 }));
    await j.sub.ready;
    await t.server.setRecords([A(USERS, '127.0.0.6', 8)]);
    expect(t.stillWaitingAfter(5_999)).toBe(true);
    await t.refresh(1);
    expect(j.rec.urls).toEqual(['http://127.0.0.6:80']);
  });

  it('resolves AAAA names to bracketed IPv6 URLs, with scheme and per-service mapping', async () => {
    await t.server.setRecords([
      { name: 'api.prod.svc', type: 'AAAA', address: '::1' },
      { name: 'api.prod.svc', type: 'AAAA', address: 'fd00::7' },
      A('legacy.example', '127.0.0.9'),
    ]);
    const d = t.discovery({
      namespace: 'prod',
      scheme: 'https',
      services: {
        api: { type: 'AAAA' },
        old: { name: 'legacy.example.cluster.local', scheme: 'http', port: 9000 },
      },
    });
    expect(d.target('api')).toMatchObject({ name: 'api.prod.svc.cluster.local', port: 443, scheme: 'https' });
    const api = t.watch(d, 'api');
    const old = t.watch(d, 'old');
    await Promise.all([api.sub.ready, old.sub.ready]);
    expect(api.rec.urls).toEqual(['https://[::1]:443', 'https://[fd00::7]:443']);
    expect(old.rec.urls).toEqual(['http://127.0.0.9:9000']);
    expect(d.knows('api') && d.knows('old')).toBe(true);
    expect(d.knows('elsewhere')).toBe(false);
    expect(d.services()).toEqual(['api', 'old']);
  });

  it('caps the records of one answer at maxRecords, keeps the same ones, and says so once', async () => {
    const many = [5, 1, 4, 2, 3].map((i) => A(USERS, `127.0.0.${i}`));
    await t.server.setRecords(many);
    const d = t.discovery({ maxRecords: 3 });
    const { rec, sub } = t.watch(d);
    await sub.ready;
    expect(rec.urls).toEqual(['http://127.0.0.1:80', 'http://127.0.0.2:80', 'http://127.0.0.3:80']);
    expect(rec.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/more records than maxRecords \(3\); 2 left out/),
    ]);
    await t.server.setRecords([...many, A(USERS, '127.0.0.6')]);
    await t.refresh(5_000);
    expect(rec.updates).toHaveLength(1); // the same three kept, and not reported again
    await t.server.setRecords([A(USERS, '127.0.0.1')]);
    await t.refresh(5_000);
    expect(rec.urls).toEqual(['http://127.0.0.1:80']);
    expect(rec.errors).toHaveLength(1);
  });
});

describe('DNS discovery: defaults', () => {
  it('jitter 0.1, maxRefresh 30 s, maxRecords 256 (an answer so big it comes over TCP)', async () => {
    const big = Array.from({ length: 300 }, (_, i) => A(USERS, `10.0.${i >> 8}.${i & 255}`, 10));
    await t.server.setRecords(big);
    // random() = 1: the full default jitter, a TTL of 10 s asked again 1 s early.
    const d = t.discovery({ random: () => 1 });
    const { rec, sub } = t.watch(d);
    await sub.ready;
    expect(rec.latest).toHaveLength(256);
    expect(rec.urls?.slice(0, 2)).toEqual(['http://10.0.0.0:80', 'http://10.0.0.1:80']);
    expect(rec.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/more records than maxRecords \(256\); 44 left out/),
    ]);
    await t.server.setRecords([A(USERS, '127.0.0.2', 3600)]);
    expect(t.stillWaitingAfter(8_999)).toBe(true);
    await t.refresh(1);
    expect(rec.urls).toEqual(['http://127.0.0.2:80']);
    // A TTL of an hour is held to maxRefresh (30 s; jitter brings it to 27 s).
    await t.server.setRecords([A(USERS, '127.0.0.3', 3600)]);
    expect(t.stillWaitingAfter(26_999)).toBe(true);
    await t.refresh(1);
    expect(rec.urls).toEqual(['http://127.0.0.3:80']);
  });
});

describe('DNS discovery: SRV', () => {
  const srv = (priority: number, weight: number, port: number, target: string): DnsRecord => ({
    name: '_http._tcp.users.default.svc',
    type: 'SRV',
    priority,
    weight,
    port,
    target,
  });
  const hosts = [A('a.hosts', '127.0.0.1', 6), A('b.hosts', '127.0.0.2', 4), A('c.hosts', '127.0.0.3', 9)];
  const options: DnsOptions = {
    services: { users: { type: 'SRV', name: '_http._tcp.{service}.{namespace}.svc.cluster.local' } },
  };

  it('uses the lowest priority, SRV ports and weights, follows weight changes and fails over', async () => {
    await t.server.setRecords([
      srv(10, 60, 8001, 'a.hosts'),
      srv(10, 20, 8002, 'b.hosts'),
      srv(20, 5, 8003, 'c.hosts'),
      ...hosts,
    ]);
    const d = t.discovery(options);
    const { rec, sub } = t.watch(d);
    await sub.ready;
    expect(rec.latest).toEqual([
      { url: 'http://127.0.0.1:8001', weight: 60 },
      { url: 'http://127.0.0.2:8002', weight: 20 },
    ]);
    // Weight changed: seen on the smallest TTL of the targets' addresses (4 s).
    await t.server.setRecords([
      srv(10, 10, 8001, 'a.hosts'),
      srv(10, 30, 8002, 'b.hosts'),
      srv(20, 5, 8003, 'c.hosts'),
      ...hosts,
    ]);
    expect(t.stillWaitingAfter(3_999)).toBe(true);
    await t.refresh(1);
    expect(rec.latest?.map((e) => e.weight)).toEqual([10, 30]);
    // Priority 10 withdrawn: priority 20 takes over, and its target's TTL (9 s) drives the refresh.
    await t.server.setRecords([srv(20, 5, 8003, 'c.hosts'), ...hosts]);
    await t.refresh(4_000);
    expect(rec.latest).toEqual([{ url: 'http://127.0.0.3:8003', weight: 5 }]);
    await t.server.setRecords([srv(10, 1, 8001, 'a.hosts'), srv(20, 5, 8003, 'c.hosts'), ...hosts]);
    expect(t.stillWaitingAfter(8_999)).toBe(true);
    await t.refresh(1);
    expect(rec.urls).toEqual(['http://127.0.0.1:8001']);
    expect(rec.updates).toHaveLength(4);
    expect(rec.errors).toEqual([]);
  });

  it('fails over when the best priority has no resolvable target, and reports those targets', async () => {
    await t.server.setRecords([srv(0, 1, 8001, 'gone.hosts'), srv(5, 1, 8003, 'c.hosts'), ...hosts]);
    const { rec, sub } = t.watch(t.discovery(options));
    await sub.ready;
    expect(rec.urls).toEqual(['http://127.0.0.3:8003']);
    expect(rec.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/SRV targets of .* without an address: gone\.hosts/),
    ]);
  });

  it('gives weight-0 records an equal share among themselves, a very small one beside weighted peers', async () => {
    await t.server.setRecords([srv(1, 0, 8001, 'a.hosts'), srv(1, 0, 8002, 'b.hosts'), ...hosts]);
    const { rec, sub } = t.watch(t.discovery(options));
    await sub.ready;
    expect(rec.latest?.map((e) => e.weight)).toEqual([1, 1]);
    await t.server.setRecords([
      srv(1, 0, 8001, 'a.hosts'),
      srv(1, 50, 8002, 'b.hosts'),
      srv(1, 200, 8003, 'c.hosts'),
      ...hosts,
    ]);
    await t.refresh(4_000);
    expect(rec.latest?.map((e) => e.weight)).toEqual([0.5, 50, 200]);
  });

  it('reads a target of "." as "not offered here": an empty set', async () => {
    await t.server.setRecords([srv(0, 0, 0, '.'), ...hosts]);
    const { rec, sub } = t.watch(t.discovery(options));
    await sub.ready;
    expect(rec.latest).toEqual([]);
  });

  it('refuses a port for SRV names, at construction, naming the option', () => {
    expect(() => new DnsDiscovery({ type: 'SRV', port: 80 })).toThrow(
      /^MESH_BAD_OPTIONS: dns\.port: SRV records carry the port/,
    );
    expect(() => new DnsDiscovery({ services: { users: { type: 'SRV', port: 80 } } })).toThrow(
      /dns\.services\.users\.port: SRV records carry the port/,
    );
  });
});
