/**
 * mesh-client in one file: three instances of a "users" service on loopback, one of which is
 * broken (it answers 503), called through the fat client. Every request still succeeds: a
 * request the broken instance fails is retried on another instance, and after a few failures its
 * circuit breaker takes it out of rotation. Round-robin gives every instance its turn, so both
 * show; the default balancer (peak-ewma) would shun the broken one after its first failure.
 * Run: npx tsx examples/basic.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshClient } from 'mesh-client';

function startInstance(name: string, status: number): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ instance: name, path: req.url }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

const instances = await Promise.all([
  startInstance('a', 200),
  startInstance('b', 200),
  startInstance('broken', 503),
]);

const mesh = new MeshClient({
  discovery: { static: { users: instances.map((i) => i.url) } },
  loadBalancer: 'round-robin',
  retry: { attempts: 3 },
  circuitBreaker: { volumeThreshold: 5 },
  timeout: { total: 2_000, perTry: 500 },
});

let retries = 0;
mesh.on('retry', (e) => {
  retries++;
  console.log(`attempt ${e.attempt} failed at ${e.endpoint} (${e.reason}): retrying on another instance`);
});
mesh.on('circuit-open', (e) => console.log(`circuit opened for ${e.endpoint}: out of rotation`));

const users = mesh.service('users');
const served: Record<string, number> = {};
for (let i = 0; i < 200; i++) {
  const res = await users.get<{ instance: string }>(`/users/${i}`);
  served[res.data.instance] = (served[res.data.instance] ?? 0) + 1;
}

console.log('200 requests, all succeeded; served by:', served, `retries: ${retries}`);
console.table(
  mesh.endpoints('users').map((e) => ({
    url: e.url,
    state: e.state,
    requests: e.requests,
    failures: e.failures,
  })),
);

await mesh.close();
for (const i of instances) i.server.close();
