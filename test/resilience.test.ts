/**
 * Failure scenarios against real loopback servers: refused connections, 503s, slow and hung
 * endpoints, resets. Figures (success rates, shares) are printed so a run's log can be quoted.
 */
import { AxiosError } from 'axios';
import { type BalancerPolicy, isMeshError, MeshClient, type MeshClientOptions } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

async function fleet(...behaviours: Upstream['behaviour'][]): Promise<Upstream[]> {
  const ups = await Promise.all(behaviours.map((b, i) => Upstream.start(`u${i}`, b)));
  open.push(...ups);
  return ups;
}

function client(urls: string[], options: MeshClientOptions = {}): MeshClient {
  const mesh = new MeshClient({ discovery: { static: { svc: urls } }, ...options });
  open.push(mesh);
  return mesh;
}

async function drive(mesh: MeshClient, n: number, method = 'GET', concurrency = 4) {
  let ok = 0;
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      try {
        await mesh.request({ service: 'svc', method, url: '/x' });
        ok++;
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, errors, successRate: ok / n };
}

const share = (up: Upstream, ups: Upstream[]) => up.count / ups.reduce((s, u) => s + u.count, 0);
const balancers: BalancerPolicy[] = ['peak-ewma', 'least-request', 'round-robin', 'random'];

describe('spread', () => {
  it('round-robin spreads evenly over healthy endpoints', async () => {
    const ups = await fleet({ kind: 'ok' }, { kind: 'ok' }, { kind: 'ok' });
    const mesh = client(
      ups.map((u) => u.url),
      { loadBalancer: 'round-robin' },
    );
    await drive(mesh, 300, 'GET', 1);
    expect(ups.map((u) => u.count)).toEqual([100, 100, 100]);
  });

  it.each(['peak-ewma', 'least-request', 'random'] as const)(
    '%s gives every healthy endpoint a fair share',
    async (lb) => {
      const ups = await fleet({ kind: 'ok' }, { kind: 'ok' }, { kind: 'ok' });
      const mesh = client(
        ups.map((u) => u.url),
        { loadBalancer: lb },
      );
      await drive(mesh, 600, 'GET', 8);
      for (const up of ups) expect(share(up, ups)).toBeGreaterThan(0.15);
    },
  );

  it('honours weights', async () => {
    const ups = await fleet({ kind: 'ok' }, { kind: 'ok' });
    const mesh = new MeshClient({
      discovery: {
        static: {
          svc: [
            { url: ups[0]!.url, weight: 1 },
            { url: ups[1]!.url, weight: 3 },
          ],
        },
      },
      loadBalancer: 'round-robin',
    });
    open.push(mesh);
    await drive(mesh, 400, 'GET', 1);
    expect(ups.map((u) => u.count)).toEqual([100, 300]);
  });
});

describe('one endpoint refusing connections', () => {
  it.each(balancers)('%s: every GET still succeeds', async (lb) => {
    const ups = await fleet({ kind: 'ok' }, { kind: 'ok' });
    const dead = await closedPortUrl();
    const mesh = client([...ups.map((u) => u.url), dead], { loadBalancer: lb });
    const { successRate, errors } = await drive(mesh, 300);
    console.log(`refused endpoint, ${lb}: success ${(successRate * 100).toFixed(1)}%`);
    expect(errors).toEqual([]);
    expect(successRate).toBe(1);
  });
});

describe('one endpoint answering 503', () => {
  it('requests succeed; the bad endpoint is ejected and gets a small share', async () => {
    const ups = await fleet({ kind: 'ok' }, { kind: 'ok' }, { kind: 'status', status: 503 });
    const mesh = client(
      ups.map((u) => u.url),
      { loadBalancer: 'round-robin', circuitBreaker: { volumeThreshold: 5, resetTimeout: 60_000 } },
    );
    const opened: string[] = [];
    mesh.on('circuit-open', (e) => opened.push(e.endpoint));
    const { successRate } = await drive(mesh, 300);
    const bad = share(ups[2]!, ups);
    console.log(
      `503 endpoint, round-robin + breaker: success ${(successRate * 100).toFixed(1)}%, bad share ${(bad * 100).toFixed(1)}%`,
    );
    expect(successRate).toBe(1);
    expect(opened).toEqual([ups[2]!.url]);
    expect(mesh.endpoints('svc').find((e) => e.url === ups[2]!.url)).toMatchObject({
      state: 'open',
      ejected: true,
    });
    expect(bad).toBeLessThan(0.05);
  });

  it('peak-ewma does not reward an endpoint for failing fast (no breaker, no retry)', async () => {
    const ups = await fleet(
      { kind: 'slow', ms: 5 },
      { kind: 'slow', ms: 5 },
      { kind: 'status', status: 503 },
    );
    const mesh = client(
      ups.map((u) => u.url),
      { loadBalancer: 'peak-ewma', circuitBreaker: false, retry: false },
    );
    const { successRate } = await drive(mesh, 300);
    const bad = share(ups[2]!, ups);
    console.log(
      `fast-failing 503 endpoint, peak-ewma alone: bad share ${(bad * 100).toFixed(1)}%, success ${(successRate * 100).toFixed(1)}%`,
    );
    expect(bad).toBeLessThan(0.05);
  });
});

