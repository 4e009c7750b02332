/**
 * Many watched services over few agent connections. Consul allows `http_max_conns_per_client` = 200
 * connections per client IP by default and answers 429 past that (the emulator does the same), and
 * every process on a host shares 127.0.0.1: one blocking query per service cannot scale. The mesh
 * keeps ONE blocking query (the change feed) plus at most `readConcurrency` reads, whatever the
 * number of services. Figures (connections for 1, 100 and 1,000 services; change to routing at
 * 1,000) are printed for docs/discovery.md.
 *
 * Emulator only: the connection counts and the 429 lever are the emulator's.
 */
import { Agent, request } from 'node:http';
import { MeshClient } from 'mesh-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { REAL, unique, until } from './support/consul-target.js';

/** Register `count` services of one instance each, `concurrency` PUTs at a time. */
async function populate(em: ConsulEmulator, names: string[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    await Promise.all(
      names.map(
        (name, i) =>
          new Promise<void>((resolve, reject) => {
            const body = JSON.stringify({
              Name: name,
              ID: `${name}-1`,
              Address: '127.0.0.1',
              Port: 20_000 + (i % 40_000),
              Check: { TTL: '600s', Status: 'passing' },
            });
            const req = request({
              host: '127.0.0.1',
              port: em.port,
              method: 'PUT',
              path: '/v1/agent/service/register',
              agent,
            });
            req.on('response', (res) => {
              res.resume();
              res.on('end', () =>
                res.statusCode === 200 ? resolve() : reject(new Error(`register: ${res.statusCode}`)),
              );
            });
            req.on('error', reject);
            req.end(body);
          }),
      ),
    );
  } finally {
    agent.destroy();
  }
  await until(() => em.connections === 0, 'the registration sockets to close');
}

/** A MeshClient watching `names` from construction; resolves once every one has its instance. */
async function watching(em: ConsulEmulator, names: string[]): Promise<MeshClient> {
  const pending = new Set(names);
  const mesh = new MeshClient({
    discovery: { consul: { host: '127.0.0.1', port: em.port, services: names, initialTimeout: 60_000 } },
  });
  onTestFinished(() => mesh.close());
  await new Promise<void>((resolve) => {
    mesh.on('endpoints', (e) => {
      if (e.endpoints.length === 1 && pending.delete(e.service) && pending.size === 0) resolve();
    });
  });
  return mesh;
}

describe.skipIf(!!REAL)('Consul discovery at scale (emulator)', () => {
  it('the emulator enforces the per-IP connection limit with 429, as Consul does', async () => {
    const em = await ConsulEmulator.start({ maxConnsPerClient: 20 });
    onTestFinished(() => em.close());
    const agent = new Agent({ keepAlive: true });
    onTestFinished(() => agent.destroy());
    // The old design: one blocking query per service, 25 services.
    const results = await Promise.all(
      Array.from(
        { length: 25 },
        (_, i) =>
          new Promise<string>((resolve) => {
            const req = request({
              host: '127.0.0.1',
              port: em.port,
              path: `/v1/health/service/s${i}?index=1000000&wait=300ms`,
              agent,
            });
            req.on('response', (res) => {
              res.resume();
              resolve(String(res.statusCode));
            });
            req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
            req.end();
          }),
      ),
    );
    expect(em.refusedConnections).toBe(5);
    expect(results.filter((r) => r === '200')).toHaveLength(20);
    expect(results.filter((r) => r !== '200')).toHaveLength(5);
  });

  it('1, 100 and 1,000 watched services: at most readConcurrency + 1 agent connections', {
    timeout: 120_000,
  }, async () => {
    const figures: string[] = [];
    for (const count of [1, 100, 1_000]) {
      // Consul's default limit: the old design would have been refused past 200 services.
      const em = await ConsulEmulator.start();
      onTestFinished(() => em.close());
      const names = Array.from({ length: count }, () => unique('svc'));
      await populate(em, names);
      em.resetPeak();
      const started = performance.now();
      const mesh = await watching(em, names);
      const ready = performance.now() - started;
      const peak = em.peakConnections;
      const blocking = em.blockingQueries;
      figures.push(
        `${count} services: peak ${peak} agent connections, ${blocking} blocking query, all known in ${ready.toFixed(0)} ms`,
      );
      expect(peak).toBeLessThanOrEqual(5);
      expect(em.refusedConnections).toBe(0);
      await mesh.close();
    }
    console.log(figures.join('\n'));
  });

  it('readConcurrency bounds the reads: 1 means at most one read beside the change feed', async () => {
    const em = await ConsulEmulator.start();
    onTestFinished(() => em.close());
    const names = Array.from({ length: 50 }, () => unique('one'));
    await populate(em, names);
    em.resetPeak();
    const pending = new Set(names);
    const mesh = new MeshClient({
      discovery: { consul: { host: '127.0.0.1', port: em.port, services: names, readConcurrency: 1 } },
    });
    onTestFinished(() => mesh.close());
    await new Promise<void>((resolve) =>
      mesh.on('endpoints', (e) => {
        if (e.endpoints.length === 1 && pending.delete(e.service) && pending.size === 0) resolve();
      }),
    );
    expect(em.peakConnections).toBeLessThanOrEqual(2);
  });

  it('1,000 watched services: a health change reaches routing promptly, and only that service is read', {
    timeout: 120_000,
  }, async () => {
    const em = await ConsulEmulator.start();
    onTestFinished(() => em.close());
    const names = Array.from({ length: 1_000 }, () => unique('svc'));
    await populate(em, names);
    const mesh = await watching(em, names);
    await until(() => em.blockingQueries === 1, 'the change feed to block');
    const times: number[] = [];
    for (const i of [17, 333, 512, 777, 999]) {
      const name = names[i]!;
      const reads = () => em.requests.filter((r) => r.path.startsWith('/v1/health/service/')).length;
      const before = reads();
      const removed = new Promise<number>((resolve) =>
        mesh.on('endpoints', (e) => {
          if (e.service === name && e.endpoints.length === 0) resolve(performance.now());
        }),
      );
      const start = performance.now();
      em.setHealth(`${name}-1`, 'critical', 'down');
      times.push((await removed) - start);
      expect(reads() - before).toBe(1);
      expect(mesh.endpoints(name)).toEqual([]);
    }
    console.log(
      `1,000 services: check critical -> endpoints event ${times.map((t) => t.toFixed(1)).join(', ')} ms ` +
        '(one after another: the first two within the burst, then paced by minWakeupInterval 250 ms)',
    );
    expect(Math.max(...times)).toBeLessThan(2_000);
  });
});
