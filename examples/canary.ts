/**
 * A gray release, v1 -> v2, with the fat client: three instances of a "users" service on
 * loopback (two v1, one v2, told apart by their `version` metadata), a weighted split between
 * the two subsets, and `mesh.configure()` shifting the weights live: 0%, 5%, 50%, 100% to v2.
 * Each step sends a few hundred requests and prints the split it measured. Testers opt in to v2
 * at any step with the `x-canary: true` header. Walkthrough: docs/traffic.md.
 *
 * Run: npx tsx examples/canary.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshClient } from 'mesh-client';

function startInstance(version: string): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

const instances = await Promise.all([startInstance('v1'), startInstance('v1'), startInstance('v2')]);
const [v1a, v1b, v2] = instances;

/** The route for a step: `percent` of the requests to v2, the rest to v1. */
function canary(percent: number) {
  return {
    // Testers (and the smoke tests of the release) reach v2 whatever the weights.
    rules: [{ name: 'testers', match: { headers: { 'x-canary': 'true' } }, subset: { version: 'v2' } }],
    default: {
      split: [
        { subset: { version: 'v1' }, weight: 100 - percent },
        { subset: { version: 'v2' }, weight: percent },
      ],
    },
  };
}

const mesh = new MeshClient({
  discovery: {
    static: {
      users: [
        { url: v1a!.url, meta: { version: 'v1' } },
        { url: v1b!.url, meta: { version: 'v1' } },
        { url: v2!.url, meta: { version: 'v2' } },
      ],
    },
  },
  services: { users: { routing: canary(0) } },
});
mesh.on('route-fallback', (e) => console.log(`  fallback: ${e.subset} had no endpoint (${e.reason})`));

const users = mesh.service('users');

/** Send `n` requests, 20 at a time, and count the versions that answered. */
async function measure(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = { v1: 0, v2: 0 };
  for (let i = 0; i < n; i += 20) {
    const replies = await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, () => users.get<{ version: string }>('/users/42')),
    );
    for (const r of replies) counts[r.data.version] = (counts[r.data.version] ?? 0) + 1;
  }
  return counts;
}

const N = 1000;
for (const percent of [0, 5, 50, 100]) {
  // Applied from the next request on; requests in flight finish on the old route.
  mesh.configure({ services: { users: { routing: canary(percent) } } });
  const counts = await measure(N);
  const share = (((counts.v2 ?? 0) * 100) / N).toFixed(1);
  console.log(
    `v2 at ${String(percent).padStart(3)}%: measured ${share.padStart(5)}% to v2 (v1 ${counts.v1}, v2 ${counts.v2} of ${N})`,
  );
}

const tester = await users.get<{ version: string }>('/users/42', { headers: { 'x-canary': 'true' } });
console.log(`a tester with x-canary: true reaches ${tester.data.version}`);

await mesh.close();
for (const i of instances) i.server.close();
