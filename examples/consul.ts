/**
 * mesh-client with Consul: this process serves HTTP, registers itself in Consul with a TTL check (the
 * library heart-beats it), calls a service through the mesh, and on SIGTERM or SIGINT shuts down
 * gracefully: deregister, let clients notice, drain the HTTP server, close the mesh, exit 0.
 *
 * Against a local agent (`consul agent -dev`):
 *   npx tsx examples/consul.ts                                      # registers "hello", calls itself
 *   SERVICE=users npx tsx examples/consul.ts &
 *   SERVICE=orders CALL=users npx tsx examples/consul.ts            # orders calls users via Consul
 *
 * It needs a Consul agent; without one it says so, and how to start one, and exits 1. A local agent:
 * `consul agent -dev` (the consul binary: https://developer.hashicorp.com/consul/install), or in
 * Docker: `docker run --rm -p 8500:8500 hashicorp/consul agent -dev -client 0.0.0.0`.
 *
 * Environment: CONSUL_HTTP_ADDR (default 127.0.0.1:8500) and CONSUL_HTTP_TOKEN, read by the mesh as
 * the consul CLI reads them; SERVICE (default `hello`); CALL, the service to call (default: SERVICE
 * itself); PORT (default: any free port); DRAIN_GRACE_MS, how long to keep serving after deregistering
 * (default 1000); EXAMPLE_EXIT_AFTER_CALL=1 to shut down by itself after the first call (for CI).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMeshError, MeshClient, type Registration } from 'mesh-client';

const service = process.env.SERVICE ?? 'hello';
const target = process.env.CALL ?? service;
const graceMs = Number(process.env.DRAIN_GRACE_MS ?? 1_000);
const log = (message: string) => console.log(`[${service} ${process.pid}] ${message}`);

// Consul's address and token come from CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN; the service we call is
// watched from the start, so its endpoints are known before the first request.
const mesh = new MeshClient({
  discovery: { consul: { services: [target] } },
  timeout: { total: 5_000, perTry: 2_000 },
});
mesh.on('endpoints', (e) => log(`${e.service}: ${e.endpoints.map((ep) => ep.url).join(', ') || 'none'}`));
let registered = false;
// Before registration succeeds, "no agent" is said once, below; after it, trouble is worth a line each.
mesh.on('discovery-error', (e) => registered && log(`consul trouble (${e.service}): ${e.error.message}`));

const server = http.createServer((req, res) => {
  if (req.url === '/call') {
    // A request that itself calls through the mesh: the case graceful shutdown must not cut short.
    mesh
      .service(target)
      .get('/')
      .then(
        (reply) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.data)),
        (error: Error) => res.writeHead(502).end(error.message),
      );
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ service, pid: process.pid, path: req.url }));
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

// Register only once we can serve: the TTL check starts passing and is heart-beaten every ttl / 3.
// If this process dies without deregistering, the check goes critical after 10 s (no more traffic)
// and the agent removes the instance a minute later.
let registration: Registration;
try {
  registration = await mesh.register({
    name: service,
    address: '127.0.0.1',
    port,
    meta: { version: '1' },
    check: { ttl: 10_000, deregisterCriticalServiceAfter: 60_000 },
  });
} catch (error) {
  // No agent (or one that refuses us): say what this needs, release everything, exit 1.
  const agent = process.env.CONSUL_HTTP_ADDR || '127.0.0.1:8500';
  const why = isMeshError(error) ? error.message : String(error);
  console.error(
    [
      `examples/consul.ts needs a Consul agent at ${agent} (CONSUL_HTTP_ADDR), and registering with it failed:`,
      `  ${why}`,
      'Start a local agent and run this again:',
      '  consul agent -dev          (the consul binary: https://developer.hashicorp.com/consul/install)',
      '  docker run --rm -p 8500:8500 hashicorp/consul agent -dev -client 0.0.0.0',
      'or point CONSUL_HTTP_ADDR (and CONSUL_HTTP_TOKEN, with ACLs) at the agent you have.',
    ].join('\n'),
  );
  server.close();
  await mesh.close().catch(() => undefined);
  process.exit(1);
}
registered = true;
log(`listening on http://127.0.0.1:${port}, registered in Consul as ${registration.id}`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Should a step hang anyway, do not linger forever.
  setTimeout(() => process.exit(1), 15_000).unref();
  log(`${signal}: deregistering`);
  // 1. Leave Consul first, so clients stop choosing this instance...
  await registration.deregister().catch((error: Error) => log(`deregistration failed: ${error.message}`));
  // 2. ...keep serving while their watches hear of it (milliseconds; up to ~1 s under churn)...
  await new Promise((resolve) => setTimeout(resolve, graceMs));
  // 3. ...then drain: refuse new connections, finish requests in flight, drop idle keep-alive sockets.
  log('draining');
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  // 4. Last, the mesh: watches, heart-beats and pooled sockets (requests above may have used it).
  await mesh.close().catch((error: Error) => log(`mesh close: ${error.message}`));
  log('bye');
  // Nothing is left open, so the process ends by itself, with status 0.
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

// Call `target` through the mesh once it has an endpoint (it may be this very process, just registered).
if (mesh.endpoints(target).length === 0) {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    mesh.on('endpoints', (e) => {
      if (e.service === target && e.endpoints.length > 0) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
try {
  const reply = await mesh.service(target).get('/hello');
  log(`called ${target}: ${JSON.stringify(reply.data)}`);
} catch (error) {
  log(`calling ${target} failed: ${(error as Error).message}`);
}

if (process.env.EXAMPLE_EXIT_AFTER_CALL === '1') await shutdown('EXAMPLE_EXIT_AFTER_CALL');
else log('running; stop with SIGTERM or Ctrl-C');
