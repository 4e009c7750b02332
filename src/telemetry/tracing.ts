/**
 * Tracing on the OpenTelemetry API alone (`@opentelemetry/api`; the application brings the SDK,
 * as the OpenTelemetry guidance for libraries asks). Two filters:
 *
 * - at the head of the pipeline, one span per request (`GET users`): CLIENT in the fat client,
 *   SERVER in the sidecar, which first extracts the caller's W3C trace context from the incoming
 *   headers so its spans are children of the caller's;
 * - right below the balancer, one CLIENT span per attempt (`GET`), the physical HTTP request,
 *   with the endpoint, attempt number and breaker state as attributes, whose context is injected
 *   into the attempt's outgoing headers (`traceparent`, `tracestate`) through the API's global
 *   propagator, so the upstream's spans are children of the attempt that reached it.
 *
 * Attribute names are OpenTelemetry's HTTP semantic conventions (`http.request.method`,
 * `server.address`, `server.port`, `url.path`, `http.response.status_code`, `error.type`,
 * `http.request.resend_count`); mesh facts are under `mesh.*`. Retries, budget refusals and
 * breaker transitions become span events on the span active when they happen.
 *
 * Without an SDK the API hands out non-recording spans with an invalid context: both filters then
 * go straight to the next handler after one `startSpan` (no context switch, no injection), so
 * tracing that is on but unused costs a few hundred nanoseconds per request.
 */
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { Endpoint, EndpointState } from '../core/endpoint.js';
import { errorCode } from '../errors/classify.js';
import type { MeshEmitter } from './events.js';
import { normalizeMethod } from './labels.js';
import type { TracingOptions } from './options.js';

/** The instrumentation scope name spans are reported under. */
export const TRACER_NAME = 'mesh-client';

/** Baggage entry carrying the milliseconds a request has left (see timeout/propagation.ts). */
export const DEADLINE_BAGGAGE = 'mesh.deadline_ms';

/** Headers as a carrier: node's incoming headers, the sidecar's forwarded ones, a plain record. */
export type HeaderCarrier = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The trace context the caller sent in `headers` (W3C `traceparent` / `tracestate` with the
 * default SDK propagator), as a child of `parent`. With no propagator registered this is `parent`.
 */
export function extractContext(headers: HeaderCarrier, parent: Context = context.active()): Context {
  return propagation.extract(parent, headers);
}

