/**
 * Another datacenter, as Consul really answers for it: `Service.Address` is the LAN address, the one
 * reachable from the instance's own datacenter; the WAN one is in `TaggedAddresses` (Consul's
 * `agent/health_endpoint.go` translates only with `translate_wan_addrs`). A client that sets
 * `datacenter` to another datacenter than its agent's dials the WAN address unless told
 * `remoteAddress: 'lan'`; for its own datacenter it keeps the LAN address.
 *
 * Emulator only: two emulated datacenters, the local agent forwarding `dc=dc2` to the other (as a
 * Consul server forwards to the remote datacenter's servers). Loopback addresses stand for LAN and
 * WAN: 127.0.0.2 is the "LAN" address nothing listens on, 127.0.0.1 the reachable "WAN" one
 * (127.0.0.3, a node's WAN address, is compared, never dialled).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulDiscovery } from '../src/discovery/consul/discovery.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { client, portOf, served, upstreams, whenEndpoints } from './support/consul-mesh.js';
import { FAST, REAL, Recorder, unique, until } from './support/consul-target.js';

async function federation(): Promise<{ dc1: ConsulEmulator; dc2: ConsulEmulator }> {
  const dc2 = await ConsulEmulator.start({ datacenter: 'dc2', node: 'remote', wanAddress: '127.0.0.3' });
  const dc1 = await ConsulEmulator.start({ datacenter: 'dc1', peers: [dc2] });
  onTestFinished(async () => {
    await dc1.close();
    await dc2.close();
  });
  return { dc1, dc2 };
}

async function put(em: ConsulEmulator, body: object): Promise<void> {
  const res = await fetch(`http://${em.address}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify(body),
  });
  expect(res.status, await res.text()).toBe(200);
}

function remote(name: string, id: string, port: number, address?: string) {
  return {
    Name: name,
    ID: id,
    Port: 9999,
    ...(address !== undefined && { Address: address }),
    ...(address !== undefined && {
      TaggedAddresses: { lan: { address, port: 9999 }, wan: { address: '127.0.0.1', port } },
    }),
    Check: { TTL: '600s', Status: 'passing' },
  };
}

function watch(em: ConsulEmulator, name: string, options: object): Recorder {
  const rec = new Recorder();
  const d = new ConsulDiscovery({ ...FAST, env: { CONSUL_HTTP_ADDR: em.address }, ...options });
  onTestFinished(() => d.close());
  d.subscribe(name, rec.onUpdate, rec.onError);
  return rec;
}

describe.skipIf(!!REAL)('Consul across datacenters (emulator)', () => {
  it("another datacenter's instances are dialled at their WAN address, and served", async () => {
    const { dc1, dc2 } = await federation();
    const name = unique('far');
    const [up] = await upstreams('far');
    await put(dc2, remote(name, `${name}-1`, portOf(up!), '127.0.0.2'));
    const mesh = client({ host: '127.0.0.1', port: dc1.port, datacenter: 'dc2', services: [name] });
    await whenEndpoints(mesh, name, (e) => e.endpoints.length === 1);
    expect(mesh.endpoints(name).map((e) => e.url)).toEqual([up!.url]);
    expect(await served(mesh, name, 3)).toEqual(['far', 'far', 'far']);
  });

  it("remoteAddress: 'lan' keeps Service.Address; the agent's own datacenter always does", async () => {
    const { dc1, dc2 } = await federation();
    const name = unique('lan');
    await put(dc2, remote(name, `${name}-1`, 4444, '127.0.0.2'));
    await put(dc1, remote(name, `${name}-1`, 4444, '127.0.0.2'));
    const lan = watch(dc1, name, { datacenter: 'dc2', remoteAddress: 'lan' });
    const own = watch(dc1, name, { datacenter: 'dc1' });
    const wan = watch(dc1, name, { datacenter: 'dc2' });
    await until(() => [lan, own, wan].every((r) => r.latest?.length === 1), 'the three views');
    expect(lan.latest?.[0]?.url).toBe('http://127.0.0.2:9999');
    expect(own.latest?.[0]?.url).toBe('http://127.0.0.2:9999');
    expect(wan.latest?.[0]?.url).toBe('http://127.0.0.1:4444');
  });

  it("an instance without an address of its own is dialled at its node's WAN address", async () => {
    const { dc1, dc2 } = await federation();
    const name = unique('node');
    await put(dc2, remote(name, `${name}-1`, 0));
    const rec = watch(dc1, name, { datacenter: 'dc2' });
    await until(() => rec.latest?.length === 1, 'the instance');
    // dc2's node: Address 127.0.0.1 on its LAN, TaggedAddresses.wan 127.0.0.3 (see federation()).
    expect(rec.latest?.[0]?.url).toBe('http://127.0.0.3:9999');
    const unknown = watch(dc1, name, { datacenter: 'dc9', initialTimeout: 300 });
    await until(() => unknown.errors.some((e) => e.message.includes('No path to datacenter')), 'the refusal');
  });
});
