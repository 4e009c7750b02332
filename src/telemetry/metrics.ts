/**
 * Prometheus metrics on prom-client, recorded into a registry the user passes (nothing global).
 *
 * Names and units follow the Prometheus conventions (https://prometheus.io/docs/practices/naming/):
 * a `mesh_client_` prefix (configurable), `_total` counters, base units (`_seconds`). Labels take
 * bounded values only (see `labels.ts`): the service, the endpoint URL (bounded by discovery),
 * the method (known methods or `_OTHER`), the status class; never a path, query or id.
 *
 * Where the numbers come from, so that the hot path pays only when metrics are on:
 * - per request, a filter at the head of the pipeline (requests, errors, latency);
 * - per attempt, a filter below the balancer (attempts by endpoint and status class);
 * - the mesh's events for what is rare (retries, budget refusals, breaker transitions and
 *   ejections, discovery errors, sidecar fallbacks, endpoint churn);
 * - at scrape time, the live endpoint pools (endpoints per service, ejected endpoints, breaker
 *   state per endpoint), so those gauges never hold a departed endpoint.
 *
 * Endpoint churn: when discovery drops an endpoint, every series labelled with it is removed; a
 * request still in flight to it when it left is counted under `endpoint=""`.
 *
 * Several meshes on one registry (and prefix) share one set of metrics and add to the same series;
 * prom-client would otherwise refuse the second registration of each name.
 */
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { Endpoint, EndpointState } from '../core/endpoint.js';
import type { EndpointPool } from '../core/pool.js';
import { errorCode } from '../errors/classify.js';
import { MeshError } from '../errors/mesh-error.js';
import { requirePeer } from '../errors/peer.js';
import type { MeshEmitter } from './events.js';
import { codeLabel, METHODS, methodIndex, STATUS_CLASSES, statusClassIndex } from './labels.js';
import { redactUrl } from './logger.js';
import {
  type AttemptLabel,
  type Cell,
  CLASSES,
  type RequestLabel,
  ServiceSeries,
  type TransitionLabel,
} from './series.js';

/** What the metrics need of one service's runtime. */
export interface MeteredService {
  readonly service: string;
  readonly pool: EndpointPool;
  readonly clock: Clock;
  /** Present when the service has circuit breakers. */
  readonly breakers?: { stateOf(ep: Endpoint): EndpointState } | undefined;
}

/** A mesh whose events and live pools feed the metrics. */
export interface MetricsSource {
  readonly events: MeshEmitter;
  services(): Iterable<MeteredService>;
}

const shared = new WeakMap<Registry, Map<string, MeshMetrics>>();

/** The mesh metrics registered in `registry` under `prefix`, created on first use. */
export function metricsFor(registry: Registry, prefix: string, buckets: number[]): MeshMetrics {
  let byPrefix = shared.get(registry);
  if (!byPrefix) {
    byPrefix = new Map();
    shared.set(registry, byPrefix);
  }
  let metrics = byPrefix.get(prefix);
  if (!metrics) {
    metrics = new MeshMetrics(registry, prefix, buckets);
    byPrefix.set(prefix, metrics);
  }
  return metrics;
}

/** Every mesh metric of one registry and prefix. */
export class MeshMetrics {
  readonly requests: Counter<RequestLabel>;
  readonly requestErrors: Counter<'service' | 'code'>;
  readonly duration: Histogram<'service'>;
  readonly attempts: Counter<AttemptLabel>;
  readonly retries: Counter<'service' | 'reason'>;
  readonly budgetExhausted: Counter<'service'>;
  readonly breakerState: Gauge<'service' | 'endpoint'>;
  readonly transitions: Counter<TransitionLabel>;
  readonly ejections: Counter<'service'>;
  readonly endpoints: Gauge<'service'>;
  readonly ejected: Gauge<'service'>;
  readonly discoveryErrors: Counter<'service'>;
  readonly fallbacks: Counter<'service' | 'reason' | 'action'>;
  readonly #sources = new Set<MetricsSource>();
  readonly #services = new Map<string, ServiceSeries>();

