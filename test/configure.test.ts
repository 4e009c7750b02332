/**
 * `mesh.configure(partial)`: validated like the constructor's options, merged onto those in
 * force, applied from the next request on, while requests in flight finish on the pipeline they
 * started on. Real loopback upstreams.
 */
import { describe, expect, it } from 'vitest';
import { MeshClient } from '../src/client/client.js';
import { ManualClock } from '../src/core/clock.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { sidecarFor } from './support/sidecar.js';
import { versionFleet, whoAnswers } from './support/versions.js';

const open = closeAfterEach();

const split = (v1: number, v2: number) => ({
  routing: {
    default: {
      split: [
        { subset: { version: 'v1' }, weight: v1 },
        { subset: { version: 'v2' }, weight: v2 },
      ],
    },
  },
});

/** The v1/v2 fleet, and the options that route all of `svc` to v1. */
async function versions() {
  const { v1, v2, discovery } = await versionFleet(open);
  return { v1, v2, options: { discovery, services: { svc: split(100, 0) } } };
}

async function canary() {
  const { v1, v2, options } = await versions();
  const mesh = new MeshClient(options);
  open.push(mesh);
  return { v1, v2, mesh, who: whoAnswers(mesh) };
}

describe('mesh.configure()', () => {
  it('a canary weight change takes effect on the next request; an in-flight request completes', async () => {
    const { v1, mesh, who } = await canary();
    expect(await who()).toBe('v1');
    v1.behaviour = { kind: 'held' };
    const inFlight = mesh.request<{ upstream: string }>({ service: 'svc', url: '/held' });
    await v1.receivedAtLeast(2);
    const start = performance.now();
    mesh.configure({ services: { svc: split(0, 100) } });
    const applied = performance.now() - start;
    const next = await who();
    const effective = performance.now() - start;
    console.log(
      `configure(): ${applied.toFixed(2)} ms to apply; first request on the new split answered after ${effective.toFixed(2)} ms`,
    );
    expect(next).toBe('v2');
    v1.release();
    const held = await inFlight;
    expect(held.status).toBe(200);
    expect(held.data.upstream).toBe('v1');
    // 50/50 with a stable key per request: both versions get traffic.
    mesh.configure({ services: { svc: split(50, 50) } });
    v1.behaviour = { kind: 'ok' };
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await who());
    expect(seen).toEqual(new Set(['v1', 'v2']));
  });

  it('rejects a bad partial with MESH_BAD_OPTIONS naming the path, and keeps what was in force', async () => {
    const { mesh, who } = await canary();
    let caught: unknown;
    try {
      mesh.configure({ retry: { attempts: 0 } });
    } catch (err) {
      caught = err;
    }
    expect(isMeshError(caught, 'MESH_BAD_OPTIONS')).toBe(true);
    expect((caught as Error).message).toContain('options.retry.attempts');
    expect(() => mesh.configure({ services: { svc: { limits: { rate: { rate: -1 } } } } })).toThrow(
      /options\.services\.svc\.limits\.rate/,
    );
    // Neither construction-only options nor unknown keys are accepted.
    expect(() => mesh.configure({ discovery: { static: {} } } as never)).toThrow(/discovery/);
    expect(await who()).toBe('v1');
  });

  it('turns limits on and off live, keeping the bucket between changes', async () => {
    const up = await Upstream.start('u');
    open.push(up);
    const clock = new ManualClock();
    const mesh = new MeshClient({ discovery: { static: { svc: [up.url] } }, clock });
    open.push(mesh);
    const status = () =>
      mesh.request({ service: 'svc', url: '/' }).then(
        (r) => r.status,
        (err: unknown) => (isMeshError(err) ? err.code : 'other'),
      );
    expect(await status()).toBe(200);
    mesh.configure({ limits: { rate: { rate: 1, burst: 1 } } });
    expect(await status()).toBe(200);
    expect(await status()).toBe('MESH_RATE_LIMITED');
    mesh.configure({ limits: { rate: { rate: 1, burst: 2 } } });
    // Tokens earned so far are kept: none yet.
    expect(await status()).toBe('MESH_RATE_LIMITED');
    clock.advance(1000);
    expect(await status()).toBe(200);
    mesh.configure({ limits: { rate: false } });
    for (let i = 0; i < 5; i++) expect(await status()).toBe(200);
  });

  it('after close() it refuses with MESH_CLOSED', async () => {
    const { mesh } = await canary();
    await mesh.close();
    expect(() => mesh.configure({ retry: false })).toThrow(/closed/);
  });

  it('sidecar.configure() shifts the routing of the sidecar the same way', async () => {
    const { options } = await versions();
    const sidecar = await sidecarFor(options);
    open.push(sidecar);
    const who = whoAnswers(sidecar);
    expect(await who()).toBe('v1');
    sidecar.configure({ services: { svc: split(0, 100) } });
    expect(await who()).toBe('v2');
    expect(() => sidecar.configure({ services: { svc: { hedge: { delay: -1 } } } })).toThrow(
      /options\.services\.svc\.hedge\.delay/,
    );
  });
});
