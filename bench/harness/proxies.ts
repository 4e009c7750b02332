/**
 * The proxies an approach may send through: mesh-sidecar (the CLI, its own process), the floor
 * (./node-proxy.ts, the least a Node proxy does, its own process) and HAProxy, all behind one
 * small interface, and a warm-up that sends traffic straight to a freshly started proxy so the
 * measured window does not catch a cold process (a new mesh-sidecar runs its first thousands of
 * requests through V8's baseline tiers).
 */
import { MeshClient } from 'mesh-client';
import {
  type HAProxy,
  type HAProxyOptions,
  NodeProxyProcess,
  SidecarProcess,
  startHAProxy,
  stopHAProxy,
  type TreeUsage,
  treeUsage,
} from './processes.js';
import type { ApproachKind, RequestTemplate } from './protocol.js';

/** The approaches that send through a proxy process. */
export type ProxyKind = 'mesh-sidecar' | 'node-proxy' | 'haproxy';

/** Whether `approach` sends through a proxy process (and so needs one started). */
export function isProxied(approach: ApproachKind): approach is ProxyKind {
  return approach === 'mesh-sidecar' || approach === 'node-proxy' || approach === 'haproxy';
}

/** A proxy process between the client and the fleet. */
export interface ProxyHandle {
  kind: ProxyKind;
  url: string;
  pid: number | undefined;
  /** CPU and RSS of the proxy and any worker processes it forked. */
  usage(): Promise<TreeUsage>;
  /** Cumulative retries the proxy made, when it reports them. */
  retries(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Where and how a proxy is started, beyond its policy. */
export interface StartOptions {
  /** Listen on this `host:port` instead of a free port (mesh-sidecar, node-proxy). */
  listen?: string;
  /** Extra keys for mesh-sidecar's config file (e.g. a worker count). */
  sidecarConfig?: Record<string, unknown>;
}

/** Start the proxy an approach needs, in front of `urls`. */
export async function startProxy(
  kind: ProxyKind,
  service: string,
  urls: string[],
  policy: Record<string, unknown>,
  haproxy: HAProxyOptions,
  discovery?: Record<string, unknown>,
  options: StartOptions = {},
): Promise<ProxyHandle> {
  const usageOf = (pid: number | undefined) => async () => {
    if (pid === undefined) throw new Error(`${kind} has no pid`);
    return treeUsage(pid);
  };
  if (kind === 'mesh-sidecar') {
    const sidecar = await SidecarProcess.start({
      discovery: discovery ?? { static: { [service]: urls } },
      ...policy,
      ...options.sidecarConfig,
      ...(options.listen ? { listen: options.listen } : {}),
    });
    return {
      kind,
      url: sidecar.url,
      pid: sidecar.pid,
      usage: usageOf(sidecar.pid),
      retries: () => sidecar.retries(service),
      stop: () => sidecar.stop(),
    };
  }
  if (kind === 'node-proxy') {
    // No policy and no discovery: the URLs as they are now, round-robin.
    const floor = await NodeProxyProcess.start({ [service]: urls }, options.listen);
    return {
      kind,
      url: floor.url,
      pid: floor.pid,
      usage: usageOf(floor.pid),
      // It never retries.
      retries: async () => 0,
      stop: () => floor.stop(),
    };
  }
  const proxy: HAProxy = await startHAProxy({ [service]: urls }, haproxy);
  return {
    kind,
    url: proxy.url,
    pid: proxy.pid,
    usage: usageOf(proxy.pid),
    // HAProxy counts a connection retry to another server as a redispatch only, and an L7 retry
    // (503, response timeout) as both a retry and a redispatch: the larger of the two is the count.
    retries: async () => {
      const c = await proxy.counters();
      return Math.max(c.retries, c.redispatches);
    },
    stop: () => stopHAProxy(proxy),
  };
}

/**
 * A closed loop of the mix's GETs for `ms`, sent the way the measured client sends them (a
 * MeshClient in `mode: 'sidecar'`: same headers, same code paths warmed in the proxy); errors are
 * ignored. Nothing happens without a GET in the mix.
 */
export async function warmProxy(
  proxy: ProxyHandle,
  service: string,
  requests: readonly RequestTemplate[],
  ms: number,
  concurrency: number,
): Promise<void> {
  const paths = requests
    .filter((r) => r.method.toUpperCase() === 'GET')
    .map((r) => r.path.replaceAll(/\{(i|rand)\}/g, '1'));
  if (ms <= 0 || paths.length === 0) return;
  const mesh = new MeshClient({
    mode: 'sidecar',
    sidecar: { url: proxy.url, fallback: 'none' },
    timeout: { total: 2_000, perTry: false },
    retry: false,
    circuitBreaker: false,
  });
  const instance = mesh.service(service);
  const end = performance.now() + ms;
  let n = 0;
  const worker = async () => {
    // Bounded by time and by a request cap.
    while (performance.now() < end && n < 1_000_000) {
      await instance.get(paths[n++ % paths.length]!).catch(() => undefined);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, 16)) }, worker));
  } finally {
    await mesh.close();
  }
}
