/**
 * The `telemetry` and `logger` options: their schema, with every default, and the types derived
 * from it, which the options plug into the one options schema (so a bad value fails with
 * `MESH_BAD_OPTIONS` and its path, e.g. `options.telemetry.metrics.prefix: ...`).
 *
 * Defaults follow what a library user expects of observability: nothing global is touched.
 * Metrics are recorded only into a registry the user passes (the sidecar passes its own);
 * tracing goes through the global OpenTelemetry API, which is a no-op until the application
 * registers an SDK (the OpenTelemetry guidance for instrumented libraries); logs go nowhere
 * unless a logger is given.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { z } from 'zod';

/**
 * Where the mesh logs: pino, console, or anything with these four methods taking a fields object
 * then a message (pino's argument order; `console.warn(fields, msg)` prints both). Fields never
 * carry header values or tokens: the mesh redacts them before the call.
 */
export interface Logger {
  /** Per-request detail (retries). */
  debug(fields: Record<string, unknown>, msg?: string): void;
  /** Changes worth knowing (endpoints, breakers closing). */
  info(fields: Record<string, unknown>, msg?: string): void;
  /** Trouble the mesh works around (breakers opening, discovery errors, fallbacks). */
  warn(fields: Record<string, unknown>, msg?: string): void;
  /** Trouble it cannot work around. */
  error(fields: Record<string, unknown>, msg?: string): void;
}

/** Latency histogram buckets, in seconds: 1 ms to 30 s (the default total deadline is 15 s). */
export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

const metricsSchema = z.strictObject({
  /**
   * The prom-client `Registry` to register the mesh's metrics in; serve it on your `/metrics`.
   * Without one the fat client records no metrics (nothing global is touched); the sidecar uses
   * its own registry and serves it on its admin `/metrics`. Several clients may share a registry:
   * they add to the same series.
   * @defaultValue none (no metrics in the client)
   */
  registry: z
    .custom<Registry>((v) => isObject(v) && typeof v.registerMetric === 'function', {
      message: 'expected a prom-client Registry',
    })
    .optional(),
  /** Prefix of every metric name. */
  prefix: z
    .string()
    .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'expected a Prometheus metric name prefix, e.g. mesh_client_')
    .default('mesh_client_'),
  /** Buckets (seconds) of the request latency histogram. */
  buckets: z.array(z.number().positive().finite()).min(1).default(DEFAULT_BUCKETS),
});

const tracingSchema = z.strictObject({
  /** The tracer to use. @defaultValue the global API's tracer named `mesh-client` (a no-op without an SDK) */
  tracer: z
    .custom<Tracer>((v) => isObject(v) && typeof v.startSpan === 'function', {
      message: 'expected an OpenTelemetry Tracer',
    })
    .optional(),
});

const telemetrySchema = z.strictObject({
  /** Prometheus metrics; on only with a `registry` (always in the sidecar); `false` turns them off (also in the sidecar). */
  metrics: z.union([z.literal(false), metricsSchema]).prefault({}),
  /**
   * OpenTelemetry spans (one per request, one per attempt) and W3C trace context propagation;
   * `false` takes the tracing stages out of the pipeline.
   */
  tracing: z.union([z.boolean(), tracingSchema]).default(true),
});

/** The `telemetry` option: metrics and tracing. */
export const telemetryOption = telemetrySchema.prefault({});

/** The schema of {@link Logger}: any object with `debug`, `info`, `warn` and `error` functions. */
export const loggerSchema = z.custom<Logger>(
  (v) => isObject(v) && ['debug', 'info', 'warn', 'error'].every((m) => typeof v[m] === 'function'),
  { message: 'expected a logger with debug, info, warn and error methods (pino, console)' },
);

/**
 * Metrics and tracing.
 * @interface
 */
export type TelemetryOptions = z.input<typeof telemetrySchema>;

/**
 * Prometheus metrics (prom-client).
 * @interface
 */
export type MetricsOptions = z.input<typeof metricsSchema>;

/**
 * OpenTelemetry tracing, through `@opentelemetry/api` only.
 * @interface
 */
export type TracingOptions = z.input<typeof tracingSchema>;

/**
 * {@link TelemetryOptions} validated, defaults applied.
 * @interface
 */
export type ResolvedTelemetry = z.output<typeof telemetrySchema>;
