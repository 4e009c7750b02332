/**
 * The `/stats` of a sidecar on several workers: the workers' own reports merged into one that
 * reads like a one-process sidecar's. What counts is summed (requests, responses by class, errors
 * and refusals by code, requests in flight, connections, buffered bytes, endpoints' attempts,
 * failures and in-flight requests, TLS handshakes); latency is merged exactly (counts summed, the
 * mean weighted by count, the max of the maxima); what every worker holds alike, or only as an
 * estimate of its own (the policy, endpoints' breaker state, ejection, latency estimate), is the
 * first worker's.
 */
import type { InboundReport } from '../inbound/inbound.js';
import type { SidecarStatsReport } from '../sidecar.js';
import type { ServiceStats } from '../stats.js';

/** A worker, as the primary's `/stats` lists it. */
export interface WorkerStatus {
  index: number;
  /** The process id (absent while none runs: the worker is waiting to be restarted). */
  pid: number | undefined;
  /**
   * `up` (its report is merged), `starting` (forked, not listening yet), `down` (exited, waiting to
   * be restarted), `no answer` (listening, but its report did not come back in time).
   */
  state: 'up' | 'starting' | 'down' | 'no answer';
  ready: boolean;
  inFlight?: number;
  /** Requests it received, over every service. */
  requests?: number;
}

/** The merged report, with the primary's view of its workers. */
export interface MergedReport extends SidecarStatsReport {
  /** Each worker, by index. */
  perWorker: WorkerStatus[];
}

/** A service's entry in a worker's report. */
type ServiceEntry = Partial<ServiceStats> & {
  requests: number;
  policy?: unknown;
  endpoints?: Array<
    Record<string, unknown> & { id: string; requests: number; failures: number; inFlight: number }
  >;
};

/** What the primary knows itself. */
export interface MergeContext {
  listen: string;
  ready: boolean;
  workers: number;
  perWorker: WorkerStatus[];
}

/** Merge the reports of the workers that answered (in worker order: "first" is the lowest index). */
export function mergeReports(reports: readonly SidecarStatsReport[], ctx: MergeContext): MergedReport {
  const names = new Set(reports.flatMap((r) => Object.keys(r.services)));
  const services: Record<string, unknown> = {};
  for (const name of names) {
    services[name] = mergeService(reports.map((r) => r.services[name] as ServiceEntry | undefined));
  }
  const tls = reports.find((r) => r.tls)?.tls;
  const inbounds = reports.map((r) => r.inbound).filter((i): i is InboundReport => i !== undefined);
  return {
    listen: ctx.listen,
    ready: ctx.ready,
    inFlight: sum(reports.map((r) => r.inFlight)),
    connections: {
      open: sum(reports.map((r) => r.connections.open)),
      refused: sum(reports.map((r) => r.connections.refused)),
    },
    bufferedBytes: sum(reports.map((r) => r.bufferedBytes)),
    refused: sumCounts(reports.map((r) => r.refused)),
    workers: ctx.workers,
    services,
    ...(tls
      ? {
          tls: {
            ...tls,
            handshakes: {
              full: sum(reports.map((r) => r.tls?.handshakes.full ?? 0)),
              resumed: sum(reports.map((r) => r.tls?.handshakes.resumed ?? 0)),
              refused: sum(reports.map((r) => r.tls?.handshakes.refused ?? 0)),
            },
          },
        }
      : {}),
    ...(inbounds.length > 0 ? { inbound: mergeInbound(inbounds) } : {}),
    perWorker: ctx.perWorker,
  };
}

/** A worker as the primary sees it, with the report it answered (none: not up, or not in time). */
export interface WorkerAnswer {
  index: number;
  pid: number | undefined;
  state: 'starting' | 'up' | 'down';
  report: SidecarStatsReport | undefined;
}

