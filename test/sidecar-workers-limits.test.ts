/**
 * The `workers` option and what one worker of several holds: the option's validation, each
 * worker's share of the sidecar-wide limits (the connection cap and buffer budget of the
 * listener, the services' concurrency and rate limits, the inbound app's limits, also after
 * `configure()`), tripped over real sockets in an in-process sidecar in the worker role; and the
 * primary's merge of the workers' `/stats` reports. The processes themselves:
 * test/sidecar-workers.test.ts.
 */
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { isMeshError, ManualClock } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { sharedLimits } from '../src/mesh/service.js';
import { parseSidecarConfig } from '../src/sidecar/options.js';
import { Sidecar, type SidecarStatsReport } from '../src/sidecar/sidecar.js';
import { restartBackoff } from '../src/sidecar/workers/primary.js';
import { workersReport } from '../src/sidecar/workers/report.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { raw } from './support/sidecar.js';

const open = closeAfterEach();

function refusal(config: unknown): string {
  try {
    parseSidecarConfig(config);
  } catch (err) {
    expect(isMeshError(err, 'MESH_BAD_OPTIONS')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
}

/** A sidecar on free ports in the role of worker `index` of `count`. */
async function worker(config: Record<string, unknown>, count = 2): Promise<Sidecar> {
  const sidecar = new Sidecar(
    { listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...config },
    { index: 0, count },
  );
  open.push(sidecar);
  return sidecar.start();
}

describe('the workers option', () => {
  it('defaults to 1, takes 1 to 64 or auto, and refuses anything else naming options.workers', () => {
    expect(parseSidecarConfig({}).workers).toBe(1);
    expect(parseSidecarConfig({ workers: 4 }).workers).toBe(4);
    expect(parseSidecarConfig({ workers: 'auto' }).workers).toBe(Math.min(64, availableParallelism()));
    for (const bad of [0, -1, 1.5, 65, 'x', '2', null, true]) {
      expect(refusal({ workers: bad })).toMatch(/^MESH_BAD_OPTIONS: options\.workers: /);
    }
  });

  it('refuses a worker count whose share of bufferBudgetBytes cannot hold one buffered body', () => {
    const message = refusal({ workers: 4, bufferBudgetBytes: 100_000 });
    expect(message).toContain(
      'options.workers: 4 workers divide bufferBudgetBytes (100000) into 25000 bytes',
    );
    expect(message).toContain('less than responseBufferBytes (65536)');
    expect(refusal({ workers: 2, bufferBudgetBytes: 100_000, responseBufferBytes: 0 })).toContain(
      'less than retryBufferBytes (65536)',
    );
    // The same budget is fine for one process, and for workers whose share holds both buffers.
    expect(parseSidecarConfig({ bufferBudgetBytes: 100_000 }).workers).toBe(1);
    expect(parseSidecarConfig({ workers: 2, bufferBudgetBytes: 131_072 }).workers).toBe(2);
  });
});

describe("a worker's share of the sidecar-wide limits", () => {
  it('maxConnections: a worker of 2 admits ceil(5 / 2) = 3 connections, the fourth gets 503', async () => {
    const up = await Upstream.start('u');
    open.push(up);
    const sidecar = await worker({ discovery: { static: { users: [up.url] } }, maxConnections: 5 });
    expect(sidecar.config.maxConnections).toBe(3);
    expect(sidecar.config.bufferBudgetBytes).toBe(32 * 1024 * 1024);
    const port = Number(new URL(sidecar.address).port);
    const held = await Promise.all([0, 1, 2].map(() => connected(port)));
    const refused = await connected(port);
    expect(refused.text).toContain('503');
    expect(refused.text).toContain('x-mesh-error: MESH_OVERLOADED');
    expect(sidecar.report().connections).toEqual({ open: 3, refused: 1 });
    for (const s of [...held, refused]) s.socket.destroy();
  });

  it('limits.rate: 10 requests per second over 2 workers is a bucket of 5 each, also after configure()', async () => {
    const up = await Upstream.start('u');
    open.push(up);
    const clock = new ManualClock();
    const sidecar = await worker({
      discovery: { static: { users: [up.url] } },
      limits: { rate: { rate: 10 } },
      clock,
    });
    const state = sidecar.mesh.service('users');
    expect(state.rateLimit!.tokens).toBe(5);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await raw(sidecar.address, '/', { headers: { host: 'users' } })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(sidecar.report().services.users).toMatchObject({ errors: { MESH_RATE_LIMITED: 1 } });
    // Half a second on the clock earns half of 5 per second.
    clock.advance(500);
    expect(state.rateLimit!.tokens).toBe(2.5);

    sidecar.configure({ limits: { rate: { rate: 40, burst: 8 } } });
    clock.advance(10_000);
    expect(state.rateLimit!.tokens).toBe(4);
  });

  it('limits.concurrency: maxConcurrent 4 over 2 workers is 2 slots each, the third request gets 503', async () => {
    const up = await Upstream.start('u', { kind: 'held' });
    open.push(up);
    const sidecar = await worker({
      discovery: { static: { users: [up.url] } },
      limits: { concurrency: { maxConcurrent: 4, maxQueue: 0 } },
    });
    const first = [0, 1].map(() => raw(sidecar.address, '/', { headers: { host: 'users' } }));
    await up.receivedAtLeast(2);
    const third = await raw(sidecar.address, '/', { headers: { host: 'users' } });
    expect(third.status).toBe(503);
    expect(third.headers['x-mesh-error']).toBe('MESH_BULKHEAD_FULL');
    up.release();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
  });

  it("the inbound app's limits are divided too", async () => {
    const app = await Upstream.start('app');
    open.push(app);
    const sidecar = await worker(
      {
        discovery: { static: {} },
        inbound: { listen: '127.0.0.1:0', app: app.url, limits: { rate: { rate: 6, burst: 9 } } },
      },
      3,
    );
    const inbound = sidecar.inbound!;
    expect(inbound.mesh.service(inbound.service).rateLimit!.tokens).toBe(3);
  });

  it('one process (no worker role) keeps the whole limits and serves admin', async () => {
    const sidecar = new Sidecar({
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      discovery: { static: { users: ['http://127.0.0.1:1'] } },
      limits: { rate: { rate: 10 } },
      maxConnections: 5,
    });
    open.push(sidecar);
    await sidecar.start();
    expect(sidecar.mesh.service('users').rateLimit!.tokens).toBe(10);
    expect(sidecar.config.maxConnections).toBe(5);
    expect(sidecar.report().workers).toBe(1);
    expect((await raw(sidecar.adminAddress, '/ready')).status).toBe(200);
  });

  it('a worker opens no admin listener', async () => {
    const sidecar = await worker({ discovery: { static: {} } });
    expect(sidecar.adminAddress).toBe('');
    expect(sidecar.report().workers).toBe(2);
  });

  it('sharedLimits rounds counts up (at least 1) and scales rate and burst (at least 1)', () => {
    const limits = {
      concurrency: { maxConcurrent: 5, maxQueue: 3, maxWait: 1_000 },
      rate: { rate: 1, burst: undefined },
    };
    expect(sharedLimits(limits, 1 / 4)).toEqual({
      concurrency: { maxConcurrent: 2, maxQueue: 1, maxWait: 1_000 },
      rate: { rate: 0.25, burst: 1 },
    });
    expect(
      sharedLimits({ concurrency: { maxConcurrent: 1, maxQueue: 0, maxWait: 5 }, rate: false }, 1 / 8),
    ).toEqual({
      concurrency: { maxConcurrent: 1, maxQueue: 0, maxWait: 5 },
      rate: false,
    });
    expect(sharedLimits(limits, undefined)).toBe(limits);
  });
});

/** Connect, send one request, resolve with the socket once an answer (or the close) came. */
function connected(port: number): Promise<{ socket: net.Socket; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write('GET / HTTP/1.1\r\nHost: users\r\n\r\n'),
    );
    let text = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) resolve({ socket, text });
    });
    socket.on('close', () => resolve({ socket, text }));
  });
}

