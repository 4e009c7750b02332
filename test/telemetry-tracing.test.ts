/**
 * Tracing through the OpenTelemetry API, checked with the SDK's in-memory exporter (a dev
 * dependency only): a span per request and per attempt with the HTTP semantic-convention
 * attributes, W3C `traceparent` received by real upstreams, the trace continued through the
 * sidecar, and nothing at all without an SDK or with `tracing: false`.
 */

import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MeshClient } from 'mesh-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { ClientPosition } from '../src/client/position.js';
import { type Call, compose, newCall } from '../src/core/call.js';
import { Mesh } from '../src/mesh/mesh.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';
import { useTracingSdk } from './support/tracing-sdk.js';

const open = closeAfterEach();

async function upstream(name: string, behaviour?: Upstream['behaviour']) {
  const up = await Upstream.start(name, behaviour);
  open.push(up);
  return up;
}

function client(options: ConstructorParameters<typeof MeshClient>[0]) {
  const mesh = new MeshClient(options);
  open.push(mesh);
  return mesh;
}

/** `traceparent: 00-<trace id>-<parent span id>-<flags>` split into its parts. */
function parseTraceparent(value: unknown): { traceId: string; parentId: string } {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(String(value));
  if (!match) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1]!, parentId: match[2]! };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('without an SDK', () => {
  it('tracing is on by default and a no-op: no traceparent is sent, requests work', async () => {
    const ok = await upstream('ok');
    const mesh = client({ discovery: { static: { users: [ok.url] } } });
    expect((await mesh.service('users').get('/x')).status).toBe(200);
    expect(ok.received[0]!.headers.traceparent).toBeUndefined();
  });
});

