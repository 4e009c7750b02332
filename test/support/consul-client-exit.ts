/**
 * Run as a child process by test/consul-client.test.ts (`node --import tsx`, argv: service name and
 * mode): a MeshClient with Consul discovery watches the service from construction, registers a
 * loopback server under it with a TTL check, routes requests to itself, closes, and must then exit by
 * itself. Prints the successful request count, the registration's ID, close()'s error code (if any)
 * and the active resources left after close().
 *
 * - `reachable`: configured only through `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`, as an operator
 *   would; the agent is the parent's (emulator or real) and close() deregisters there.
 * - `unreachable`: against an emulator of its own, stopped before close(): deregistration fails, and
 *   everything must be released all the same.
 */
import { isMeshError, MeshClient } from 'mesh-client';
import { ConsulEmulator } from '../../testkit/consul-emulator.js';
import { Upstream } from '../../testkit/upstream.js';

const [name, mode = 'reachable'] = process.argv.slice(2);
if (!name || (mode !== 'reachable' && mode !== 'unreachable')) {
  throw new Error('usage: consul-client-exit.ts <service name> [reachable|unreachable]');
}
const own = mode === 'unreachable' ? await ConsulEmulator.start() : undefined;
const up = await Upstream.start('self');
const mesh = new MeshClient({
  // Reachable: everything else (host, port, token) comes from the environment.
  discovery: {
    consul: { services: [name], wait: 60_000, ...(own && { host: '127.0.0.1', port: own.port }) },
  },
});
const seen = new Promise<void>((resolve) =>
  mesh.on('endpoints', (e) => {
    if (e.service === name && e.endpoints.length === 1) resolve();
  }),
);
const registration = await mesh.register({
  name,
  address: '127.0.0.1',
  port: Number(new URL(up.url).port),
  check: { ttl: 300 },
});
await seen;
let ok = 0;
for (let i = 0; i < 20; i++) {
  const res = await mesh.request({ service: name, url: '/' });
  if (res.status === 200) ok++;
}
await own?.stop();
const closeError = await mesh.close().then(
  () => null,
  (error: unknown) => (isMeshError(error) ? error.code : String(error)),
);
await up.close();
await own?.close();
// Sockets destroyed by close() finish closing on the next turns of the event loop.
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
console.log(JSON.stringify({ ok, id: registration.id, closeError, resources }));