describe("the primary's /stats", () => {
  const report = (over: Partial<SidecarStatsReport>): SidecarStatsReport => ({
    listen: 'http://127.0.0.1:15001',
    ready: true,
    inFlight: 0,
    connections: { open: 0, refused: 0 },
    bufferedBytes: 0,
    refused: {},
    workers: 2,
    services: {},
    ...over,
  });
  const endpoint = (id: string, requests: number, failures: number, inFlight: number, state = 'healthy') => ({
    id,
    url: id,
    state,
    ejected: false,
    inFlight,
    latencyMs: 3,
    requests,
    failures,
  });

  it('sums counts, merges latency exactly and endpoints by id, takes the policy and state from the first', () => {
    const a = report({
      inFlight: 1,
      connections: { open: 2, refused: 1 },
      bufferedBytes: 10,
      refused: { MESH_UNKNOWN_SERVICE: 2 },
      services: {
        users: {
          requests: 3,
          responses: { '2xx': 2, '5xx': 1 },
          errors: { ECONNREFUSED: 1 },
          latency: { count: 3, meanMs: 10, maxMs: 20 },
          policy: { from: 'a' },
          endpoints: [endpoint('http://u1', 3, 1, 1, 'open'), endpoint('http://u2', 1, 0, 0)],
        },
      },
    });
    const b = report({
      inFlight: 2,
      connections: { open: 1, refused: 0 },
      bufferedBytes: 5,
      refused: { MESH_UNKNOWN_SERVICE: 1, MESH_BAD_REQUEST: 1 },
      services: {
        users: {
          requests: 1,
          responses: { '2xx': 1 },
          errors: {},
          latency: { count: 1, meanMs: 30, maxMs: 30 },
          policy: { from: 'b' },
          endpoints: [endpoint('http://u2', 2, 1, 1), endpoint('http://u1', 1, 0, 0)],
        },
        orders: { requests: 0, policy: { from: 'b' }, endpoints: [] },
      },
    });
    const merged = workersReport(
      [
        { index: 0, pid: 10, state: 'up', report: a },
        { index: 1, pid: 11, state: 'up', report: b },
      ],
      { listen: 'http://127.0.0.1:15001', ready: true, workers: 2 },
    );
    expect(merged).toMatchObject({
      ready: true,
      workers: 2,
      inFlight: 3,
      connections: { open: 3, refused: 1 },
      bufferedBytes: 15,
      refused: { MESH_UNKNOWN_SERVICE: 3, MESH_BAD_REQUEST: 1 },
    });
    expect(merged.services.users).toEqual({
      requests: 4,
      responses: { '2xx': 3, '5xx': 1 },
      errors: { ECONNREFUSED: 1 },
      latency: { count: 4, meanMs: 15, maxMs: 30 },
      policy: { from: 'a' },
      endpoints: [endpoint('http://u1', 4, 1, 1, 'open'), endpoint('http://u2', 3, 1, 1)],
    });
    expect(merged.services.orders).toEqual({ requests: 0, policy: { from: 'b' }, endpoints: [] });
    expect(merged.perWorker).toEqual([
      { index: 0, pid: 10, state: 'up', ready: true, inFlight: 1, requests: 3 },
      { index: 1, pid: 11, state: 'up', ready: true, inFlight: 2, requests: 1 },
    ]);
  });

  it('lists a worker that did not answer, one starting and one down, and merges only the answers', () => {
    const merged = workersReport(
      [
        { index: 0, pid: 10, state: 'up', report: report({ services: { users: { requests: 2 } } }) },
        { index: 1, pid: 11, state: 'up', report: undefined },
        { index: 2, pid: 12, state: 'starting', report: undefined },
        { index: 3, pid: undefined, state: 'down', report: undefined },
      ],
      { listen: 'http://127.0.0.1:15001', ready: false, workers: 4 },
    );
    expect(merged.services.users).toEqual({ requests: 2 });
    expect(merged.perWorker.map((w) => [w.state, w.ready])).toEqual([
      ['up', true],
      ['no answer', false],
      ['starting', false],
      ['down', false],
    ]);
    expect(merged).toMatchObject({ ready: false, workers: 4 });
  });
});

describe("the primary's restart backoff", () => {
  it('100 ms, doubling to 10 s while workers keep failing; back to 100 ms after a minute up', () => {
    const delays: number[] = [];
    let next = 100;
    for (let i = 0; i < 9; i++) {
      const step = restartBackoff(next, 500);
      delays.push(step.delay);
      next = step.next;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000]);
    expect(restartBackoff(10_000, 59_999)).toEqual({ delay: 10_000, next: 10_000 });
    expect(restartBackoff(10_000, 60_000)).toEqual({ delay: 100, next: 200 });
  });
});
