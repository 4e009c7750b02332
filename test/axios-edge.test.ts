/**
 * The fat client's axios edge, where the mesh differs from a bare axios call on purpose or in
 * ways the compatibility suite cannot show: how a request's `timeout` meets the policy's
 * deadline and per-try limit (on a ManualClock, moved only once the server has the request),
 * the timeout error a policy limit gives, cancellation listeners released after the call, and
 * refusals made before the pipeline (so they never reach a breaker, a retry or a sidecar).
 * Every server is a real one on loopback.
 */
import { getEventListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { AxiosError } from 'axios';
import {
  isMeshError,
  ManualClock,
  MeshClient,
  type MeshClientOptions,
  withIncomingDeadline,
} from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

async function setup(options: MeshClientOptions = {}, behaviour: Upstream['behaviour'] = { kind: 'hang' }) {
  const up = await Upstream.start('u', behaviour);
  const clock = new ManualClock();
  const mesh = new MeshClient({ discovery: { static: { svc: [up.url] } }, clock, ...options });
  open.push(up, mesh);
  return { up, clock, mesh };
}

/** A server that counts every request it receives (a stand-in sidecar that must see nothing). */
async function counting(): Promise<{ url: string; readonly count: number; close(): Promise<void> }> {
  let count = 0;
  const server = http.createServer((_req, res) => {
    count++;
    res.end('{}');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const box = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get count() {
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.push(box);
  return box;
}

describe('a request timeout is the deadline and the per-attempt limit', () => {
  for (const transport of ['axios', 'undici'] as const) {
    it(`lifts the policy's per-try limit for that request (${transport})`, async () => {
      const { up, clock, mesh } = await setup({
        transport,
        timeout: { total: 60_000, perTry: 300 },
        retry: { attempts: 3, backoff: { base: 0, cap: 0 } },
      });
      const pending = mesh.request({ service: 'svc', url: '/x', timeout: 5_000 }).catch((e) => e);
      await up.receivedAtLeast(1);
      clock.advance(300);
      clock.advance(4_699);
      // Neither the per-try limit nor a retry cut in: the one attempt is still waiting.
      expect(up.count).toBe(1);
      clock.advance(1);
      const err = await pending;
      expect(err).toBeInstanceOf(AxiosError);
      expect([err.code, err.message]).toEqual(['ECONNABORTED', 'timeout of 5000ms exceeded']);
      expect(isMeshError(err.cause, 'MESH_TIMEOUT')).toBe(true);
      expect(err.cause.message).toMatch(/deadline passed during attempt 1/);
      expect(err.request).toBeTruthy();
      expect(up.count).toBe(1);
    });
  }

  it('a numeric string is parsed as axios parses it', async () => {
    const { up, clock, mesh } = await setup({ timeout: { total: 60_000, perTry: false } });
    const pending = mesh.request({ service: 'svc', url: '/x', timeout: '250' as never }).catch((e) => e);
    await up.receivedAtLeast(1);
    clock.advance(249);
    clock.advance(1);
    const err = await pending;
    expect([err.code, err.message]).toEqual(['ECONNABORTED', 'timeout of 250ms exceeded']);
  });

  it('refuses what axios cannot parse, and a negative timeout (which crashes axios), sending nothing', async () => {
    const { up, mesh } = await setup({}, { kind: 'ok' });
    for (const timeout of [{}, 'soon', -5, Number.POSITIVE_INFINITY]) {
      const err = await mesh
        .request({ service: 'svc', url: '/x', timeout: timeout as never })
        .catch((e) => e);
      expect(err).toBeInstanceOf(AxiosError);
      expect(err.code).toBe('ERR_BAD_OPTION_VALUE');
      expect(err.config.timeout).toEqual(timeout);
    }
    expect(up.count).toBe(0);
  });

  it('a timeout past what a Node timer holds arms no timer (Node would fire it at once)', async () => {
    const { up, clock, mesh } = await setup({ timeout: { total: false, perTry: false } });
    const before = clock.pending;
    const controller = new AbortController();
    const pending = mesh
      .request({ service: 'svc', url: '/x', timeout: 2 ** 31, signal: controller.signal })
      .catch((e) => e);
    await up.receivedAtLeast(1);
    expect(clock.pending).toBe(before);
    controller.abort();
    expect(axios.isCancel(await pending)).toBe(true);
  });
});

describe("a policy limit gives axios's timeout error too", () => {
  it("the policy's deadline: ECONNABORTED naming the limit that struck", async () => {
    const { up, clock, mesh } = await setup({ timeout: { total: 1_000, perTry: false } });
    const pending = mesh.request({ service: 'svc', url: '/x' }).catch((e) => e);
    await up.receivedAtLeast(1);
    clock.advance(1_000);
    const err = await pending;
    expect([err.code, err.message]).toEqual([
      'ECONNABORTED',
      'timeout exceeded: deadline passed during attempt 1',
    ]);
    expect(err.config.url).toBe('/x');
  });

  it('the per-try limit, with clarifyTimeoutError and timeoutErrorMessage', async () => {
    const { up, clock, mesh } = await setup({ timeout: { total: 10_000, perTry: 300 } });
    // A POST: not retried after a timeout, so the first attempt's timeout is the request's.
    const pending = mesh
      .request({
        service: 'svc',
        method: 'POST',
        url: '/x',
        timeoutErrorMessage: 'svc is slow',
        transitional: { clarifyTimeoutError: true },
      })
      .catch((e) => e);
    await up.receivedAtLeast(1);
    clock.advance(300);
    const err = await pending;
    expect([err.code, err.message]).toEqual(['ETIMEDOUT', 'svc is slow']);
    expect(err.cause.message).toMatch(/attempt 1 timed out after 300 ms/);
  });

  it("a shorter inherited deadline is named, not the request's own timeout", async () => {
    const { up, clock, mesh } = await setup({ timeout: { total: false, perTry: false } });
    const pending = withIncomingDeadline({ headers: { 'x-mesh-deadline-ms': '100' } }, () =>
      mesh.request({ service: 'svc', url: '/x', timeout: 10_000 }).catch((e) => e),
    );
    await up.receivedAtLeast(1);
    clock.advance(100);
    const err = await pending;
    expect([err.code, err.message]).toEqual([
      'ECONNABORTED',
      'timeout exceeded: deadline passed during attempt 1',
    ]);
  });

  it('a deadline that passes before the request is sent: ECONNABORTED, nothing sent', async () => {
    const { up, mesh } = await setup({ timeout: { total: 1_000, perTry: false } }, { kind: 'ok' });
    // An incoming request with no time left (see withIncomingDeadline).
    const err = await withIncomingDeadline({ headers: { 'x-mesh-deadline-ms': '0' } }, () =>
      mesh.request({ service: 'svc', url: '/x' }).catch((e) => e),
    );
    expect(err.code).toBe('ECONNABORTED');
    expect(err.cause.message).toMatch(/before the request was sent/);
    expect(up.count).toBe(0);
  });
});

describe('cancellation', () => {
  for (const transport of ['axios', 'undici'] as const) {
    it(`a token cancelled in flight does not count against the endpoint (${transport})`, async () => {
      const { up, mesh } = await setup({ transport, circuitBreaker: { volumeThreshold: 1 } });
      for (let i = 0; i < 3; i++) {
        const source = axios.CancelToken.source();
        const pending = mesh
          .request({ service: 'svc', url: '/x', cancelToken: source.token })
          .catch((e) => e);
        await up.receivedAtLeast(i + 1);
        source.cancel('stop');
        const err = await pending;
        expect(err).toBe(source.token.reason);
      }
      expect(mesh.endpoints('svc')[0]).toMatchObject({ state: 'healthy', failures: 0 });
    });
  }

  it("the caller's signal is listened to only while the request runs", async () => {
    const { mesh } = await setup({}, { kind: 'ok' });
    const controller = new AbortController();
    await mesh.request({ service: 'svc', url: '/x', signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('refusals happen before the pipeline', () => {
  const refused: Array<[string, Record<string, unknown>]> = [
    ['socketPath', { url: '/x', socketPath: '/tmp/mesh-none.sock' }],
    ['an absolute URL', { url: 'http://127.0.0.1:1/x' }],
    ['a //host URL', { url: '//elsewhere/x' }],
    ['a data: URL', { url: 'data:text/plain,hi' }],
  ];

  it('they never reach a breaker, an attempt or the transport', async () => {
    const { up, mesh } = await setup({ circuitBreaker: { volumeThreshold: 1 } }, { kind: 'ok' });
    const attempts: unknown[] = [];
    mesh.on('attempt', (e) => attempts.push(e));
    for (const [, config] of refused) {
      const err = await mesh.request({ service: 'svc', ...config }).catch((e) => e);
      expect(isMeshError(err, 'MESH_BAD_REQUEST')).toBe(true);
    }
    expect(attempts).toEqual([]);
    expect(up.count).toBe(0);
    expect(mesh.endpoints('svc')[0]).toMatchObject({ state: 'healthy', failures: 0 });
  });

  it('in sidecar mode too: the sidecar never sees them', async () => {
    const sidecar = await counting();
    const mesh = new MeshClient({ mode: 'sidecar', sidecar: { url: sidecar.url, fallback: 'none' } });
    open.push(mesh);
    for (const [what, config] of refused) {
      const err = await mesh.request({ service: 'svc', ...config }).catch((e) => e);
      expect(isMeshError(err, 'MESH_BAD_REQUEST'), what).toBe(true);
    }
    expect(sidecar.count).toBe(0);
    // The same client reaches the sidecar with an ordinary request.
    await mesh.request({ service: 'svc', url: '/x' });
    expect(sidecar.count).toBe(1);
  });
});
