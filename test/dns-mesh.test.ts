/**
 * DNS discovery end to end: a real DNS server (BIND's named) names real HTTP servers on loopback,
 * and requests through `MeshClient` and the sidecar follow the zone as it changes: pods added and
 * deleted (A records of a headless Service), SRV weights and priorities, the resolver killed and
 * back. Time is the system clock here, as in production; every wait ends on an event.
 *
 * Two tests also measure: the time from a zone change to routing, and what traffic sees while the
 * resolver is down. They print their figures and assert only on behaviour, never on time.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MeshClient } from '../src/client/client.js';
import { seededRandom } from '../src/core/random.js';
import { DnsDiscovery, type DnsOptions } from '../src/discovery/dns/discovery.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import type { EndpointsEvent } from '../src/telemetry/events.js';
import { type DnsRecord, DnsServer } from '../testkit/dns-server.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

const USERS = 'users.default.svc';
const A = (address: string, ttl = 1): DnsRecord => ({ name: USERS, type: 'A', address, ttl });

/** "Pods": one HTTP server per loopback address, all on the same port, each answering its address. */
class Pods {
  readonly #servers: http.Server[] = [];
  port = 0;

  static async start(addresses: string[]): Promise<Pods> {
    const pods = new Pods();
    for (const address of addresses) {
      const server = http.createServer((_req, res) => res.end(address));
      server.listen(pods.port, address);
      await once(server, 'listening');
      pods.port = (server.address() as AddressInfo).port;
      pods.#servers.push(server);
    }
    return pods;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#servers.map((s) => {
        s.closeAllConnections();
        return new Promise((resolve) => s.close(resolve));
      }),
    );
  }
}

let server: DnsServer;
let pods: Pods;
const open = closeAfterEach();

beforeAll(async () => {
  [server, pods] = await Promise.all([
    DnsServer.start(),
    Pods.start(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']),
  ]);
});
afterAll(async () => {
  await Promise.all([server.close(), pods.close()]);
});
beforeEach(async () => {
  if (!server.running) await server.restart();
});

/** A DNS discovery on the test server with a 1 s floor on refreshes, closed after the test. */
function dns(options: DnsOptions = {}): DnsDiscovery {
  const d = new DnsDiscovery({ servers: [server.address], port: pods.port, minRefresh: 200, ...options });
  open.push(d);
  return d;
}

function client(discovery: DnsDiscovery): MeshClient {
  const mesh = new MeshClient({
    discovery,
    loadBalancer: 'round-robin',
    timeout: { total: 5_000, perTry: 2_000 },
  });
  open.push(mesh);
  return mesh;
}

/** Resolves with the next `endpoints` event of `service` that satisfies `check`. */
function endpointsEvent(mesh: MeshClient, check: (e: EndpointsEvent) => boolean): Promise<EndpointsEvent> {
  return new Promise((resolve) => {
    const listener = (e: EndpointsEvent) => {
      if (!check(e)) return;
      mesh.off('endpoints', listener);
      resolve(e);
    };
    mesh.on('endpoints', listener);
  });
}

/** Which pods answered `n` requests, as counts per address. */
async function spread(mesh: MeshClient, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { data } = await mesh.request<string>({ service: 'users', url: '/' });
    counts[data] = (counts[data] ?? 0) + 1;
  }
  return counts;
}

