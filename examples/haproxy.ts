/**
 * mesh-client with HAProxy as its sidecar: a proxy it did not write, routing by Host.
 * Needs `haproxy` on PATH (Debian: apt-get install haproxy).
 *
 *   npx tsx examples/haproxy.ts
 *
 * The client runs in sidecar mode with fallback 'direct': when HAProxy is stopped, requests
 * are delivered in-process from the same static endpoint list, and a `sidecar-fallback`
 * event says so. Every port is picked free at run time (haproxy.cfg reads them from the
 * environment), and HAProxy is stopped on every way out: the end, an error, Ctrl-C or SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MeshClient } from 'mesh-client';

let haproxy: ChildProcess | undefined;
// However this process ends, HAProxy must not outlive it.
process.on('exit', () => haproxy?.kill('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/** Listen on a free loopback port and say which. */
async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A free port for HAProxy (it cannot report one it picked itself). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const servers = [1, 2].map((n) =>
  http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ instance: `users-${n}`, path: req.url, via: req.headers.via ?? 'direct' }));
  }),
);
const ports = await Promise.all(servers.map(listen));
const proxyPort = await freePort();

const config = fileURLToPath(new URL('./haproxy.cfg', import.meta.url));
haproxy = spawn('haproxy', ['-db', '-f', config], {
  stdio: 'inherit',
  env: {
    ...process.env,
    MESH_PROXY_PORT: String(proxyPort),
    USERS_1_PORT: String(ports[0]),
    USERS_2_PORT: String(ports[1]),
  },
});
const exited = once(haproxy, 'exit');
haproxy.on('error', (err) => {
  console.error(
    `cannot start haproxy (${err.message}); install it to run this example (apt-get install haproxy)`,
  );
  process.exit(1);
});

const mesh = new MeshClient({
  discovery: { static: { users: ports.map((p) => `http://127.0.0.1:${p}`) } },
  mode: 'sidecar',
  sidecar: { url: `http://127.0.0.1:${proxyPort}`, fallback: 'direct' },
});
mesh.on('sidecar-fallback', (e) => console.log(`sidecar unreachable (${e.reason}): delivered ${e.action}`));

// HAProxy prints nothing when it is ready: wait (up to 5 s) until its port accepts connections.
for (let tries = 0; !(await accepts(proxyPort)); tries++) {
  if (tries > 100 || haproxy.exitCode !== null) throw new Error('haproxy did not start listening');
  await new Promise((r) => setTimeout(r, 50));
}

for (let i = 0; i < 4; i++) {
  const res = await mesh.service('users').get(`/users/${i}`);
  console.log('through HAProxy:', res.data);
}

haproxy.kill('SIGTERM');
await exited;
haproxy = undefined;
const res = await mesh.service('users').get('/users/after-haproxy-stopped');
console.log('after HAProxy stopped:', res.data);

await mesh.close();
for (const s of servers) s.close();

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
