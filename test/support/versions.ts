/**
 * A service `svc` with one upstream tagged `version: v1` and one tagged `v2`, for routing tests,
 * and a way to ask which of them answered, through a client or through a sidecar.
 */
import type { MeshClient } from '../../src/client/client.js';
import type { Sidecar } from '../../src/sidecar/sidecar.js';
import type { Closable } from '../../testkit/lifecycle.js';
import { Upstream } from '../../testkit/upstream.js';
import { raw } from './sidecar.js';

/** The two upstreams (closed with `open`) and static discovery listing them with their version. */
export async function versionFleet(open: Closable[]) {
  const v1 = await Upstream.start('v1');
  const v2 = await Upstream.start('v2');
  open.push(v1, v2);
  const discovery = {
    static: {
      svc: [
        { url: v1.url, meta: { version: 'v1' } },
        { url: v2.url, meta: { version: 'v2' } },
      ],
    },
  };
  return { v1, v2, discovery };
}

/** The name of the upstream that answers one request to `svc` through `via`. */
export function whoAnswers(via: MeshClient | Sidecar): () => Promise<string> {
  if ('request' in via) {
    return async () => (await via.request<{ upstream: string }>({ service: 'svc', url: '/' })).data.upstream;
  }
  return async () =>
    (JSON.parse((await raw(via.address, '/', { headers: { host: 'svc' } })).body) as { upstream: string })
      .upstream;
}
