/**
 * One measured run, from the orchestrator's side: start the fleet and the proxy an approach needs
 * (mesh-sidecar, the floor node-proxy or HAProxy, see ./proxies), or reuse shared ones; spawn a fresh load driver, play the scenario's events (an endpoint
 * turns slow, dies, the registry churns) at their times into the measured window, read the
 * sidecar's CPU and memory from the OS and the upstream request count from the fleet at the
 * window's edges, and put it all into one {@link ApproachResult}.
 */

import { haproxyFor, type Policy, type Scenario } from '../scenarios/scenarios.js';
import { Fleet } from './fleet.js';
import { DriverProcess } from './processes.js';
import type { ProgressLine } from './progress.js';
import {
  APPROACH_LABELS,
  type ApproachKind,
  type DriverResult,
  type FromDriver,
  type RequestTemplate,
  type RunSpec,
} from './protocol.js';
import { isProxied, type ProxyHandle, startProxy, warmProxy } from './proxies.js';
import { fmt } from './stats.js';

/** Something that happens to the fleet or the registry during the measured window. */
export interface ScenarioEvent {
  /** ms after the window opens. */
  atMs: number;
  label: string;
  run(ctx: EventContext): void | Promise<void>;
}

export interface EventContext {
  fleet: Fleet;
  /** Registry churn: the client's endpoint set becomes `urls` (fat client, bare clients). */
  setEndpoints(urls: string[]): void;
}

/** Progress of a run, for the progress display. */
export interface RunProgress {
  phase: 'start' | 'warmup' | 'measure' | 'drain';
  elapsedMs: number;
  durationMs: number;
  requests: number;
  ok: number;
  failed: number;
}

export interface RunPlan {
  /** Column name, e.g. `fat client` or `mesh-sidecar (round-robin)`. */
  label: string;
  spec: RunSpec;
  fleet?: Fleet;
  /** The proxy the approach sends through (started by the caller; not stopped here). */
  proxy?: ProxyHandle;
  events?: readonly ScenarioEvent[];
  /** A driver spawned (and waited for) by the caller, so the run starts the moment it is sent. */
  driver?: DriverProcess;
  onProgress?(progress: RunProgress): void;
  onEvent?(label: string): void;
}

/** A run's result: the driver's figures plus the orchestrator's (sidecar, upstream). */
export interface ApproachResult extends DriverResult {
  label: string;
  approach: ApproachKind;
  approachName: string;
  balancer: string | undefined;
  /** Client CPU per request completed in the window, µs. */
  clientCpuUsPerRequest: number;
  /** Sidecar (child process) CPU per request completed in the window, µs. */
  sidecarCpuUsPerRequest: number | undefined;
  sidecarRssMb: number | undefined;
  /** Requests the upstream fleet received for the window's requests (undefined without a fleet). */
  upstreamRequests: number | undefined;
  /** upstreamRequests / requests: 1 without retries; the load the approach puts on upstreams. */
  amplification: number | undefined;
  /** Retries made by whoever delivers: the fat client, mesh-sidecar or HAProxy. */
  retries: number | undefined;
  /** Scenario events, in seconds from the window start. */
  events: Array<{ t: number; label: string }>;
}