describe('one slow endpoint', () => {
  it('peak-ewma sends it little; round-robin does not', async () => {
    const run = async (lb: BalancerPolicy) => {
      const ups = await fleet({ kind: 'ok' }, { kind: 'ok' }, { kind: 'slow', ms: 60 });
      const mesh = client(
        ups.map((u) => u.url),
        { loadBalancer: lb },
      );
      await drive(mesh, 300, 'GET', 4);
      return share(ups[2]!, ups);
    };
    const ewma = await run('peak-ewma');
    const rr = await run('round-robin');
    console.log(
      `slow endpoint share: peak-ewma ${(ewma * 100).toFixed(1)}%, round-robin ${(rr * 100).toFixed(1)}%`,
    );
    expect(ewma).toBeLessThan(0.05);
    expect(rr).toBeGreaterThan(0.3);
  });
});

describe('what is retried', () => {
  it('a POST answered 503 is not retried and reaches the server exactly once', async () => {
    const [bad] = await fleet({ kind: 'status', status: 503 });
    const mesh = client([bad!.url]);
    const err = await mesh
      .request({ service: 'svc', method: 'POST', url: '/orders', data: { n: 1 } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(AxiosError);
    expect((err as AxiosError).response?.status).toBe(503);
    expect(bad!.count).toBe(1);
  });

  it('a POST to a refused endpoint is retried and reaches a live server exactly once', async () => {
    const [live] = await fleet({ kind: 'ok' });
    const dead = await closedPortUrl();
    // Round-robin from the dead endpoint first, so the first attempt is refused.
    const mesh = client([dead, live!.url], { loadBalancer: 'round-robin' });
    const retries: string[] = [];
    mesh.on('retry', (e) => retries.push(e.reason));
    const res = await mesh.request({ service: 'svc', method: 'POST', url: '/orders', data: { n: 1 } });
    expect(res.status).toBe(200);
    expect(retries).toEqual(['ECONNREFUSED']);
    expect(live!.count).toBe(1);
    expect(live!.received[0]).toMatchObject({ method: 'POST', body: '{"n":1}' });
  });

  it('a POST whose connection is reset is not retried (it may have been processed)', async () => {
    const [reset, live] = await fleet({ kind: 'reset' }, { kind: 'ok' });
    const mesh = client([reset!.url, live!.url], { loadBalancer: 'round-robin' });
    const err = await mesh
      .request({ service: 'svc', method: 'POST', url: '/pay', data: 'x' })
      .catch((e) => e);
    expect((err as AxiosError).code).toBe('ECONNRESET');
    expect(reset!.count).toBe(1);
    expect(live!.count).toBe(0);
  });

  it('a GET whose connection is reset is retried on another endpoint', async () => {
    const [reset, live] = await fleet({ kind: 'reset' }, { kind: 'ok' });
    const mesh = client([reset!.url, live!.url], { loadBalancer: 'round-robin' });
    const res = await mesh.request({ service: 'svc', url: '/x' });
    expect(res.status).toBe(200);
    expect([reset!.count, live!.count]).toEqual([1, 1]);
  });

  it('a POST marked idempotent is retried on 503', async () => {
    const [bad, live] = await fleet({ kind: 'status', status: 503 }, { kind: 'ok' });
    const mesh = client([bad!.url, live!.url], { loadBalancer: 'round-robin' });
    const res = await mesh.request({ service: 'svc', method: 'POST', url: '/x', idempotent: true });
    expect(res.status).toBe(200);
  });

  it('each retry goes to an endpoint not tried yet', async () => {
    const ups = await fleet(
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
    );
    const mesh = client(
      ups.map((u) => u.url),
      { loadBalancer: 'random', circuitBreaker: false, retry: { attempts: 3, budget: false } },
    );
    for (let i = 0; i < 20; i++) {
      const before = ups.map((u) => u.count);
      await mesh.request({ service: 'svc', url: '/x' }).catch(() => undefined);
      expect(ups.map((u, j) => u.count - before[j]!)).toEqual([1, 1, 1]);
    }
  });
});

describe('total outage', () => {
  it('the retry budget bounds load amplification', async () => {
    const measure = async (budget: false | { ratio: number; minPerSecond: number }) => {
      const ups = await fleet({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
      const mesh = client(
        ups.map((u) => u.url),
        { circuitBreaker: false, retry: { attempts: 3, budget, backoff: { base: 0, cap: 0 } } },
      );
      const n = 500;
      await drive(mesh, n, 'GET', 8);
      return ups.reduce((s, u) => s + u.count, 0) / n;
    };
    const without = await measure(false);
    const withBudget = await measure({ ratio: 0.2, minPerSecond: 0 });
    console.log(
      `total outage amplification: ${without.toFixed(2)}x without budget, ${withBudget.toFixed(2)}x with 20% budget`,
    );
    expect(without).toBe(3);
    expect(withBudget).toBeLessThanOrEqual(1.2 + 1 / 500);
  });

  it('with every endpoint failing, breakers never eject past the cap and traffic still flows', async () => {
    const ups = await fleet(
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
    );
    const mesh = client(
      ups.map((u) => u.url),
      {
        loadBalancer: 'round-robin',
        retry: false,
        circuitBreaker: { volumeThreshold: 3, resetTimeout: 60_000, maxEjectionPercent: 50 },
      },
    );
    let opened = 0;
    mesh.on('circuit-open', () => opened++);
    const { errors } = await drive(mesh, 200, 'GET', 1);
    const ejected = mesh.endpoints('svc').filter((e) => e.ejected);
    expect(opened).toBe(2);
    expect(ejected).toHaveLength(2);
    // Every request got an answer from an endpoint (a 500), none was refused by the mesh.
    expect(errors.every((e) => e instanceof AxiosError && e.response?.status === 500)).toBe(true);
    expect(ups.reduce((s, u) => s + u.count, 0)).toBe(200);
  });

  it('a single endpoint whose breaker opened fails fast with MESH_CIRCUIT_OPEN', async () => {
    const [bad] = await fleet({ kind: 'status', status: 500 });
    const mesh = client([bad!.url], {
      retry: false,
      circuitBreaker: { volumeThreshold: 2, resetTimeout: 60_000 },
    });
    await drive(mesh, 5, 'GET', 1);
    const err = await mesh.request({ service: 'svc', url: '/x' }).catch((e) => e);
    expect(isMeshError(err, 'MESH_CIRCUIT_OPEN')).toBe(true);
    expect(bad!.count).toBe(2);
  });
});

describe('breaker recovery', () => {
  it('open -> half-open -> closed once the endpoint recovers', async () => {
    const [flaky, good] = await fleet({ kind: 'status', status: 500 }, { kind: 'ok' });
    const mesh = client([flaky!.url, good!.url], {
      loadBalancer: 'round-robin',
      retry: false,
      circuitBreaker: { volumeThreshold: 2, resetTimeout: 50 },
    });
    const halfOpen = new Promise((resolve) => mesh.once('circuit-half-open', resolve));
    await drive(mesh, 6, 'GET', 1);
    expect(mesh.endpoints('svc').find((e) => e.url === flaky!.url)?.state).toBe('open');
    flaky!.behaviour = { kind: 'ok' };
    await halfOpen;
    const closed = new Promise((resolve) => mesh.once('circuit-close', resolve));
    // Keep sending until the half-open trial lands on the recovered endpoint.
    while (mesh.endpoints('svc').find((e) => e.url === flaky!.url)?.state !== 'healthy') {
      await mesh.request({ service: 'svc', url: '/x' });
    }
    await closed;
    expect(mesh.endpoints('svc').every((e) => !e.ejected)).toBe(true);
  });
});
