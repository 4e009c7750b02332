/**
 * A proxy's life outside the steady state the overhead runs measure: how long it takes from
 * spawn to its first proxied request, how much it serves in its first second against what it
 * serves once warm, and its resident memory at each stage (idle, warmed up, after the overhead
 * runs). The figures are taken the same way for mesh-sidecar, the floor (node-proxy) and HAProxy.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { freePort, haproxyConfig, spawnHAProxy } from '../../testkit/haproxy.js';
import type { Policy } from '../scenarios/scenarios.js';
import { haproxyFor } from '../scenarios/scenarios.js';
import { floorCommand, sidecarCommand } from './build.js';
import type { Fleet } from './fleet.js';
import { type ApproachResult, runPlan } from './orchestrate.js';
import { DriverProcess, track, treeUsage, untrack } from './processes.js';
import type { ProgressLine } from './progress.js';
import { APPROACH_LABELS, type RequestTemplate } from './protocol.js';
import { type ProxyHandle, type ProxyKind, startProxy } from './proxies.js';

/** Start-up and warm-up of one proxy. */
export interface StartupFigure {
  approach: ProxyKind;
  label: string;
  /**
   * Spawn to the process saying it listens, ms, as read from its stdout (so it may come a little
   * after the first proxied request). Undefined for HAProxy, which says nothing.
   */
  listeningMs: number | undefined;
  /** Spawn to the first request answered 2xx through the proxy, ms. */
  readyMs: number;
  /** Requests the poll sent until one got through. */
  pollAttempts: number;
  /** Closed-loop concurrency of the load that starts at the first proxied request. */
  concurrency: number;
  /** Requests answered 2xx in each second of that load, from its start. */
  perSecond: number[];
  /** `perSecond[0]`. */
  firstSecond: number;
  /** Mean of `perSecond` over the steady seconds. */
  steadyRps: number;
  /** The seconds (1-based, inclusive) averaged as the steady state. */
  steadySeconds: [number, number];
  /** firstSecond / steadyRps. */
  firstVsSteady: number;
  /** Resident memory right after the first proxied request, MB. */
  rssReadyMb: number | undefined;
}

/** Resident memory of a long-lived proxy at each stage of the overhead part, MB. */
export interface MemoryFigure {
  approach: ProxyKind;
  label: string;
  /** Right after start, before any traffic. */
  idleMb: number | undefined;
  /** After the proxy warm-up traffic. */
  warmMb: number | undefined;
  /** After every overhead run. */
  endMb: number | undefined;
  /** The highest reading taken during the overhead runs' measured windows. */
  peakMb: number | undefined;
}

/** Resident memory of a proxy (and its workers) now, MB; undefined when it cannot be read. */
export async function rssMb(proxy: ProxyHandle): Promise<number | undefined> {
  try {
    return (await proxy.usage()).rssBytes / 1024 / 1024;
  } catch {
    return undefined;
  }
}

/**
 * The last two readings of each {@link MemoryFigure}: RSS now (after every overhead run) and the
 * peak the runs recorded through `proxies`.
 */
export async function closeMemory(
  memory: MemoryFigure[],
  proxies: Partial<Record<string, ProxyHandle>>,
  runs: ReadonlyArray<{ result: ApproachResult }>,
): Promise<void> {
  for (const figure of memory) {
    const proxy = proxies[figure.approach];
    figure.endMb = proxy ? await rssMb(proxy) : undefined;
    const peaks = runs
      .filter((r) => r.result.approach === figure.approach && r.result.sidecarRssMb !== undefined)
      .map((r) => r.result.sidecarRssMb!);
    figure.peakMb = peaks.length ? Math.max(...peaks) : undefined;
  }
}

/**
 * Send `GET path` with `Host: service` to 127.0.0.1:`port` until one is answered 2xx, a new
 * connection each time; resolves with the time it got through. `stopped()` true (the process
 * failed to start) or the deadline ends it. Between two failed tries it yields 1 ms, which is
 * the figure's resolution: a tighter loop would take the CPU the starting process needs.
 */
async function firstProxied(
  port: number,
  service: string,
  path: string,
  stopped: () => boolean,
): Promise<{ at: number; attempts: number }> {
  const deadline = performance.now() + 30_000;
  // Bounded by the deadline and by the attempt count.
  for (let attempts = 1; attempts <= 100_000; attempts++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port, path, headers: { host: service }, agent: false, timeout: 2_000 },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode < 300));
          res.on('error', () => resolve(false));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
    const at = performance.now();
    if (ok) return { at, attempts };
    if (stopped() || at > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`no request got through the proxy on port ${port}`);
}