describe('MeshClient with DNS discovery (headless Service, A records)', () => {
  it('routes to every pod, to a pod added, and no longer to a pod deleted', async () => {
    await server.setRecords([A('127.0.0.2'), A('127.0.0.3')]);
    const mesh = client(dns());
    expect(await spread(mesh, 10)).toEqual({ '127.0.0.2': 5, '127.0.0.3': 5 });

    const scaled = endpointsEvent(mesh, (e) => e.added.length > 0);
    await server.setRecords([A('127.0.0.2'), A('127.0.0.3'), A('127.0.0.4')]);
    expect((await scaled).added).toEqual([`http://127.0.0.4:${pods.port}`]);
    expect(await spread(mesh, 9)).toEqual({ '127.0.0.2': 3, '127.0.0.3': 3, '127.0.0.4': 3 });

    const deleted = endpointsEvent(mesh, (e) => e.removed.length > 0);
    await server.setRecords([A('127.0.0.3'), A('127.0.0.4')]);
    expect((await deleted).removed).toEqual([`http://127.0.0.2:${pods.port}`]);
    expect(await spread(mesh, 10)).toEqual({ '127.0.0.3': 5, '127.0.0.4': 5 });
  });

  it('keeps serving through a resolver outage, emits discovery-error, and follows the zone once back', async () => {
    await server.setRecords([A('127.0.0.2'), A('127.0.0.3')]);
    const mesh = client(dns({ maxRefresh: 1_000 }));
    expect(Object.keys(await spread(mesh, 4)).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    const errors: Error[] = [];
    const failed = new Promise<void>((resolve) =>
      mesh.on('discovery-error', (e) => {
        errors.push(e.error);
        if (errors.length === 2) resolve();
      }),
    );
    await server.kill();
    await failed;
    expect(isMeshError(errors[0], 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(errors[0]!.message).toMatch(/ECONNREFUSED/);
    // The last good set still routes: every request of the outage succeeds.
    expect(await spread(mesh, 10)).toEqual({ '127.0.0.2': 5, '127.0.0.3': 5 });
    const changed = endpointsEvent(mesh, () => true);
    await server.restart();
    await server.setRecords([A('127.0.0.5')]);
    await changed;
    expect(await spread(mesh, 3)).toEqual({ '127.0.0.5': 3 });
  });

  it('fails requests with MESH_DISCOVERY_UNAVAILABLE while the first resolution fails, then serves', async () => {
    await server.kill();
    const mesh = client(dns());
    const error = await mesh.request({ service: 'users', url: '/' }).catch((e: unknown) => e);
    expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    const first = endpointsEvent(mesh, (e) => e.endpoints.length > 0);
    await server.restart();
    await server.setRecords([A('127.0.0.3')]);
    await first;
    expect(await spread(mesh, 2)).toEqual({ '127.0.0.3': 2 });
  });
});

describe('the options form: discovery: { dns: {...} }', () => {
  it('builds the DNS discovery from the block, in MeshClient and in the sidecar config, and closes it with them', async () => {
    await server.setRecords([A('127.0.0.2'), A('127.0.0.3')]);
    const block = {
      dns: { servers: [server.address], port: pods.port, minRefresh: 200, services: { users: {} } },
    };
    const mesh = new MeshClient({ discovery: block, loadBalancer: 'round-robin' });
    open.push(mesh);
    expect(mesh.discovery).toBeInstanceOf(DnsDiscovery);
    expect(await spread(mesh, 4)).toEqual({ '127.0.0.2': 2, '127.0.0.3': 2 });

    const sidecar = await sidecarFor({ discovery: block, loadBalancer: 'round-robin' });
    open.push(sidecar);
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++)
      answers.add((await raw(sidecar.address, '/', { headers: { host: 'users' } })).body);
    expect([...answers].sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect((await raw(sidecar.address, '/', { headers: { host: 'orders' } })).status).toBe(404);
  });

  it('refuses a bad block at construction, naming the path', () => {
    expect(() => new MeshClient({ discovery: { dns: { type: 'SRV', port: 80 } } })).toThrow(
      /options\.discovery\.dns\.port: SRV records carry the port/,
    );
  });
});

describe('MeshClient with DNS discovery (SRV)', () => {
  it('splits traffic by SRV weight, follows a weight change, and fails over to the next priority', async () => {
    const [a, b, c] = await Promise.all([Upstream.start('a'), Upstream.start('b'), Upstream.start('c')]);
    open.push(a!, b!, c!);
    const port = (u: Upstream) => Number(new URL(u.url).port);
    const srv = (priority: number, weight: number, u: Upstream): DnsRecord => ({
      name: '_http._tcp.users.default.svc',
      type: 'SRV',
      priority,
      weight,
      port: port(u),
      target: 'node.hosts',
    });
    const host: DnsRecord = { name: 'node.hosts', type: 'A', address: '127.0.0.1', ttl: 1 };
    await server.setRecords([srv(10, 3, a!), srv(10, 1, b!), srv(20, 1, c!), host]);
    const mesh = client(
      dns({
        services: { users: { type: 'SRV', name: '_http._tcp.{service}.{namespace}.svc.cluster.local' } },
      }),
    );
    const counts = async (n: number) => {
      const before = [a!.count, b!.count, c!.count];
      for (let i = 0; i < n; i++) await mesh.request({ service: 'users', url: '/' });
      return [a!.count - before[0]!, b!.count - before[1]!, c!.count - before[2]!];
    };
    expect(await counts(40)).toEqual([30, 10, 0]);
    const reweighted = endpointsEvent(mesh, () => true);
    await server.setRecords([srv(10, 1, a!), srv(10, 1, b!), srv(20, 1, c!), host]);
    expect((await reweighted).endpoints.map((e) => e.weight)).toEqual([1, 1]);
    expect(await counts(20)).toEqual([10, 10, 0]);
    const failover = endpointsEvent(mesh, () => true);
    await server.setRecords([srv(20, 1, c!), host]);
    expect((await failover).endpoints.map((e) => e.url)).toEqual([c!.url]);
    expect(await counts(5)).toEqual([0, 0, 5]);
  });
});

describe('mesh-sidecar with DNS discovery', () => {
  it('forwards to the services listed under dns.services, refuses others, and follows the zone', async () => {
    await server.setRecords([A('127.0.0.2'), A('127.0.0.3')]);
    const discovery = dns({ services: { users: {}, ghost: {} } });
    const sidecar = await sidecarFor({ discovery, loadBalancer: 'round-robin' });
    open.push(sidecar);
    const hit = async () => (await raw(sidecar.address, '/', { headers: { host: 'users' } })).body;
    expect([await hit(), await hit()].sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect((await raw(sidecar.address, '/', { headers: { host: 'orders' } })).status).toBe(404);
    // Listed but not in DNS (NXDOMAIN): 503, naming the reason.
    const ghost = await raw(sidecar.address, '/', { headers: { host: 'ghost' } });
    expect([ghost.status, ghost.body]).toEqual([503, expect.stringContaining('MESH_DISCOVERY_UNAVAILABLE')]);
    expect((await raw(sidecar.adminAddress, '/ready')).status).toBe(200);
    const runtime = [...sidecar.mesh.services()].find((r) => r.service === 'users')!;
    const deleted = new Promise<void>((resolve) =>
      sidecar.mesh.events.on('endpoints', (e) => e.endpoints.length === 1 && resolve()),
    );
    await server.setRecords([A('127.0.0.3')]);
    await deleted;
    expect(runtime.snapshot().map((e) => e.url)).toEqual([`http://127.0.0.3:${pods.port}`]);
    expect([await hit(), await hit()]).toEqual(['127.0.0.3', '127.0.0.3']);
  });
});

/**
 * Figures for docs/kubernetes.md, printed as JSON: `DNS_FIGURES=1 npx vitest run test/dns-mesh.test.ts`
 * (`DNS_FIGURES_TTL=5` for another TTL, in seconds). Off by default: it runs for tens of seconds and
 * drives traffic flat out. The zone changes at a random moment of the refresh cycle (seeded), as a pod
 * deletion would, so the samples spread over one TTL.
 */
describe.runIf(process.env.DNS_FIGURES === '1')(
  'DNS discovery figures (printed, not asserted on time)',
  () => {
    const ttl = Number(process.env.DNS_FIGURES_TTL ?? 1);

    it(`measures zone change to routing at TTL ${ttl} s, and traffic during a resolver outage`, async () => {
      const phase = seededRandom(18);
      await server.setRecords([A('127.0.0.2', ttl)]);
      // The refresh bounds at their defaults (1 s and 30 s), as a deployment would have them.
      const mesh = client(dns({ minRefresh: 1_000, maxRefresh: 30_000 }));
      await spread(mesh, 1);
      const samples: number[] = [];
      const order = [
        '127.0.0.3',
        '127.0.0.4',
        '127.0.0.5',
        '127.0.0.2',
        '127.0.0.3',
        '127.0.0.4',
        '127.0.0.5',
        '127.0.0.2',
      ];
      for (const next of order) {
        await new Promise((resolve) => setTimeout(resolve, phase() * ttl * 1_000));
        const changed = endpointsEvent(mesh, () => true);
        await server.setRecords([A(next, ttl)]);
        const start = performance.now();
        await changed;
        // The first request after the change must be answered by the new pod: that is "routed".
        const { data } = await mesh.request<string>({ service: 'users', url: '/' });
        expect(data).toBe(next);
        samples.push(Math.round(performance.now() - start));
      }
      const sorted = [...samples].sort((x, y) => x - y);

      // Outage: the resolver is killed while requests flow, for 3 s and until discovery noticed it
      // twice (with a long TTL the first failed refresh may come later); no request may fail.
      let errors = 0;
      mesh.on('discovery-error', () => errors++);
      await server.kill();
      const outageStart = performance.now();
      let ok = 0;
      let failed = 0;
      while (performance.now() - outageStart < 3_000 || errors < 2) {
        await mesh.request({ service: 'users', url: '/' }).then(
          () => ok++,
          () => failed++,
        );
      }
      const outageMs = Math.round(performance.now() - outageStart);
      const back = endpointsEvent(mesh, () => true);
      await server.restart();
      const restarted = performance.now();
      await server.setRecords([A('127.0.0.5', ttl)]);
      await back;
      const recovery = Math.round(performance.now() - restarted);
      console.log(
        JSON.stringify({
          zoneChangeToRoutingMs: {
            ttlSeconds: ttl,
            samples,
            min: sorted[0],
            median: sorted[sorted.length >> 1],
            max: sorted.at(-1),
          },
          outage: {
            ms: outageMs,
            requestsOk: ok,
            requestsFailed: failed,
            discoveryErrors: errors,
            restartToRoutingMs: recovery,
          },
        }),
      );
      expect(failed).toBe(0);
      expect(errors).toBeGreaterThan(0);
    }, 120_000);
  },
);
