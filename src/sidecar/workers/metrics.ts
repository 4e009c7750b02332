/**
 * `/metrics` of a sidecar on several workers: the workers' registries summed by prom-client's
 * `AggregatorRegistry.aggregate` (counters and histograms added, each default metric by its own
 * aggregator), and two gauges of the primary's own: its workers by state, and how many of them
 * this scrape sums. A worker that is restarting or did not answer in time is missing from the
 * sums, and the second gauge says so.
 *
 * The mesh's gauges (`circuit_breaker_state`, `endpoints`, `endpoints_ejected`, and the inbound's)
 * describe what each worker sees of the same endpoints: they take the max over the workers (the
 * worst breaker, the endpoints discovery lists), where a sum would count each endpoint N times.
 *
 * The primary asks the workers itself rather than through `clusterMetrics()`, which asks every
 * connected worker (one still starting has no listener yet) and fails the whole scrape after a
 * fixed 5 s when any does not answer.
 */
import type * as PromClient from 'prom-client';
import { requirePeer } from '../../errors/peer.js';
import type { MetricsJson } from './messages.js';

/** The Prometheus page of the workers' metrics (one `getMetricsAsJSON()` array per worker). */
export async function summedMetrics(
  metrics: readonly MetricsJson[],
  own: { prefix: string; workers: { up: number; starting: number; down: number } },
): Promise<{ contentType: string; text: string }> {
  const prom = requirePeer<typeof PromClient>('prom-client', 'the sidecar (admin /metrics)');
  // One registry's metrics per worker, as prom-client's own cluster aggregation collects them.
  const summed = prom.AggregatorRegistry.aggregate<PromClient.PrometheusContentType>(
    metrics.map((registry) => registry.map((metric) => withAggregator(metric, own.prefix))),
  );
  const registry = new prom.Registry();
  const workers = new prom.Gauge({
    name: `${own.prefix}sidecar_workers`,
    help: 'Worker processes of the sidecar, by state (up: listening; starting; down: waiting to restart)',
    labelNames: ['state'],
    registers: [registry],
  });
  for (const [state, count] of Object.entries(own.workers)) workers.set({ state }, count);
  new prom.Gauge({
    name: `${own.prefix}sidecar_workers_scraped`,
    help: 'Workers whose metrics this scrape sums (fewer than those up: one did not answer in time)',
    registers: [registry],
  }).set(metrics.length);
  const page = prom.Registry.merge([summed, registry]);
  return { contentType: summed.contentType, text: await page.metrics() };
}

/** A metric as `getMetricsAsJSON()` gives it (the fields read here). */
interface MetricJson {
  name?: unknown;
  type?: unknown;
  aggregator?: unknown;
}

/** The mesh's own gauges (under `prefix`, summed by default) take the max over the workers. */
function withAggregator(metric: unknown, prefix: string): unknown {
  const m = metric as MetricJson;
  const summed = m.aggregator === undefined || m.aggregator === 'sum';
  return m.type === 'gauge' && summed && typeof m.name === 'string' && m.name.startsWith(prefix)
    ? { ...m, aggregator: 'max' }
    : metric;
}
