/**
 * A mesh's telemetry, built once from the `telemetry` and `logger` options: the metrics and
 * tracing the pipeline's telemetry stages use (absent when off: a disabled concern is absent
 * from the composition, not a branch taken per request), what listens to the mesh's events, and
 * what closes with it.
 *
 * The two positions differ in two ways only: the sidecar always records metrics (into its own
 * registry, served on admin `/metrics`) unless `metrics: false`, and its request spans continue
 * the trace context that arrives with each request.
 */
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import { requirePeer } from '../errors/peer.js';
import type { MeshEmitter } from './events.js';
import { logEvents } from './log-events.js';
import { safeLogger } from './logger.js';
import { type MeshMetrics, type MetricsSource, metricsFor } from './metrics.js';
import { DEFAULT_BUCKETS, type Logger, type ResolvedTelemetry } from './options.js';
import { MeshTracing } from './tracing.js';

/** Where the mesh runs, as its telemetry needs to know. */
export interface TelemetryHost {
  /** `'sidecar'`: requests arrive over HTTP with their caller's trace context. @defaultValue `'client'` */
  position?: 'client' | 'sidecar';
  /** The registry to record into when the options name none (the sidecar's own). */
  registry?: Registry;
}

/** What a mesh hands its telemetry: its events, clock and live service runtimes. */
export interface TelemetrySource extends MetricsSource {
  readonly clock: Clock;
  readonly events: MeshEmitter;
}

/** The telemetry of one mesh. */
export class Telemetry {
  readonly metrics: MeshMetrics | undefined;
  readonly tracing: MeshTracing | undefined;
  /** The redacting logger, when one was given. */
  readonly logger: Logger | undefined;
  #detach: (() => void) | undefined;

  constructor(options: ResolvedTelemetry | undefined, logger: Logger | undefined, host: TelemetryHost = {}) {
    const metrics: Partial<Exclude<ResolvedTelemetry['metrics'], false>> | false = options?.metrics ?? {};
    const tracing = options?.tracing ?? true;
    const sidecar = host.position === 'sidecar';
    const registry = metrics === false ? undefined : (metrics.registry ?? host.registry);
    this.metrics =
      metrics !== false && registry
        ? metricsFor(registry, metrics.prefix ?? 'mesh_client_', metrics.buckets ?? DEFAULT_BUCKETS)
        : undefined;
    this.tracing = tracing === false ? undefined : new MeshTracing(tracing, sidecar);
    this.logger = logger ? safeLogger(logger) : undefined;
  }

  /** Start listening to the mesh's events and reading its pools. */
  attach(source: TelemetrySource): void {
    this.#detach = this.metrics?.attach(source);
    this.tracing?.attach(source.events);
    if (this.logger) logEvents(source.events, this.logger, source.clock);
  }

  /** Stop reading the mesh's pools (the counters keep their values in the registry). */
  close(): void {
    this.#detach?.();
    this.#detach = undefined;
  }
}

/**
 * The registry a sidecar serves on admin `/metrics`: the one its options name, else a new one with
 * prom-client's default process metrics (CPU, memory, event-loop lag, handles): the sidecar is a
 * process of its own, and those are what an operator checks first.
 */
export function sidecarRegistry(options: ResolvedTelemetry | undefined): Registry {
  const metrics = options?.metrics;
  if (metrics !== false && metrics?.registry) return metrics.registry;
  const { Registry, collectDefaultMetrics } = requirePeer<typeof PromClient>(
    'prom-client',
    'the sidecar (admin /metrics)',
  );
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