  constructor(registry: Registry, prefix: string, buckets: number[]) {
    // Loaded here, not at module load: the library must load without prom-client.
    const { Counter, Gauge, Histogram } = requirePeer<typeof PromClient>(
      'prom-client',
      'options.telemetry.metrics.registry',
    );
    const registers = [registry];
    const sources = this.#sources;
    const runtimes = function* () {
      for (const source of sources) yield* source.services();
    };
    const services = this.#services;
    /** Hand the locally counted increments of `pick`'s cells to `counter` (at scrape time). */
    const flush = <T extends string>(
      counter: Counter<T>,
      pick: (s: ServiceSeries) => Iterable<Cell<T> | undefined>,
    ) => {
      for (const s of services.values()) {
        for (const cell of pick(s)) {
          if (cell && cell.n > 0) {
            counter.inc(cell.labels, cell.n);
            cell.n = 0;
          }
        }
      }
    };
    const requestCells = function* (s: ServiceSeries) {
      for (const eps of s.endpoints.values()) yield* eps.requests;
    };
    const attemptCells = function* (s: ServiceSeries) {
      for (const eps of s.endpoints.values()) yield* eps.attempts;
    };
    try {
      this.requests = new Counter({
        name: `${prefix}requests_total`,
        help: 'Requests by service, endpoint of the last attempt, method and status class (error: no response).',
        labelNames: ['service', 'endpoint', 'method', 'status_class'],
        registers,
        collect() {
          flush(this, requestCells);
        },
      });
      this.requestErrors = new Counter({
        name: `${prefix}request_errors_total`,
        help: 'Requests that got no HTTP response, by error code (MESH_TIMEOUT, ECONNREFUSED, ...).',
        labelNames: ['service', 'code'],
        registers,
        collect() {
          flush(this, (s) => s.errors.values());
        },
      });
      this.duration = new Histogram({
        name: `${prefix}request_duration_seconds`,
        help: 'Request latency through the mesh, all attempts and backoffs included.',
        labelNames: ['service'],
        buckets,
        registers,
      });
      this.attempts = new Counter({
        name: `${prefix}attempts_total`,
        help: 'Attempts (the first and each retry) by endpoint and status class (error: no response).',
        labelNames: ['service', 'endpoint', 'status_class'],
        registers,
        collect() {
          flush(this, attemptCells);
        },
      });
      this.retries = new Counter({
        name: `${prefix}retries_total`,
        help: 'Retries by the status or error code that caused them.',
        labelNames: ['service', 'reason'],
        registers,
      });
      this.budgetExhausted = new Counter({
        name: `${prefix}retry_budget_exhausted_total`,
        help: 'Retries the policy allowed but the retry budget refused.',
        labelNames: ['service'],
        registers,
      });
      this.breakerState = new Gauge({
        name: `${prefix}circuit_breaker_state`,
        help: 'Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.',
        labelNames: ['service', 'endpoint'],
        registers,
        collect() {
          this.reset();
          for (const rt of runtimes()) {
            const breakers = rt.breakers;
            if (!breakers) continue;
            for (const ep of rt.pool.all) {
              this.set(
                { service: rt.service, endpoint: redactUrl(ep.url) },
                stateValue(breakers.stateOf(ep)),
              );
            }
          }
        },
      });
      this.transitions = new Counter({
        name: `${prefix}circuit_breaker_transitions_total`,
        help: 'Circuit breaker transitions per endpoint, by the state entered.',
        labelNames: ['service', 'endpoint', 'state'],
        registers,
      });
      this.ejections = new Counter({
        name: `${prefix}ejections_total`,
        help: 'Endpoints taken out of rotation by their circuit breaker opening.',
        labelNames: ['service'],
        registers,
      });
      this.endpoints = new Gauge({
        name: `${prefix}endpoints`,
        help: 'Endpoints discovery lists per service.',
        labelNames: ['service'],
        registers,
        collect() {
          this.reset();
          for (const rt of runtimes()) this.inc({ service: rt.service }, rt.pool.all.length);
        },
      });
      this.ejected = new Gauge({
        name: `${prefix}endpoints_ejected`,
        help: 'Endpoints out of rotation now (open or half-open breaker) per service.',
        labelNames: ['service'],
        registers,
        collect() {
          this.reset();
          for (const rt of runtimes()) {
            this.inc({ service: rt.service }, rt.pool.all.length - rt.pool.ready.length);
          }
        },
      });
      this.discoveryErrors = new Counter({
        name: `${prefix}discovery_errors_total`,
        help: 'Failed discovery refreshes (the last known endpoints stay in force).',
        labelNames: ['service'],
        registers,
      });
      this.fallbacks = new Counter({
        name: `${prefix}sidecar_fallbacks_total`,
        help: 'Requests in sidecar mode that found the sidecar unreachable, by reason and action (direct, none).',
        labelNames: ['service', 'reason', 'action'],
        registers,
      });
    } catch (error) {
      throw new MeshError(
        'MESH_BAD_OPTIONS',
        `options.telemetry.metrics: ${(error as Error).message} (another metric uses the name: set another prefix)`,
        { cause: error },
      );
    }
  }