/** Run one plan to completion; the driver process is gone when this settles. */
export async function runPlan(plan: RunPlan): Promise<ApproachResult> {
  const { spec, fleet, proxy } = plan;
  const driver = plan.driver ?? DriverProcess.spawn();
  const timers: NodeJS.Timeout[] = [];
  const events: Array<{ t: number; label: string }> = [];
  // Readings taken at the window's edges, in order (each may wait on the OS or an admin API).
  let readings = Promise.resolve();
  const read = (fn: () => Promise<void>) => {
    readings = readings.then(fn).catch(() => undefined);
  };
  let fleetAtOpen = 0;
  let proxyCpuAtOpen: number | undefined;
  let proxyCpuMs: number | undefined;
  let proxyRetriesAtOpen: number | undefined;
  let proxyRssBytes = 0;
  plan.onProgress?.({
    phase: 'start',
    elapsedMs: 0,
    durationMs: spec.durationMs,
    requests: 0,
    ok: 0,
    failed: 0,
  });

  const result = await new Promise<DriverResult>((resolve, reject) => {
    const budget = spec.warmupMs + spec.durationMs + spec.timeoutMs + 60_000;
    const watchdog = setTimeout(
      () => reject(new Error(`${plan.label}: no result within ${budget} ms`)),
      budget,
    );
    timers.push(watchdog);
    driver.exited().then((code) => reject(new Error(`${plan.label}: load driver exited (${code})`)));
    driver.on((message: FromDriver) => {
      switch (message.type) {
        case 'phase':
          if (message.phase === 'measure') {
            fleetAtOpen = fleet?.received ?? 0;
            read(async () => {
              if (proxy) proxyCpuAtOpen = (await proxy.usage()).cpuMs;
              proxyRetriesAtOpen = await proxy?.retries();
            });
            for (const event of plan.events ?? []) {
              timers.push(
                setTimeout(() => {
                  if (event.label) {
                    events.push({ t: event.atMs / 1000, label: event.label });
                    plan.onEvent?.(event.label);
                  }
                  const ctx: EventContext = {
                    fleet: fleet!,
                    setEndpoints: (urls) => driver.send({ type: 'endpoints', urls }),
                  };
                  Promise.resolve(event.run(ctx)).catch((err: unknown) => {
                    plan.onEvent?.(`event "${event.label}" failed: ${(err as Error).message}`);
                  });
                }, event.atMs),
              );
            }
          } else {
            read(async () => {
              if (!proxy || proxyCpuAtOpen === undefined) return;
              const u = await proxy.usage();
              proxyCpuMs = u.cpuMs - proxyCpuAtOpen;
              proxyRssBytes = Math.max(proxyRssBytes, u.rssBytes);
            });
          }
          break;
        case 'progress':
          plan.onProgress?.({ ...message, durationMs: spec.durationMs });
          if (proxy && message.phase === 'measure') {
            read(async () => {
              proxyRssBytes = Math.max(proxyRssBytes, (await proxy.usage()).rssBytes);
            });
          }
          break;
        case 'result':
          resolve(message.result);
          break;
        case 'error':
          reject(new Error(`${plan.label}: ${message.message}`));
          break;
      }
    });
    driver.send({ type: 'run', spec });
  }).finally(() => {
    for (const t of timers) clearTimeout(t);
  });
  await driver.stop();
  await readings;
  const upstreamRequests = fleet ? fleet.received - fleetAtOpen : undefined;
  let retries = result.clientRetries;
  if (retries === undefined && proxy) {
    const total = await proxy.retries().catch(() => undefined);
    retries =
      total === undefined || proxyRetriesAtOpen === undefined
        ? undefined
        : Math.max(0, total - proxyRetriesAtOpen);
  }
  const perRequest = (ms: number | undefined) =>
    ms === undefined || result.completedInWindow === 0 ? undefined : (ms * 1000) / result.completedInWindow;
  return {
    ...result,
    label: plan.label,
    approach: spec.approach,
    approachName: APPROACH_LABELS[spec.approach],
    balancer: balancerOf(spec),
    clientCpuUsPerRequest: perRequest(result.clientCpuMs) ?? Number.NaN,
    sidecarCpuUsPerRequest: perRequest(proxyCpuMs),
    sidecarRssMb: proxyRssBytes > 0 ? proxyRssBytes / 1024 / 1024 : undefined,
    upstreamRequests,
    amplification:
      upstreamRequests === undefined || result.requests === 0
        ? undefined
        : upstreamRequests / result.requests,
    retries,
    events,
  };
}

