/**
 * mesh-client with HAProxy as its sidecar: a proxy it did not write, routing by Host.
 * Needs `haproxy` on PATH (Debian: apt-get install haproxy).
 *
 *   npx tsx examples/haproxy.ts
 *
 * The client runs in sidecar mode with fallback 'direct': when HAProxy is stopped, requests
 * are delivered in-process from the same static endpoint list, and a `sidecar-fallback`
 * event says so.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MeshClient } from 'mesh-client';

const ports = [18081, 18082];
const servers = ports.map((port, i) =>
  http
    .createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ instance: `users-${i + 1}`, path: req.url, via: req.headers.via ?? 'direct' }),
      );
    })
    .listen(port, '127.0.0.1'),
);

const config = fileURLToPath(new URL('./haproxy.cfg', import.meta.url));
const haproxy = spawn('haproxy', ['-db', '-f', config], { stdio: 'inherit' });
haproxy.on('error', (err) => {
  console.error(`cannot start haproxy (${err.message}); install it to run this example`);
  process.exit(1);
});

const mesh = new MeshClient({
  discovery: { static: { users: ports.map((p) => `http://127.0.0.1:${p}`) } },
  mode: 'sidecar',
  sidecar: { url: 'http://127.0.0.1:15101', fallback: 'direct' },
});
mesh.on('sidecar-fallback', (e) => console.log(`sidecar unreachable (${e.reason}): delivered ${e.action}`));

// HAProxy prints nothing when it is ready: wait until its port accepts connections.
for (let tries = 0; !(await accepts(15101)); tries++) {
  if (tries > 100) throw new Error('haproxy did not start listening');
  await new Promise((r) => setTimeout(r, 50));
}

for (let i = 0; i < 4; i++) {
  const res = await mesh.service('users').get(`/users/${i}`);
  console.log('through HAProxy:', res.data);
}

haproxy.kill('SIGTERM');
await new Promise((r) => haproxy.once('exit', r));
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
