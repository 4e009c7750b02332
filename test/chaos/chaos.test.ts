/**
 * Chaos under load, in both positions over the same fleet and policy: the fat client
 * (`MeshClient`, direct) and mesh-sidecar (driven by a `MeshClient` in sidecar mode). Each
 * scenario (test/chaos/scenarios.ts) breaks the fleet, the registry or the sidecar at fixed
 * points of a closed-loop load of GETs and POSTs, and asserts:
 *
 * - no GET failed (at least one endpoint stayed healthy throughout);
 * - no POST reached a server twice (counted at the servers, by request id);
 * - no request outlived its deadline (plus slack for a loaded machine).
 *
 * The suite prints one table of the results per run.
 */
import { MeshClient } from 'mesh-client';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../hostile/wire.js';
import { fleet, load } from './fleet.js';
import {
  CONCURRENCY,
  consulWith,
  DEADLINE_BOUND_MS,
  discoveryOf,
  POLICY,
  RestartableSidecar,
  row,
  SCENARIOS,
  sender,
  TABLE_HEAD,
  TOTAL,
} from './scenarios.js';

const rows: string[] = [];
afterAll(() => {
  console.log(
    `\nchaos under load (${TOTAL} requests each, concurrency ${CONCURRENCY}, one POST in 5):\n${[...TABLE_HEAD, ...rows].join('\n')}\n`,
  );
});

describe.each(['fat client', 'mesh-sidecar'] as const)('chaos: %s', (position) => {
  for (const scenario of SCENARIOS) {
    if (scenario.sidecarOnly && position === 'fat client') continue;
    it(scenario.name, { timeout: 120_000 }, async () => {
      const { servers, ledger } = await fleet(3);
      const consul = scenario.consul ? await consulWith(servers) : undefined;
      const discovery = discoveryOf(servers, consul);
      const closers: Array<{ close(): Promise<void> }> = [...servers, ...(consul ? [consul] : [])];
      let fallbacks = 0;
      try {
        let mesh: MeshClient;
        let restartable: RestartableSidecar | undefined;
        if (position === 'fat client') {
          mesh = new MeshClient({ discovery: discovery as never, ...POLICY });
        } else {
          const port = await freePort();
          restartable = new RestartableSidecar({
            discovery,
            ...POLICY,
            listen: `127.0.0.1:${port}`,
            admin: '127.0.0.1:0',
          });
          await restartable.start();
          closers.push(restartable);
          // The client hands each request to the sidecar; only while the sidecar is down (the
          // restart scenario) does it deliver directly, with the same fleet and policy.
          mesh = new MeshClient({
            mode: 'sidecar',
            sidecar: {
              url: `http://127.0.0.1:${port}`,
              fallback: scenario.sidecarOnly ? 'direct' : 'none',
              probeInterval: 200,
            },
            discovery: discovery as never,
            ...POLICY,
            timeout: { total: POLICY.timeout.total + 500, perTry: false },
          });
          mesh.on('sidecar-fallback', () => fallbacks++);
        }
        closers.unshift(mesh);
        const faults = scenario.faults({
          servers,
          consul,
          restartSidecar: restartable,
        });
        const result = await load(sender(mesh), {
          total: TOTAL,
          concurrency: CONCURRENCY,
          postEvery: 5,
          faults,
        });
        const duplicates = ledger.duplicates();
        rows.push(
          row(
            position,
            scenario.name,
            result,
            duplicates.length,
            fallbacks ? `${fallbacks} delivered directly` : '',
          ),
        );
        expect(result.getErrors).toEqual([]);
        expect(duplicates).toEqual([]);
        expect(result.maxMs).toBeLessThan(DEADLINE_BOUND_MS + (position === 'mesh-sidecar' ? 500 : 0));
        expect(result.gets.ok + result.gets.failed + result.posts.ok + result.posts.failed).toBe(TOTAL);
      } finally {
        for (const c of closers) await c.close();
      }
    });
  }
});
