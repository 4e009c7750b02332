/**
 * Scaling over cores: throughput and proxy CPU per request at a concurrency high enough to
 * saturate one core (64), for mesh-sidecar with one worker and with two, and for HAProxy with
 * `nbthread 1` and `nbthread 2`; the floor (one process) is measured beside them for reference.
 * Proxy CPU and RSS are summed over the proxy's process tree, so workers forked by the sidecar
 * count.
 *
 * The worker count is passed in mesh-sidecar's config file under {@link SIDECAR_WORKERS_KEY}.
 * Whether the sidecar has that option is found out by starting it with two workers: a sidecar
 * that refuses the config, naming the key, has no such option, and its two-worker row is
 * reported as not measured (never guessed).
 */
import type { Policy } from '../scenarios/scenarios.js';
import { haproxyFor } from '../scenarios/scenarios.js';
import type { Fleet } from './fleet.js';
import type { ApproachResult } from './orchestrate.js';
import type { ApproachKind } from './protocol.js';
import { type ProxyHandle, type ProxyKind, startProxy, warmProxy } from './proxies.js';
import { median } from './stats.js';

/** The key of mesh-sidecar's config file that sets its number of worker processes or threads. */
export const SIDECAR_WORKERS_KEY = 'workers';

/** One proxy setting at the scaling concurrency, medians over rounds. */
export interface ScalingRow {
  approach: ProxyKind;
  label: string;
  /** `1 worker`, `nbthread 2`, ... */
  setting: string;
  /** Workers or threads asked for. */
  units: number;
  rounds: number;
  throughput: number;
  p50: number;
  p99: number;
  successRate: number;
  /** Proxy CPU (every process of it) per request, µs. */
  proxyCpuUs: number | undefined;
  clientCpuUs: number;
  /** Processes counted in the proxy's CPU and RSS. */
  processes: number | undefined;
  /** Peak RSS of the proxy's processes, summed, MB. */
  rssMb: number | undefined;
}

export interface ScalingResult {
  concurrency: number;
  rows: ScalingRow[];
  /** What was not measured, and why. */
  notes: string[];
  /** Whether mesh-sidecar took the worker count; undefined when it failed to start another way. */
  sidecarWorkers: boolean | undefined;
}

interface Setting {
  approach: ProxyKind;
  setting: string;
  units: number;
  proxy: ProxyHandle;
  processes: number | undefined;
}

export interface ScalingOptions {
  service: string;
  fleet: Fleet;
  policy: Policy;
  haproxy: boolean;
  concurrency: number;
  rounds: number;
  proxyWarmupMs: number;
  requests: Parameters<typeof warmProxy>[2];
  /** Runs one measured window through `proxy` (the caller's runner, as in the overhead part). */
  measure(label: string, approach: ApproachKind, proxy: ProxyHandle): Promise<ApproachResult | undefined>;
  say(text: string): void;
}

/** Whether `err` is mesh-sidecar refusing its config because of the workers key. */
function refusedWorkers(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes(`options.${SIDECAR_WORKERS_KEY}`);
}

/** Start every setting, warm each, run `rounds` interleaved rounds at the concurrency, stop all. */
export async function measureScaling(o: ScalingOptions): Promise<ScalingResult> {
  const notes: string[] = [];
  const settings: Setting[] = [];
  const start = (kind: ProxyKind, extra: { sidecarConfig?: Record<string, unknown>; nbthread?: number }) =>
    startProxy(
      kind,
      o.service,
      o.fleet.urls,
      o.policy.options,
      { ...haproxyFor(o.policy), nbthread: extra.nbthread },
      undefined,
      { sidecarConfig: extra.sidecarConfig },
    );
  let sidecarWorkers: boolean | undefined;
  const results: Array<{ setting: Setting; result: ApproachResult }> = [];
  let two: ProxyHandle | undefined;
  try {
    // Two workers first: it tells whether the option exists, and so how to start the one-worker row.
    try {
      two = await start('mesh-sidecar', { sidecarConfig: { [SIDECAR_WORKERS_KEY]: 2 } });
      sidecarWorkers = true;
    } catch (err) {
      if (refusedWorkers(err)) {
        sidecarWorkers = false;
        notes.push(
          `mesh-sidecar with 2 workers: not measured: the sidecar has no ${SIDECAR_WORKERS_KEY} option (it refused \`"${SIDECAR_WORKERS_KEY}": 2\` in its config).`,
        );
      } else {
        notes.push(
          `mesh-sidecar with 2 workers: not measured: it failed to start: ${(err as Error).message}`,
        );
      }
    }
    const one = await start('mesh-sidecar', {
      sidecarConfig: sidecarWorkers ? { [SIDECAR_WORKERS_KEY]: 1 } : undefined,
    });
    const add = (approach: ProxyKind, setting: string, units: number, proxy: ProxyHandle) => {
      settings.push({ approach, setting, units, proxy, processes: undefined });
    };
    add('mesh-sidecar', sidecarWorkers ? '1 worker' : '1 process (no workers option)', 1, one);
    if (two) add('mesh-sidecar', '2 workers', 2, two);
    if (o.haproxy) {
      for (const n of [1, 2]) add('haproxy', `nbthread ${n}`, n, await start('haproxy', { nbthread: n }));
    } else {
      notes.push('HAProxy nbthread 1 vs 2: not measured: HAProxy is not installed.');
    }
    add('node-proxy', '1 process', 1, await start('node-proxy', {}));
    for (const s of settings) {
      await warmProxy(s.proxy, o.service, o.requests, o.proxyWarmupMs, 16);
      s.processes = await s.proxy
        .usage()
        .then((u) => u.processes)
        .catch(() => undefined);
    }
    for (let round = 1; round <= o.rounds; round++) {
      o.say(`scaling: concurrency ${o.concurrency}, round ${round} of ${o.rounds}`);
      for (const s of settings) {
        const result = await o.measure(`${labelOf(s.approach)}, ${s.setting}`, s.approach, s.proxy);
        if (result) results.push({ setting: s, result });
      }
    }
  } finally {
    for (const s of settings) await s.proxy.stop().catch(() => undefined);
    if (two && !settings.some((s) => s.proxy === two)) await two.stop().catch(() => undefined);
  }
  const rows = settings.map((s): ScalingRow => {
    const mine = results.filter((r) => r.setting === s).map((r) => r.result);
    const med = (f: (r: ApproachResult) => number | undefined) => {
      const v = mine.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
      return v.length ? median(v) : undefined;
    };
    return {
      approach: s.approach,
      label: labelOf(s.approach),
      setting: s.setting,
      units: s.units,
      rounds: mine.length,
      throughput: med((r) => r.throughput) ?? Number.NaN,
      p50: med((r) => r.latency.p50) ?? Number.NaN,
      p99: med((r) => r.latency.p99) ?? Number.NaN,
      successRate: med((r) => r.successRate) ?? Number.NaN,
      proxyCpuUs: med((r) => r.sidecarCpuUsPerRequest),
      clientCpuUs: med((r) => r.clientCpuUsPerRequest) ?? Number.NaN,
      processes: s.processes,
      rssMb: med((r) => r.sidecarRssMb),
    };
  });
  return { concurrency: o.concurrency, rows, notes, sidecarWorkers };
}

function labelOf(kind: ProxyKind): string {
  return kind === 'mesh-sidecar' ? 'mesh-sidecar' : kind === 'haproxy' ? 'HAProxy' : 'bare Node proxy';
}
