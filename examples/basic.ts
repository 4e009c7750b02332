/**
 * mesh-client in one file: three instances of a "users" service on loopback, one of which is
 * broken, called through the fat client. Run: npx tsx examples/basic.ts
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
  loadBalancer: 'peak-ewma',
  retry: { attempts: 3 },
  circuitBreaker: { volumeThreshold: 5 },
  timeout: { total: 2_000, perTry: 500 },
});

let retries = 0;
mesh.on('retry', () => retries++);
mesh.on('circuit-open', (e) => console.log(`circuit opened for ${e.endpoint}`));

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
    latencyMs: e.latencyMs?.toFixed(2) ?? '-',
  })),
);

await mesh.close();
for (const i of instances) i.server.close();
