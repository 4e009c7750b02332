/**
 * The same mesh as a sidecar: mesh-sidecar in front of a small "users" fleet, reached three
 * ways: by a MeshClient in sidecar mode, by any HTTP client through HTTP_PROXY (absolute-form,
 * what `curl -x` sends), and by Host (what `curl -H 'Host: users'` sends).
 *
 *   npx tsx examples/sidecar.ts
 *
 * In production the sidecar is its own process: `mesh-sidecar --config mesh.json`, with the
 * same options object this file passes to `startSidecar`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { MeshClient } from 'mesh-client';
import { startSidecar } from 'mesh-client/sidecar';

function instance(name: string): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ instance: name, path: req.url, via: req.headers.via }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

const fleet = await Promise.all([instance('users-1'), instance('users-2')]);

// The sidecar's config is a MeshClient options object plus where to listen.
const sidecar = await startSidecar({
  discovery: { static: { users: fleet.map((i) => i.url) } },
  retry: { attempts: 3 },
  listen: '127.0.0.1:0',
  admin: '127.0.0.1:0',
});
console.log(`mesh-sidecar listening on ${sidecar.address}, admin on ${sidecar.adminAddress}`);

// 1. A Node service using mesh-client in sidecar mode: no discovery or retries of its own.
const mesh = new MeshClient({ mode: 'sidecar', sidecar: { url: sidecar.address, fallback: 'none' } });
const viaClient = await mesh.service('users').get('/users/1');
console.log('MeshClient (sidecar mode):', viaClient.data);

// 2. Any client with HTTP_PROXY set sends absolute-form requests: `curl -x <sidecar> http://users/...`.
const port = Number(new URL(sidecar.address).port);
const viaProxy = await axios.get('http://users/users/2', {
  proxy: { protocol: 'http', host: '127.0.0.1', port },
});
console.log('HTTP_PROXY-style client:', viaProxy.data);

// 3. Or the service named in Host: `curl -H 'Host: users' <sidecar>/users/3`.
const viaHost = await axios.get(`${sidecar.address}/users/3`, { headers: { host: 'users' } });
console.log('Host-routed client:', viaHost.data);

const stats = await axios.get(`${sidecar.adminAddress}/stats`);
console.log(
  'sidecar /stats for users:',
  JSON.stringify(stats.data.services.users, null, 2).slice(0, 400),
  '...',
);

await mesh.close();
await sidecar.drain();
for (const i of fleet) i.server.close();
