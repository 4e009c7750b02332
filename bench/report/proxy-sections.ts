/**
 * The proxy-lifecycle sections of docs/benchmarks.md: each proxy's memory at each stage of the
 * overhead part, its start-up and warm-up, and scaling over cores (workers, threads). Each takes
 * the figures bench.json holds and returns markdown lines; a part that did not run says so.
 */
import type { MemoryFigure, StartupFigure } from '../harness/lifecycle.js';
import { type ScalingResult, SIDECAR_WORKERS_KEY } from '../harness/scaling.js';
import { fmt, ratio } from '../harness/stats.js';
import { FLAT_RSS_FACTOR, FLOOR_RSS_HEADROOM_MB } from './analysis.js';
import { markdownTable } from './table.js';

const signed = (mb: number | undefined) =>
  mb === undefined || !Number.isFinite(mb) ? '-' : `${mb >= 0 ? '+' : ''}${fmt.mb(mb)}`;
const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(0)} ms`);

/** Resident memory of the long-lived overhead proxies: idle, warmed up, after the runs. */
export function memorySection(memory: readonly MemoryFigure[] | undefined): string[] {
  const out = ['### Proxy memory', ''];
  if (!memory?.length) return [...out, 'Not measured in this run (the overhead part did not run).', ''];
  const floor = memory.find((m) => m.approach === 'node-proxy');
  out.push(
    `Resident memory (RSS, from /proc) of each overhead proxy: right after it started, after its warm-up traffic, and after every overhead run; "peak" is the highest reading during the runs' measured windows. Targets: mesh-sidecar at most the bare Node proxy's + ${FLOOR_RSS_HEADROOM_MB} MB, and flat (after the runs at most ${FLAT_RSS_FACTOR}x after warm-up).`,
    '',
    markdownTable(
      [
        'proxy',
        'idle',
        'after warm-up',
        'after the runs',
        'peak during runs',
        'runs - warm-up',
        'vs the floor (after the runs)',
      ],
      memory.map((m) => [
        m.label,
        fmt.mb(m.idleMb),
        fmt.mb(m.warmMb),
        fmt.mb(m.endMb),
        fmt.mb(m.peakMb),
        signed(m.endMb !== undefined && m.warmMb !== undefined ? m.endMb - m.warmMb : undefined),
        m === floor || floor?.endMb === undefined || m.endMb === undefined
          ? '-'
          : signed(m.endMb - floor.endMb),
      ]),
    ),
    '',
  );
  return out;
}

/** Spawn to first proxied request, and the first second of load against the steady state. */
export function startupSection(
  startup: readonly StartupFigure[] | undefined,
  settings: { seconds: number; concurrency: number } | undefined,
): string[] {
  const out = ['## Startup and warm-up', ''];
  if (!startup?.length || !settings) return [...out, 'Not measured in this run.', ''];
  const [from, to] = startup[0]!.steadySeconds;
  out.push(
    `Each proxy spawned cold, in front of a healthy fleet of three. "listening" is the time from spawn to the process's \`listening\` log line reaching the benchmark (HAProxy logs nothing when ready); "first proxied request" is the time from spawn to the first \`GET\` answered 2xx through it, polled with one request at a time on a new connection each, 1 ms apart (the figure's resolution). From that moment a closed loop of ${settings.concurrency} requests (from a load driver loaded beforehand) runs for ${settings.seconds} s: "second 1" is what it got answered in its first second, "steady" the mean per second over seconds ${from}-${to}, the same run. A cold Node process runs its first requests in V8's interpreter and baseline tiers: second 1 against steady is what that costs.`,
    '',
    markdownTable(
      [
        'proxy',
        'listening',
        'first proxied request',
        'poll tries',
        'second 1',
        `steady (s ${from}-${to})`,
        'second 1 / steady',
        'RSS at first request',
        'answered per second',
      ],
      startup.map((s) => [
        s.label,
        ms(s.listeningMs),
        ms(s.readyMs),
        fmt.int(s.pollAttempts),
        `${fmt.int(s.firstSecond)} req`,
        fmt.rps(s.steadyRps),
        fmt.x(s.firstVsSteady),
        fmt.mb(s.rssReadyMb),
        s.perSecond.join(', '),
      ]),
    ),
    '',
  );
  return out;
}

/** Throughput and CPU at concurrency 64 with one and two workers or threads. */
export function scalingSection(scaling: ScalingResult | undefined): string[] {
  const out = ['## Scaling over cores', ''];
  if (!scaling) return [...out, 'Not measured in this run.', ''];
  out.push(
    `Concurrency ${scaling.concurrency}, healthy fleet of three, library defaults; each proxy long-lived and warmed up, interleaved rounds, medians. mesh-sidecar's worker count goes in its config file as \`"${SIDECAR_WORKERS_KEY}": N\` (\`SIDECAR_WORKERS_KEY\` in bench/harness/scaling.ts); HAProxy gets \`nbthread N\` (without it, as in the overhead part, HAProxy runs one thread per CPU). Proxy CPU and RSS are summed over the proxy's processes. The client and the fleet share the same cores, so a second worker can only use what they leave.`,
    '',
  );
  const base = (approach: string) => scaling.rows.find((r) => r.approach === approach && r.units === 1);
  out.push(
    markdownTable(
      [
        'proxy',
        'setting',
        'processes',
        'throughput',
        'vs 1',
        'p50',
        'p99',
        'success',
        'proxy CPU/req',
        'client CPU/req',
        'proxy RSS',
      ],
      scaling.rows.map((r) => [
        r.label,
        r.setting,
        fmt.int(r.processes),
        fmt.rps(r.throughput),
        fmt.x(ratio(r.throughput, base(r.approach)?.throughput)),
        fmt.ms(r.p50),
        fmt.ms(r.p99),
        fmt.pct(r.successRate),
        fmt.us(r.proxyCpuUs),
        fmt.us(r.clientCpuUs),
        fmt.mb(r.rssMb),
      ]),
    ),
    '',
  );
  if (scaling.notes.length) out.push(...scaling.notes.map((n) => `- ${n}`), '');
  return out;
}
