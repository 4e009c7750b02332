/**
 * The mesh's own decision cost per request: the whole pipeline a service gets (deadline,
 * discovery, retry with its budget, balance, breaker, per-try timeout), built as MeshClient and
 * mesh-sidecar build it, over a transport that answers at once, against that transport called
 * alone. The difference is the mesh's work. Every policy at 10, 1,000 and 10,000 endpoints;
 * `npm run bench` reports the figures.
 */
import { afterAll, bench, describe } from 'vitest';
import { BALANCER_POLICIES } from '../balance/options.js';
import { type Handler, newCall, type Reply } from '../core/call.js';
import { endpointInfos } from '../core/test-helpers.js';
import { SidecarPosition } from '../sidecar/position.js';
import { Mesh } from './mesh.js';
import { pipeline } from './pipeline.js';

const SIZES = [10, 1_000, 10_000];
/** `npm run bench -- --quick`: shorter runs. */
const QUICK = process.env.MESH_BENCH_QUICK === '1';
const instant: Handler = async (): Promise<Reply> => ({ status: 200 });
const meshes: Array<{ close(): Promise<void> }> = [];
afterAll(() => Promise.all(meshes.map((m) => m.close())));

function request(mesh: Pick<Mesh, 'shutdown' | 'clock'>, i: number) {
  return newCall({
    service: 'svc',
    method: 'GET',
    path: '/users/1',
    hashKey: `user-${i & 511}`,
    idempotent: true,
    replayable: true,
    request: undefined,
    signal: mesh.shutdown,
    deadline: mesh.clock.now() + 15_000,
  });
}

describe('transport alone', () => {
  const mesh = new Mesh({}, new SidecarPosition());
  meshes.push(mesh);
  let i = 0;
  bench('instant transport', async () => {
    await instant(request(mesh, i++));
  });
});

for (const policy of BALANCER_POLICIES) {
  describe(`decision ${policy}`, () => {
    for (const size of SIZES) {
      const mesh = new Mesh(
        { discovery: { static: { svc: endpointInfos(size) } }, loadBalancer: policy },
        new SidecarPosition(),
      );
      meshes.push(mesh);
      const handler = pipeline(mesh.service('svc'), instant);
      let i = 0;
      bench(
        `${size} endpoints`,
        async () => {
          const reply = await handler(request(mesh, i++));
          if (reply.status !== 200) throw new Error(`status ${reply.status}`);
        },
        {
          time: QUICK ? 150 : 500,
          warmupTime: QUICK ? 50 : 200,
          warmupIterations: Math.min(size * 3, 30_000),
        },
      );
    }
  });
}
