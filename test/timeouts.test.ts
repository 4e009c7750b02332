/**
 * Deadlines and per-try timeouts against hanging loopback servers. The mesh runs on a
 * ManualClock, so a test moves time only after the server has the request: no wall-clock waits.
 * A timeout reaches the caller as axios's timeout error (ECONNABORTED), the mesh's MESH_TIMEOUT
 * detail as its cause.
 */
import { AxiosError, CanceledError } from 'axios';
import { isMeshError, ManualClock, MeshClient, type MeshClientOptions, type MeshError } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

async function setup(behaviours: Upstream['behaviour'][], options: MeshClientOptions) {
  const ups = await Promise.all(behaviours.map((b, i) => Upstream.start(`u${i}`, b)));
  const clock = new ManualClock();
  const mesh = new MeshClient({
    discovery: { static: { svc: ups.map((u) => u.url) } },
    loadBalancer: 'round-robin',
    clock,
    random: () => 0,
    ...options,
  });
  open.push(...ups, mesh);
  return { ups, clock, mesh };
}

/** The MESH_TIMEOUT a caller's timeout error carries, after checking it is axios's. */
function meshTimeout(err: unknown) {
  expect(err).toBeInstanceOf(AxiosError);
  expect((err as AxiosError).code).toBe('ECONNABORTED');
  const cause = (err as AxiosError).cause;
  expect(isMeshError(cause, 'MESH_TIMEOUT')).toBe(true);
  return cause as MeshError;
}

describe('total deadline', () => {
  it('fails with MESH_TIMEOUT when a server hangs past the deadline', async () => {
    const { ups, clock, mesh } = await setup([{ kind: 'hang' }], {
      timeout: { total: 1_000, perTry: false },
    });
    const pending = mesh.request({ service: 'svc', url: '/slow' }).catch((e) => e);
    await ups[0]!.receivedAtLeast(1);
    clock.advance(999);
    clock.advance(1);
    const err = meshTimeout(await pending);
    expect(err.service).toBe('svc');
    // The deadline timer is gone; what is left is the breakers' shared rotation timer, until close.
    expect(clock.pending).toBe(1);
    await mesh.close();
    expect(clock.pending).toBe(0);
  });

  it('bounds all attempts and backoffs together', async () => {
    const { ups, clock, mesh } = await setup([{ kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' }], {
      timeout: { total: 1_000, perTry: 400 },
      retry: { attempts: 5, backoff: { base: 0, cap: 0 } },
    });
    const pending = mesh.request({ service: 'svc', url: '/x' }).catch((e) => e);
    await ups[0]!.receivedAtLeast(1);
    clock.advance(400);
    await ups[1]!.receivedAtLeast(1);
    clock.advance(400);
    await ups[2]!.receivedAtLeast(1);
    clock.advance(200);
    const err = meshTimeout(await pending);
    expect(err.message).toMatch(/deadline passed during attempt 3/);
    expect(ups.map((u) => u.count)).toEqual([1, 1, 1]);
  });

  it("a request's axios timeout overrides the policy's total", async () => {
    const { ups, clock, mesh } = await setup([{ kind: 'hang' }], {
      timeout: { total: 60_000, perTry: false },
    });
    const pending = mesh.request({ service: 'svc', url: '/x', timeout: 50 }).catch((e) => e);
    await ups[0]!.receivedAtLeast(1);
    clock.advance(50);
    const err = await pending;
    meshTimeout(err);
    expect(err.message).toBe('timeout of 50ms exceeded');
  });
});

describe('per-try timeout', () => {
  it('a hung endpoint costs one attempt; the GET succeeds on the next endpoint', async () => {
    const { ups, clock, mesh } = await setup([{ kind: 'hang' }, { kind: 'ok' }], {
      timeout: { total: 10_000, perTry: 300 },
      retry: { attempts: 2, backoff: { base: 0, cap: 0 } },
    });
    const retries: string[] = [];
    mesh.on('retry', (e) => retries.push(e.reason));
    const pending = mesh.request({ service: 'svc', url: '/x' });
    await ups[0]!.receivedAtLeast(1);
    clock.advance(300);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(retries).toEqual(['MESH_TIMEOUT']);
  });

  it('a POST that timed out is not retried', async () => {
    const { ups, clock, mesh } = await setup([{ kind: 'hang' }, { kind: 'ok' }], {
      timeout: { total: 10_000, perTry: 300 },
    });
    const pending = mesh.request({ service: 'svc', method: 'POST', url: '/x', data: {} }).catch((e) => e);
    await ups[0]!.receivedAtLeast(1);
    clock.advance(300);
    const err = meshTimeout(await pending);
    expect(err.message).toMatch(/attempt 1 timed out after 300 ms/);
    expect(ups[1]!.count).toBe(0);
  });
});

describe('caller cancellation', () => {
  it("honours the caller's AbortSignal with axios's CanceledError", async () => {
    const { ups, mesh } = await setup([{ kind: 'hang' }], {});
    const controller = new AbortController();
    const pending = mesh.request({ service: 'svc', url: '/x', signal: controller.signal }).catch((e) => e);
    await ups[0]!.receivedAtLeast(1);
    controller.abort();
    expect(await pending).toBeInstanceOf(CanceledError);
  });

  it('an already-aborted signal sends nothing', async () => {
    const { ups, mesh } = await setup([{ kind: 'ok' }], {});
    const err = await mesh
      .request({ service: 'svc', url: '/x', signal: AbortSignal.abort() })
      .catch((e) => e);
    expect(err).toBeInstanceOf(CanceledError);
    expect(ups[0]!.count).toBe(0);
  });

  it('a cancelled request does not count against the endpoint', async () => {
    const { ups, mesh } = await setup([{ kind: 'hang' }], { circuitBreaker: { volumeThreshold: 1 } });
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = mesh
        .request({ service: 'svc', url: '/x', signal: controller.signal })
        .catch(() => undefined);
      await ups[0]!.receivedAtLeast(i + 1);
      controller.abort();
      await pending;
    }
    expect(mesh.endpoints('svc')[0]).toMatchObject({ state: 'healthy', failures: 0 });
  });
});