/** HAProxy on a known port (so the poll can start with the spawn), as a {@link ProxyHandle}. */
async function startHAProxyOn(port: number, service: string, urls: string[], policy: Policy) {
  const child: ChildProcess = await spawnHAProxy(
    haproxyConfig(port, { [service]: urls }, haproxyFor(policy)),
    port,
  );
  track(child.pid);
  const pid = child.pid!;
  const handle: ProxyHandle = {
    kind: 'haproxy',
    url: `http://127.0.0.1:${port}`,
    pid,
    usage: () => treeUsage(pid),
    retries: async () => undefined,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      untrack(pid);
    },
  };
  return handle;
}

export interface StartupOptions {
  service: string;
  fleet: Fleet;
  policy: Policy;
  requests: RequestTemplate[];
  concurrency: number;
  /** Seconds of load after the first proxied request. */
  seconds: number;
  line?: ProgressLine;
}

/**
 * Spawn `kind` cold and time it to its first proxied request, then drive it at once with a
 * closed loop (from a load driver loaded beforehand, so its own start-up is not counted) and
 * count what it answers in each second.
 */
export async function measureStartup(kind: ProxyKind, o: StartupOptions): Promise<StartupFigure> {
  // Built before the clock starts: a build is not the proxy's start-up.
  if (kind === 'mesh-sidecar') sidecarCommand();
  if (kind === 'node-proxy') floorCommand();
  const driver = DriverProcess.spawn();
  let starting: Promise<ProxyHandle> | undefined;
  try {
    await driver.ready();
    const port = await freePort();
    const path = o.requests.find((r) => r.method === 'GET')?.path.replaceAll(/\{(i|rand)\}/g, '1') ?? '/';
    let failed = false;
    const spawnedAt = performance.now();
    starting =
      kind === 'haproxy'
        ? startHAProxyOn(port, o.service, o.fleet.urls, o.policy)
        : startProxy(kind, o.service, o.fleet.urls, o.policy.options, haproxyFor(o.policy), undefined, {
            listen: `127.0.0.1:${port}`,
          });
    const listening = starting.then(
      (p) => ({ p, at: performance.now() }),
      (err: unknown) => {
        failed = true;
        throw err;
      },
    );
    const [ready, started] = await Promise.all([
      firstProxied(port, o.service, path, () => failed),
      listening,
    ]);
    const proxy = started.p;
    const rssReady = await rssMb(proxy);
    const result = await runPlan({
      label: `${APPROACH_LABELS[kind]} (cold)`,
      spec: {
        approach: kind,
        service: o.service,
        urls: o.fleet.urls,
        sidecarUrl: proxy.url,
        policy: o.policy.options,
        timeoutMs: o.policy.timeoutMs,
        concurrency: o.concurrency,
        warmupMs: 0,
        durationMs: o.seconds * 1000,
        bucketMs: 1000,
        progressMs: 200,
        requests: o.requests,
        maxRequests: 20_000_000,
      },
      fleet: o.fleet,
      proxy,
      driver,
      onProgress: (p) => o.line?.update(p),
    });
    const perSecond = Array.from({ length: o.seconds }, (_, i) => result.timeline[i]?.ok ?? 0);
    const from = Math.floor(o.seconds / 2) + 1;
    const steady = perSecond.slice(from - 1);
    const steadyRps = steady.reduce((a, b) => a + b, 0) / steady.length;
    const figure: StartupFigure = {
      approach: kind,
      label: APPROACH_LABELS[kind],
      listeningMs: kind === 'haproxy' ? undefined : started.at - spawnedAt,
      readyMs: ready.at - spawnedAt,
      pollAttempts: ready.attempts,
      concurrency: o.concurrency,
      perSecond,
      firstSecond: perSecond[0] ?? 0,
      steadyRps,
      steadySeconds: [from, o.seconds],
      firstVsSteady: steadyRps > 0 ? (perSecond[0] ?? 0) / steadyRps : Number.NaN,
      rssReadyMb: rssReady,
    };
    o.line?.done(
      `first proxied request ${figure.readyMs.toFixed(0)} ms after spawn; second 1: ${figure.firstSecond} req, steady ${figure.steadyRps.toFixed(0)}/s`,
    );
    return figure;
  } catch (err) {
    o.line?.fail((err as Error).message);
    throw err;
  } finally {
    await driver.stop().catch(() => undefined);
    // Also when the poll gave up first: the proxy may still come up, and must not be left.
    await starting?.then((p) => p.stop()).catch(() => undefined);
  }
}