/** The headers that carry `ctx` to the next hop (empty when no propagator is registered). */
export function injectContext(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/**
 * The request span's context, by the `tried` array all attempts of one request share: the
 * attempt filter finds its parent here even when the application registered no context manager.
 */
const requestContexts = new WeakMap<object, Context>();

/** Where a span is about: host, port and scheme of an endpoint URL, parsed once per endpoint. */
const addresses = new WeakMap<Endpoint, Attributes>();

function addressOf(ep: Endpoint): Attributes {
  let attrs = addresses.get(ep);
  if (!attrs) {
    const url = new URL(ep.url);
    const scheme = url.protocol.slice(0, -1);
    attrs = {
      'server.address': url.hostname.replace(/^\[|\]$/g, ''),
      'server.port': url.port ? Number(url.port) : scheme === 'https' ? 443 : 80,
      'url.scheme': scheme,
      'mesh.endpoint': ep.url,
    };
    addresses.set(ep, attrs);
  }
  return attrs;
}

function pathOnly(path: string): string {
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}

/** The tracing filters and span events of one mesh. */
export class MeshTracing {
  readonly tracer: Tracer;

  /**
   * @param options - `true` for the global API's tracer, or `{ tracer }`.
   * @param incoming - the sidecar: each request arrives with its caller's trace context in headers.
   */
  constructor(
    options: true | TracingOptions,
    readonly incoming: boolean,
  ) {
    this.tracer = (options !== true && options.tracer) || trace.getTracer(TRACER_NAME);
  }

  /** The head filter: one span per request, current for everything below it. */
  requestFilter(service: string): Filter {
    const { tracer, incoming } = this;
    const kind = incoming ? SpanKind.SERVER : SpanKind.CLIENT;
    return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
      (call: Call<Req>) => {
        const parent = incoming ? extractContext(headersOf(call.request)) : context.active();
        const span = tracer.startSpan(`${call.method} ${service}`, { kind }, parent);
        if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return next(call);
        if (span.isRecording()) {
          span.setAttributes({
            ...methodAttributes(call.method),
            'server.address': service,
            'url.path': pathOnly(call.path),
            'mesh.service': service,
          });
        }
        const ctx = trace.setSpan(parent, span);
        requestContexts.set(call.tried, ctx);
        return context.with(ctx, next, undefined, call).then(
          (reply) => {
            end(span, kind, reply.status, undefined, attemptsOf(call));
            return reply;
          },
          (error: unknown) => {
            end(span, kind, undefined, error, attemptsOf(call));
            throw error;
          },
        );
      };
  }

  /** Below the balancer: one span per attempt, its context sent to the upstream. */
  attemptFilter(clock: Clock, service?: { readonly breakers?: BreakerStates | undefined }): Filter {
    const { tracer } = this;
    return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
      (call: Call<Req>) => {
        const parent = requestContexts.get(call.tried) ?? context.active();
        const span = tracer.startSpan(call.method, { kind: SpanKind.CLIENT }, parent);
        if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return next(call);
        const attempt = call.attempt || 1;
        if (span.isRecording()) {
          const ep = call.endpoint!;
          span.setAttributes({
            ...methodAttributes(call.method),
            ...addressOf(ep),
            'url.path': pathOnly(call.path),
            'mesh.service': call.service,
            'mesh.attempt': attempt,
            'mesh.breaker.state': breakerState(service?.breakers?.stateOf(ep)),
          });
          if (attempt > 1) span.setAttribute('http.request.resend_count', attempt - 1);
        }
        let ctx = trace.setSpan(parent, span);
        // The time the request has left also travels as OpenTelemetry baggage, for tracing-aware
        // hops that know nothing of the mesh's own header (a registered baggage propagator sends it).
        if (Number.isFinite(call.deadline)) {
          const left = String(Math.max(0, Math.floor(call.deadline - clock.now())));
          const baggage = (propagation.getBaggage(ctx) ?? propagation.createBaggage()).setEntry(
            DEADLINE_BAGGAGE,
            {
              value: left,
            },
          );
          ctx = propagation.setBaggage(ctx, baggage);
        }
        const carrier = injectContext(ctx);
        for (const _ in carrier) {
          call.headers = { ...call.headers, ...carrier };
          break;
        }
        return context.with(ctx, next, undefined, call).then(
          (reply) => {
            end(span, SpanKind.CLIENT, reply.status, undefined, undefined);
            return reply;
          },
          (error: unknown) => {
            end(span, SpanKind.CLIENT, undefined, error, undefined);
            throw error;
          },
        );
      };
  }

  /**
   * For a hand-off to a sidecar (a client in `mode: 'sidecar'`): the current span's context
   * (the request span, when {@link MeshTracing.requestFilter} runs above) goes out in the
   * request's headers, so the sidecar's spans, and the upstream's, join the caller's trace.
   */
  handOffFilter(): Filter {
    return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
      (call: Call<Req>) => {
        const carrier = injectContext(requestContexts.get(call.tried) ?? context.active());
        for (const _ in carrier) {
          call.headers = { ...call.headers, ...carrier };
          break;
        }
        return next(call);
      };
  }

  /**
   * Retry, budget and breaker facts as events on the span current when they happen: the request
   * span for retries and budget refusals, the attempt span for a breaker that opens on it.
   * Needs a context manager (the SDK's AsyncLocalStorage one); without it the events are skipped.
   */
  attach(events: MeshEmitter): void {
    const addEvent = (name: string, attributes: Attributes) => {
      const span = trace.getActiveSpan();
      if (span?.isRecording()) span.addEvent(name, attributes);
    };
    events.on('retry', (e) =>
      addEvent('mesh.retry', {
        'mesh.attempt': e.attempt,
        'mesh.retry.reason': e.reason,
        'mesh.retry.delay_ms': e.delayMs,
        ...(e.endpoint ? { 'mesh.endpoint': e.endpoint } : {}),
      }),
    );
    events.on('retry-budget-exhausted', (e) =>
      addEvent('mesh.retry_budget_exhausted', { 'mesh.attempt': e.attempt, 'mesh.retry.reason': e.reason }),
    );
    events.on('circuit-open', (e) =>
      addEvent('mesh.circuit_open', {
        'mesh.endpoint': e.endpoint,
        'mesh.breaker.trips': e.trips,
        'mesh.breaker.retry_in_ms': e.retryInMs,
      }),
    );
    events.on('circuit-close', (e) => addEvent('mesh.circuit_close', { 'mesh.endpoint': e.endpoint }));
  }
}

function headersOf(request: unknown): HeaderCarrier {
  const headers = (request as { headers?: unknown } | null)?.headers;
  return typeof headers === 'object' && headers !== null ? (headers as HeaderCarrier) : {};
}

function methodAttributes(method: string): Attributes {
  const normal = normalizeMethod(method);
  return normal === method
    ? { 'http.request.method': method }
    : { 'http.request.method': normal, 'http.request.method_original': method };
}

/** Attempts a request made: those the retry filter recorded, or the one without it. */
function attemptsOf(call: Call<unknown>): number {
  return Math.max(call.tried.length, call.endpoint ? 1 : 0);
}

/**
 * Close a span with the outcome. Status follows the HTTP conventions: for a CLIENT span 4xx and
 * 5xx are errors, for a SERVER span only 5xx (a 404 is the caller's mistake, not the server's).
 */
function end(
  span: Span,
  kind: SpanKind,
  status: number | undefined,
  error: unknown,
  attempts: number | undefined,
): void {
  if (span.isRecording()) {
    if (attempts !== undefined) span.setAttribute('mesh.attempts', attempts);
    if (status !== undefined) {
      span.setAttribute('http.response.status_code', status);
      if (status >= (kind === SpanKind.SERVER ? 500 : 400)) {
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    } else {
      const code = errorCode(error) ?? (error instanceof Error ? error.name : 'Error');
      span.setAttribute('error.type', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    }
  }
  span.end();
}

/** What the attempt spans read of a service's breakers. */
interface BreakerStates {
  stateOf(ep: Endpoint): EndpointState;
}

/** The OpenTelemetry-style name of a breaker state (`closed` while healthy or without a breaker). */
function breakerState(state: EndpointState | undefined): string {
  return state === undefined || state === 'healthy' ? 'closed' : state;
}
