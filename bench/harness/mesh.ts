/**
 * The mesh as a demo approach: the client hands its requests to an outbound mesh-sidecar (its own
 * process), which dials one inbound mesh-sidecar per upstream (each its own process, in front of
 * its upstream as the app) with mutual TLS, checking each one's SPIFFE ID. Certificates are made
 * for the run (ECDSA P-256, one CA). The policy is the outbound sidecar's; the inbound sidecars
 * only terminate mutual TLS and forward, so a failing upstream is seen, retried and ejected by the
 * outbound one exactly as mesh-sidecar sees its upstreams directly.
 */
import { consulId, TestCa } from '../../testkit/pki.js';
import { SidecarProcess, type TreeUsage, treeUsage } from './processes.js';
import type { ProxyHandle, StartOptions } from './proxies.js';

const TD = 'demo.consul';

/** Start the inbound sidecars in front of `urls` and the outbound one in front of them. */
export async function startMesh(
  service: string,
  urls: string[],
  policy: Record<string, unknown>,
  options: StartOptions = {},
): Promise<ProxyHandle> {
  const ca = await TestCa.root('demo root', TD);
  const [callee, caller] = await Promise.all([
    ca.leaf({ id: consulId(TD, service) }),
    ca.leaf({ id: consulId(TD, 'demo-client') }),
  ]);
  const started: SidecarProcess[] = [];
  const stopAll = () => Promise.all(started.map((s) => s.stop())).then(() => undefined);
  try {
    for (const url of urls) {
      started.push(
        await SidecarProcess.start({
          tls: { cert: callee.cert, key: callee.key, ca: ca.cert },
          inbound: { listen: '127.0.0.1:0', app: url, service },
        }),
      );
    }
    const endpoints = started.map((s) => ({
      url: `http://${new URL(s.inbound!).host}`,
      meta: { 'tls-mode': 'mtls' },
    }));
    const outbound = await SidecarProcess.start({
      ...policy,
      ...options.sidecarConfig,
      tls: { cert: caller.cert, key: caller.key, ca: ca.cert },
      discovery: { static: { [service]: endpoints } },
      ...(options.listen ? { listen: options.listen } : {}),
    });
    started.push(outbound);
    return {
      kind: 'mesh-mtls',
      url: outbound.url,
      pid: outbound.pid,
      // Every sidecar of the mesh: the cost of the approach is theirs together.
      async usage(): Promise<TreeUsage> {
        const all = await Promise.all(started.map((s) => treeUsage(s.pid!)));
        return all.reduce((sum, u) => ({
          cpuMs: sum.cpuMs + u.cpuMs,
          rssBytes: sum.rssBytes + u.rssBytes,
          processes: sum.processes + u.processes,
        }));
      },
      retries: () => outbound.retries(service),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