  /** Feed the metrics from `source`'s events and pools; returns the detach function. */
  attach(source: MetricsSource): () => void {
    this.#sources.add(source);
    const events = source.events;
    const onEndpoints = (e: { service: string; removed: string[] }) => {
      for (const url of e.removed) this.#forget(e.service, url);
    };
    const onRetry = (e: { service: string; reason: string }) =>
      this.retries.inc({ service: e.service, reason: codeLabel(e.reason) });
    const onBudget = (e: { service: string }) => this.budgetExhausted.inc(this.#series(e.service).labels);
    const onOpen = (e: { service: string; endpoint: string }) => {
      this.#transition(e.service, e.endpoint, 'open');
      this.ejections.inc(this.#series(e.service).labels);
    };
    const onHalfOpen = (e: { service: string; endpoint: string }) =>
      this.#transition(e.service, e.endpoint, 'half-open');
    const onClose = (e: { service: string; endpoint: string }) =>
      this.#transition(e.service, e.endpoint, 'closed');
    const onDiscovery = (e: { service: string }) => this.discoveryErrors.inc(this.#series(e.service).labels);
    const onFallback = (e: { service: string; reason: string; action: string }) =>
      this.fallbacks.inc({ service: e.service, reason: codeLabel(e.reason), action: e.action });
    events.on('endpoints', onEndpoints);
    events.on('retry', onRetry);
    events.on('retry-budget-exhausted', onBudget);
    events.on('circuit-open', onOpen);
    events.on('circuit-half-open', onHalfOpen);
    events.on('circuit-close', onClose);
    events.on('discovery-error', onDiscovery);
    events.on('sidecar-fallback', onFallback);
    return () => {
      this.#sources.delete(source);
      events.off('endpoints', onEndpoints);
      events.off('retry', onRetry);
      events.off('retry-budget-exhausted', onBudget);
      events.off('circuit-open', onOpen);
      events.off('circuit-half-open', onHalfOpen);
      events.off('circuit-close', onClose);
      events.off('discovery-error', onDiscovery);
      events.off('sidecar-fallback', onFallback);
    };
  }

  /** The head filter: counts each request once, with its outcome and latency. */
  requestFilter(svc: MeteredService): Filter {
    const series = this.#series(svc.service);
    const { pool, clock } = svc;
    return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
      (call: Call<Req>) => {
        const start = clock.now();
        return next(call).then(
          (reply) => {
            this.#request(series, pool, call, reply.status, undefined, clock.now() - start);
            return reply;
          },
          (error: unknown) => {
            this.#request(series, pool, call, undefined, error, clock.now() - start);
            throw error;
          },
        );
      };
  }

  /** Below the balancer: counts each attempt against its endpoint. */
  attemptFilter(svc: MeteredService): Filter {
    const series = this.#series(svc.service);
    const { pool } = svc;
    return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
      (call: Call<Req>) =>
        next(call).then(
          (reply) => {
            this.#attempt(series, pool, call.endpoint, reply.status);
            return reply;
          },
          (error: unknown) => {
            this.#attempt(series, pool, call.endpoint, undefined);
            throw error;
          },
        );
  }

  #request(
    s: ServiceSeries,
    pool: EndpointPool,
    call: Call<unknown>,
    status: number | undefined,
    error: unknown,
    ms: number,
  ): void {
    // Retries run on copies of the call; the shared `tried` list ends with the last attempt's endpoint.
    const url = liveUrl(pool, call.endpoint ?? call.tried.at(-1));
    const eps = s.endpoint(url);
    const m = methodIndex(call.method);
    const c = statusClassIndex(status);
    const i = m * CLASSES + c;
    let cell = eps.requests[i];
    if (!cell) {
      const labels = {
        service: s.service,
        endpoint: eps.label,
        method: METHODS[m]!,
        status_class: STATUS_CLASSES[c]!,
      };
      cell = { labels, n: 0 };
      eps.requests[i] = cell;
    }
    cell.n++;
    this.duration.observe(s.labels, ms / 1000);
    if (status === undefined) {
      const code = codeLabel(errorCode(error) ?? (error instanceof Error ? error.name : undefined));
      let errors = s.errors.get(code);
      if (!errors) {
        errors = { labels: { service: s.service, code }, n: 0 };
        s.errors.set(code, errors);
      }
      errors.n++;
    }
  }

  #attempt(s: ServiceSeries, pool: EndpointPool, ep: Endpoint | undefined, status: number | undefined): void {
    const url = liveUrl(pool, ep);
    const eps = s.endpoint(url);
    const c = statusClassIndex(status);
    let cell = eps.attempts[c];
    if (!cell) {
      cell = { labels: { service: s.service, endpoint: eps.label, status_class: STATUS_CLASSES[c]! }, n: 0 };
      eps.attempts[c] = cell;
    }
    cell.n++;
  }

  #transition(service: string, url: string, state: string): void {
    const eps = this.#series(service).endpoint(url);
    let labels = eps.transitions.get(state);
    if (!labels) {
      labels = { service, endpoint: eps.label, state };
      eps.transitions.set(state, labels);
    }
    this.transitions.inc(labels);
  }

