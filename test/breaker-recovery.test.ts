/**
 * Breakers close on evidence: half-open lets `halfOpenTrials` trials through and closes only
 * after that many consecutive successes; a failed trial re-opens it for a longer, jittered
 * recovery time. Real servers on loopback; recovery timers on a ManualClock.
 */

import { type CircuitOpenEvent, ManualClock, MeshClient } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

async function setup(random = () => 1) {
  const [flaky, good] = await Promise.all([
    Upstream.start('flaky', { kind: 'status', status: 500 }),
    Upstream.start('good'),
  ]);
  const clock = new ManualClock();
  const mesh = new MeshClient({
    discovery: { static: { svc: [flaky.url, good.url] } },
    loadBalancer: 'round-robin',
    retry: false,
    circuitBreaker: { volumeThreshold: 2, resetTimeout: 1_000, maxResetTimeout: 4_000, halfOpenTrials: 3 },
    clock,
    random,
  });
  open.push(flaky, good, mesh);
  const opened: CircuitOpenEvent[] = [];
  const states: string[] = [];
  mesh.on('circuit-open', (e) => {
    opened.push(e);
    states.push('open');
  });
  mesh.on('circuit-half-open', () => states.push('half-open'));
  mesh.on('circuit-close', () => states.push('close'));
  const state = () => mesh.endpoints('svc').find((e) => e.url === flaky.url)!.state;
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) await mesh.request({ service: 'svc', url: '/' }).catch(() => undefined);
  };
  return { flaky, good, clock, mesh, opened, states, state, send };
}

describe('breaker recovery on evidence', () => {
  it('closes only after N consecutive successful trials', async () => {
    const { flaky, clock, state, send, states } = await setup();
    await send(4);
    expect(state()).toBe('open');
    flaky.behaviour = { kind: 'ok' };
    const before = flaky.count;
    await send(10);
    expect(flaky.count).toBe(before); // out of rotation until the recovery time passes

    clock.advance(1_000);
    expect(state()).toBe('half-open');
    // Round-robin alternates: every other request is a trial, until three succeeded.
    await send(5);
    expect(flaky.count - before).toBe(3);
    expect(state()).toBe('healthy');
    expect(states).toEqual(['open', 'half-open', 'close']);
  });

  it('a failed trial re-opens it, for twice as long, up to the maximum', async () => {
    const { clock, state, send, opened } = await setup();
    await send(4);
    for (let trip = 1; trip <= 4; trip++) {
      expect(state()).toBe('open');
      const wait = opened.at(-1)!.retryInMs;
      clock.advance(wait - 1);
      expect(state()).toBe('open');
      clock.advance(1);
      expect(state()).toBe('half-open');
      await send(2); // one of these is a trial: the endpoint still answers 500
    }
    expect(opened.map((e) => [e.trips, e.retryInMs])).toEqual([
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 4_000],
      [5, 4_000],
    ]);
  });

  it('recovery times are jittered between half and all of the backoff', async () => {
    const { clock, send, opened } = await setup(() => 0);
    await send(4);
    expect(opened[0]!.retryInMs).toBe(500);
    clock.advance(500);
    await send(2);
    expect(opened[1]!.retryInMs).toBe(1_000);
  });

  it('a success after a failed trial does not count toward closing', async () => {
    const { flaky, clock, state, send } = await setup();
    await send(4);
    clock.advance(1_000);
    flaky.behaviour = { kind: 'ok' };
    await send(2); // one successful trial
    flaky.behaviour = { kind: 'status', status: 500 };
    await send(2); // a failed trial: open again, trips = 2
    expect(state()).toBe('open');
    flaky.behaviour = { kind: 'ok' };
    clock.advance(2_000);
    await send(4); // two successes: not yet
    expect(state()).toBe('half-open');
    await send(2); // the third consecutive success closes it
    expect(state()).toBe('healthy');
  });
});