/** The balancer a run's policy names, for the approaches that balance. */
function balancerOf(spec: RunSpec): string | undefined {
  if (spec.approach === 'bare-axios' || spec.approach === 'bare-undici') return 'round-robin (by hand)';
  if (spec.approach === 'haproxy') return 'roundrobin (HAProxy)';
  if (spec.approach === 'node-proxy') return 'round-robin (node-proxy)';
  const lb = spec.policy.loadBalancer;
  if (typeof lb === 'string') return lb;
  if (lb && typeof lb === 'object' && 'policy' in lb && typeof lb.policy === 'string') return lb.policy;
  return 'peak-ewma';
}

/** How hard and how long a run drives its client. */
export interface LoadSettings {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  requests: RequestTemplate[];
}

/** One approach on a fresh fleet built from a scenario, or on your own services. */
export interface ApproachRun {
  label: string;
  approach: ApproachKind;
  service: string;
  policy: Policy;
  load: LoadSettings;
  /** A fresh fleet is started from this scenario and its events are played. */
  scenario?: Scenario;
  /** Or: existing endpoints (your services; nothing is injected). */
  target?: { urls: string[]; discovery?: Record<string, unknown> };
  /** Or: a fleet and proxies started (and stopped) by the caller, shared by several runs. */
  shared?: { fleet: Fleet; proxies: Partial<Record<ApproachKind, ProxyHandle>> };
  /**
   * Traffic sent straight to a freshly started proxy before the client starts: a new mesh-sidecar
   * process is a cold JIT for its first thousands of requests (HAProxy gets the same, for symmetry).
   */
  proxyWarmupMs?: number;
  line?: ProgressLine;
}

/** Start what the approach needs (fleet, proxy) unless shared, run it, tear down what it started. */
export async function runApproach(run: ApproachRun): Promise<ApproachResult> {
  const { approach, load, policy, scenario } = run;
  let fleet: Fleet | undefined;
  let proxy: ProxyHandle | undefined;
  try {
    fleet = run.shared?.fleet ?? (scenario ? await Fleet.start(scenario.fleet) : undefined);
    const urls = run.target?.urls ?? fleet?.urls ?? [];
    if (isProxied(approach)) {
      proxy = run.shared?.proxies[approach];
      if (!proxy) {
        proxy = await startProxy(
          approach,
          run.service,
          urls,
          policy.options,
          haproxyFor(policy),
          run.target?.discovery,
        );
        run.line?.update({
          phase: 'warmup',
          elapsedMs: 0,
          durationMs: load.durationMs,
          requests: 0,
          ok: 0,
          failed: 0,
        });
        await warmProxy(proxy, run.service, load.requests, run.proxyWarmupMs ?? 0, load.concurrency);
      }
    }
    const result = await runPlan({
      label: run.label,
      spec: {
        approach,
        service: run.service,
        urls,
        discovery: run.target?.discovery,
        sidecarUrl: proxy?.url,
        policy: policy.options,
        timeoutMs: policy.timeoutMs,
        concurrency: load.concurrency,
        warmupMs: load.warmupMs,
        durationMs: load.durationMs,
        bucketMs: Math.max(100, Math.round(load.durationMs / 60)),
        progressMs: 200,
        requests: load.requests,
        maxRequests: 20_000_000,
      },
      fleet,
      proxy,
      events: run.shared ? [] : (scenario?.events(load.durationMs) ?? []),
      onProgress: (p) => run.line?.update(p),
      onEvent: (text) => run.line?.note(text),
    });
    run.line?.done(summarize(result));
    return result;
  } catch (err) {
    run.line?.fail((err as Error).message);
    throw err;
  } finally {
    if (!run.shared) {
      await proxy?.stop().catch(() => undefined);
      await fleet?.close().catch(() => undefined);
    }
  }
}

/** One line: throughput, p50, p99, success. */
export function summarize(r: ApproachResult): string {
  return `${fmt.rps(r.throughput)}  p50 ${fmt.ms(r.latency.p50)}  p99 ${fmt.ms(r.latency.p99)}  ${fmt.pct(r.successRate)} ok`;
}