describe('with an SDK', () => {
  const exporter = useTracingSdk();
  const tracer = () => trace.getTracer('test');

  beforeEach(() => exporter.reset());

  it('the time left travels as baggage too, when a baggage propagator is registered', async () => {
    // The API refuses to replace a registered global propagator: disable the suite's first.
    propagation.disable();
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
    try {
      const ok = await upstream('ok');
      const mesh = client({ discovery: { static: { users: [ok.url] } }, timeout: { total: 2_000 } });
      await mesh.service('users').get('/x');
      const baggage = String(ok.received[0]!.headers.baggage);
      const left = Number(/mesh\.deadline_ms=(\d+)/.exec(baggage)?.[1]);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(2_000);
      expect(Number(ok.received[0]!.headers['x-mesh-deadline-ms'])).toBeLessThanOrEqual(left);
    } finally {
      propagation.disable();
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    }
  });

  it('a client span per request, a child span per attempt, traceparent from the attempt', async () => {
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const mesh = client({
      discovery: { static: { users: [bad.url] } },
      retry: { attempts: 2, budget: false, backoff: { base: 0, cap: 0 } },
      circuitBreaker: false,
    });
    const app = await tracer().startActiveSpan('app', async (span) => {
      await mesh.service('users').get('/users/42?full=1', { validateStatus: null });
      span.end();
      return span;
    });

    const spans = exporter.getFinishedSpans();
    const request = spans.find((s) => s.name === 'GET users')!;
    const attempts = spans
      .filter((s) => s.name === 'GET')
      .sort((a, b) => Number(a.attributes['mesh.attempt']) - Number(b.attributes['mesh.attempt']));
    expect(request.kind).toBe(SpanKind.CLIENT);
    expect(request.spanContext().traceId).toBe(app.spanContext().traceId);
    expect(parentOf(request)).toBe(app.spanContext().spanId);
    expect(request.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': 'users',
      'url.path': '/users/42',
      'mesh.service': 'users',
      'mesh.attempts': 2,
      'http.response.status_code': 503,
      'error.type': '503',
    });
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.events.map((e) => e.name)).toEqual(['mesh.retry']);
    expect(request.events[0]!.attributes).toMatchObject({ 'mesh.retry.reason': '503', 'mesh.attempt': 1 });

    const { port } = new URL(bad.url);
    expect(attempts).toHaveLength(2);
    for (const [i, attempt] of attempts.entries()) {
      expect(attempt.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(attempt)).toBe(request.spanContext().spanId);
      expect(attempt.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': Number(port),
        'url.scheme': 'http',
        'url.path': '/users/42',
        'mesh.endpoint': bad.url,
        'mesh.attempt': i + 1,
        'mesh.breaker.state': 'closed',
        'http.response.status_code': 503,
      });
    }
    expect(attempts[0]!.attributes['http.request.resend_count']).toBeUndefined();
    expect(attempts[1]!.attributes['http.request.resend_count']).toBe(1);

    // The upstream saw each attempt's own span as its parent, in the app's trace.
    const received = bad.received.map((r) => parseTraceparent(r.headers.traceparent));
    expect(received).toEqual(
      attempts.map((a) => ({ traceId: app.spanContext().traceId, parentId: a.spanContext().spanId })),
    );
  });

  it('a refused request ends its span with the error code', async () => {
    const mesh = client({ discovery: { static: {} } });
    await expect(mesh.service('nobody').get('/x')).rejects.toThrow();
    const [request] = exporter.getFinishedSpans();
    expect(request!.name).toBe('GET nobody');
    expect(request!.attributes['error.type']).toBe('MESH_NO_ENDPOINTS');
    expect(request!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'MESH_NO_ENDPOINTS' });
  });

  it('a breaker opening is an event on the attempt span it opened on', async () => {
    const bad = await upstream('bad', { kind: 'status', status: 503 });
    const ok = await upstream('ok');
    const mesh = client({
      discovery: { static: { users: [bad.url, ok.url] } },
      loadBalancer: 'round-robin',
      retry: false,
      circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 60_000 },
    });
    const opened = new Promise((resolve) => mesh.once('circuit-open', resolve));
    for (let i = 0; i < 10 && bad.count < 2; i++)
      await mesh.service('users').get('/x', { validateStatus: null });
    await opened;
    const events = exporter
      .getFinishedSpans()
      .filter((s) => s.name === 'GET')
      .flatMap((s) => s.events.map((e) => ({ name: e.name, endpoint: s.attributes['mesh.endpoint'] })));
    expect(events).toEqual([{ name: 'mesh.circuit_open', endpoint: bad.url }]);
  });

  it('tracing: false records no span and sends no traceparent', async () => {
    const ok = await upstream('ok');
    const mesh = client({ discovery: { static: { users: [ok.url] } }, telemetry: { tracing: false } });
    await mesh.service('users').get('/x');
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(ok.received[0]!.headers.traceparent).toBeUndefined();
  });

  it('a tracer given in the options is used instead of the global one', async () => {
    const ok = await upstream('ok');
    const own = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(own)] });
    const mesh = client({
      discovery: { static: { users: [ok.url] } },
      telemetry: { tracing: { tracer: provider.getTracer('mine') } },
    });
    await mesh.service('users').get('/x');
    expect(
      own
        .getFinishedSpans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['GET', 'GET users']);
    expect(own.getFinishedSpans()[0]!.instrumentationScope.name).toBe('mine');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  describe('through the sidecar', () => {
    it("the sidecar's spans are children of the caller's; the upstream sees the caller's trace", async () => {
      const ok = await upstream('ok');
      const sidecar = await sidecarFor({ discovery: { static: { users: [ok.url] } } });
      open.push(sidecar);
      const app = await tracer().startActiveSpan('app', { kind: SpanKind.CLIENT }, async (span) => {
        const headers: Record<string, string> = { host: 'users' };
        propagation.inject(context.active(), headers);
        expect((await raw(sidecar.address, '/users/7', { headers })).status).toBe(200);
        span.end();
        return span;
      });

      const spans = exporter.getFinishedSpans();
      const request = spans.find((s) => s.name === 'GET users')!;
      const attempt = spans.find((s) => s.name === 'GET')!;
      expect(request.kind).toBe(SpanKind.SERVER);
      expect(request.spanContext().traceId).toBe(app.spanContext().traceId);
      expect(parentOf(request)).toBe(app.spanContext().spanId);
      expect(parentOf(attempt)).toBe(request.spanContext().spanId);
      expect(parseTraceparent(ok.received[0]!.headers.traceparent)).toEqual({
        traceId: app.spanContext().traceId,
        parentId: attempt.spanContext().spanId,
      });
    });

    it('a fat client hands its trace to the sidecar, which hands it on', async () => {
      const ok = await upstream('ok');
      const sidecar = await sidecarFor({ discovery: { static: { users: [ok.url] } } });
      open.push(sidecar);
      // The client delivers to the sidecar as its endpoint, naming the service in Host.
      const mesh = client({
        discovery: { static: { users: [sidecar.address] } },
        axios: { headers: { host: 'users' } },
      });
      const app = await tracer().startActiveSpan('app', async (span) => {
        await mesh.service('users').get('/users/7');
        span.end();
        return span;
      });
      const { traceId } = parseTraceparent(ok.received[0]!.headers.traceparent);
      expect(traceId).toBe(app.spanContext().traceId);
      const names = exporter.getFinishedSpans().map((s) => `${s.name}/${SpanKind[s.kind]}`);
      expect(names.sort()).toEqual([
        'GET users/CLIENT',
        'GET users/SERVER',
        'GET/CLIENT',
        'GET/CLIENT',
        'app/INTERNAL',
      ]);
    });

    it('a sidecar with tracing off passes the caller’s traceparent through unchanged', async () => {
      const ok = await upstream('ok');
      const sidecar = await sidecarFor({
        discovery: { static: { users: [ok.url] } },
        telemetry: { tracing: false },
      });
      open.push(sidecar);
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await raw(sidecar.address, '/x', { headers: { host: 'users', traceparent } });
      expect(ok.received[0]!.headers.traceparent).toBe(traceparent);
      expect(exporter.getFinishedSpans()).toEqual([]);
    });

    it('the hand-off stages (a client in sidecar mode) send the request span to the sidecar', async () => {
      const ok = await upstream('ok');
      const sidecar = await sidecarFor({ discovery: { static: { users: [ok.url] } } });
      open.push(sidecar);
      const core = new Mesh({}, new ClientPosition());
      open.push(core);
      // The request span and the hand-off's trace context, as the pipeline composes them in sidecar
      // mode, over a transport that sends to the sidecar by Host.
      const tracing = core.telemetry.tracing!;
      const handler = compose(
        tracing.requestFilter('users'),
        tracing.handOffFilter(),
      )(async (call: Call) => {
        const res = await raw(sidecar.address, call.path, { headers: { host: 'users', ...call.headers } });
        return { status: res.status };
      });
      const app = await tracer().startActiveSpan('app', async (span) => {
        await handler(
          newCall({
            service: 'users',
            method: 'GET',
            path: '/users/7',
            hashKey: undefined,
            idempotent: true,
            replayable: true,
            request: undefined,
            signal: core.shutdown,
            deadline: Number.POSITIVE_INFINITY,
          }),
        );
        span.end();
        return span;
      });
      const spans = exporter.getFinishedSpans();
      const client = spans.find((s) => s.name === 'GET users' && s.kind === SpanKind.CLIENT)!;
      const server = spans.find((s) => s.name === 'GET users' && s.kind === SpanKind.SERVER)!;
      expect(parentOf(client)).toBe(app.spanContext().spanId);
      expect(parentOf(server)).toBe(client.spanContext().spanId);
      expect(parseTraceparent(ok.received[0]!.headers.traceparent).traceId).toBe(app.spanContext().traceId);
    });
  });
});
