/**
 * Run as a child process by the mesh's close() test: an inbound sidecar whose certificate comes
 * from watched files (a watch and a poll timer) and whose authorization asks Consul's intentions,
 * and an outbound sidecar whose certificate comes from Consul's CA (two blocking queries), with
 * a fat client whose certificate comes from the watched files, with requests through all of
 * them; everything is closed, and the process must then exit by itself. Prints
 * the request count and the active resources left after close().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshClient } from 'mesh-client';
import { startSidecar } from 'mesh-client/sidecar';
import { ConsulEmulator } from '../../testkit/consul-emulator.js';
import { Upstream } from '../../testkit/upstream.js';
import { raw } from './sidecar.js';

const consul = await ConsulEmulator.start();
const agent = { host: '127.0.0.1', port: consul.port };
const root = await consul.connect.rootPem();
// The inbound's files: a leaf of the Connect CA is what Consul's CA would hand `users` too.
const leaf = (await (await fetch(`http://${consul.address}/v1/agent/connect/ca/leaf/users`)).json()) as {
  CertPEM: string;
  PrivateKeyPEM: string;
};
const dir = mkdtempSync(join(tmpdir(), 'mesh-exit-'));
writeFileSync(join(dir, 'tls.crt'), leaf.CertPEM);
writeFileSync(join(dir, 'tls.key'), leaf.PrivateKeyPEM);
writeFileSync(join(dir, 'ca.crt'), root);
consul.connect.setIntention('web', 'users', 'allow');

const app = await Upstream.start('app');
const inbound = await startSidecar({
  listen: '127.0.0.1:0',
  admin: '127.0.0.1:0',
  tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt'), pollInterval: 100 },
  inbound: { listen: '127.0.0.1:0', app: app.url, authorization: { consul: agent } },
});
const port = new URL(inbound.inboundAddress!).port;
const outbound = await startSidecar({
  listen: '127.0.0.1:0',
  admin: '127.0.0.1:0',
  tls: { consul: { service: 'web', ...agent } },
  discovery: { static: { users: [{ url: `http://127.0.0.1:${port}`, meta: { 'tls-mode': 'mtls' } }] } },
});
// A fat client joining the mesh directly, its certificate from the same watched files (as `web`
// is not what the files hold, the inbound's intention for `users` is set too).
consul.connect.setIntention('users', 'users', 'allow');
const fat = new MeshClient({
  tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt'), pollInterval: 100 },
  discovery: { static: { users: [{ url: `http://127.0.0.1:${port}`, meta: { 'tls-mode': 'mtls' } }] } },
});
let ok = 0;
for (let i = 0; i < 10; i++) {
  const res = await raw(outbound.address, '/x', { headers: { host: 'users' } });
  if (res.status === 200) ok++;
  if ((await fat.service('users').get('/x')).status === 200) ok++;
}
await fat.close();
await outbound.close();
await inbound.close();
await app.close();
await consul.close();
rmSync(dir, { recursive: true, force: true });
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
console.log(JSON.stringify({ ok, resources }));