  /** A service's label sets; its per-service counters start at 0 so rates exist before the first event. */
  #series(service: string): ServiceSeries {
    let series = this.#services.get(service);
    if (!series) {
      series = new ServiceSeries(service);
      this.#services.set(service, series);
      this.budgetExhausted.inc(series.labels, 0);
      this.ejections.inc(series.labels, 0);
      this.discoveryErrors.inc(series.labels, 0);
    }
    return series;
  }

  /** Remove every series labelled with an endpoint that left the service. */
  #forget(service: string, url: string): void {
    const s = this.#services.get(service);
    const eps = s?.endpoints.get(url);
    if (!s || !eps || url === '') return;
    for (const cell of eps.requests) if (cell) this.requests.remove(cell.labels);
    for (const cell of eps.attempts) if (cell) this.attempts.remove(cell.labels);
    for (const labels of eps.transitions.values()) this.transitions.remove(labels);
    s.endpoints.delete(url);
  }
}

/** The endpoint's URL while discovery still lists it; `''` for none, or one that has left. */
function liveUrl(pool: EndpointPool, ep: Endpoint | undefined): string {
  return ep !== undefined && pool.get(ep.id) === ep ? ep.url : '';
}

function stateValue(state: EndpointState): number {
  return state === 'open' ? 2 : state === 'half-open' ? 1 : 0;
}