/** The primary's `/stats`: the reports that came back merged, and every worker's state. */
export function workersReport(
  answers: readonly WorkerAnswer[],
  ctx: Omit<MergeContext, 'perWorker'>,
): MergedReport {
  const perWorker = answers.map(
    ({ index, pid, state, report }): WorkerStatus =>
      report
        ? {
            index,
            pid,
            state: 'up',
            ready: report.ready,
            inFlight: report.inFlight,
            requests: requestsOf(report),
          }
        : { index, pid, state: state === 'up' ? 'no answer' : state, ready: false },
  );
  const reports = answers.flatMap((a) => (a.report ? [a.report] : []));
  return mergeReports(reports, { ...ctx, perWorker });
}

/** Requests a worker's report counts over every service (for the list of workers). */
function requestsOf(report: SidecarStatsReport): number {
  return sum(Object.values(report.services).map((s) => (s as ServiceEntry).requests ?? 0));
}

function mergeService(entries: ReadonlyArray<ServiceEntry | undefined>): ServiceEntry {
  const present = entries.filter((e): e is ServiceEntry => e !== undefined);
  const merged: ServiceEntry = { ...mergeStats(present) };
  const policy = present.find((e) => e.policy !== undefined)?.policy;
  if (policy !== undefined) merged.policy = policy;
  if (present.some((e) => e.endpoints)) merged.endpoints = mergeEndpoints(present);
  return merged;
}

/** Requests, responses, errors and latency, summed (an entry may have only `requests`). */
function mergeStats(entries: ReadonlyArray<Partial<ServiceStats> & { requests?: number }>): ServiceEntry {
  const merged: ServiceEntry = { requests: sum(entries.map((e) => e.requests ?? 0)) };
  if (entries.some((e) => e.responses)) merged.responses = sumCounts(entries.map((e) => e.responses));
  if (entries.some((e) => e.errors)) merged.errors = sumCounts(entries.map((e) => e.errors));
  const latencies = entries.flatMap((e) => (e.latency ? [e.latency] : []));
  if (latencies.length > 0) {
    const count = sum(latencies.map((l) => l.count));
    merged.latency = {
      count,
      meanMs: count === 0 ? 0 : sum(latencies.map((l) => l.meanMs * l.count)) / count,
      maxMs: Math.max(...latencies.map((l) => l.maxMs)),
    };
  }
  return merged;
}

/** Endpoints by id, in the order they first appear; counts summed, state from the first worker. */
function mergeEndpoints(entries: readonly ServiceEntry[]): NonNullable<ServiceEntry['endpoints']> {
  const byId = new Map<string, NonNullable<ServiceEntry['endpoints']>[number]>();
  for (const entry of entries) {
    for (const ep of entry.endpoints ?? []) {
      const seen = byId.get(ep.id);
      if (!seen) {
        byId.set(ep.id, { ...ep });
        continue;
      }
      seen.requests += ep.requests;
      seen.failures += ep.failures;
      seen.inFlight += ep.inFlight;
    }
  }
  return [...byId.values()];
}

function mergeInbound(reports: readonly InboundReport[]): InboundReport {
  const first = reports[0]!;
  const stats = reports.map((r) => r.stats as ServiceEntry);
  const policy = stats.find((s) => s.policy !== undefined)?.policy;
  return {
    ...first,
    inFlight: sum(reports.map((r) => r.inFlight)),
    connections: {
      open: sum(reports.map((r) => r.connections.open)),
      refused: sum(reports.map((r) => r.connections.refused)),
    },
    refused: sumCounts(reports.map((r) => r.refused)),
    stats: { ...mergeStats(stats), ...(policy !== undefined ? { policy } : {}) },
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function sumCounts(counts: ReadonlyArray<Record<string, number> | undefined>): Record<string, number> {
  // Keys are status classes and error codes; a null prototype keeps any name a plain key.
  const out: Record<string, number> = Object.create(null);
  for (const c of counts) for (const [k, v] of Object.entries(c ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}
