/**
 * Run as a child process by the close() test: uses a MeshClient with every moving part
 * (breakers, retries, keep-alive sockets, a failing and a refused endpoint), closes it, and must
 * then exit by itself. Prints the request count and the active resources left after close().
 */
import { MeshClient } from 'mesh-client';
import { closedPortUrl, Upstream } from '../../testkit/upstream.js';

const ups = await Promise.all([Upstream.start('a'), Upstream.start('b', { kind: 'status', status: 503 })]);
const mesh = new MeshClient({
  discovery: { static: { svc: [...ups.map((u) => u.url), await closedPortUrl()] } },
  circuitBreaker: { volumeThreshold: 2, resetTimeout: 60_000 },
  timeout: { total: 5_000, perTry: 1_000 },
});
let ok = 0;
await Promise.all(
  Array.from({ length: 60 }, () =>
    mesh.request({ service: 'svc', url: '/' }).then(
      () => ok++,
      () => undefined,
    ),
  ),
);
await mesh.close();
await Promise.all(ups.map((u) => u.close()));
// Sockets destroyed by close() finish closing on the next turns of the event loop.
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
console.log(JSON.stringify({ ok, resources }));
