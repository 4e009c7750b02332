/**
 * Slow start through the options, on real loopback servers: `loadBalancer.slowStart` ramps an
 * endpoint added to a running service (the clock is injected, so the ramp is driven by hand).
 */
import { describe, expect, it } from 'vitest';
import { MeshClient } from '../../src/client/client.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import type { StaticDiscovery } from '../../src/discovery/static.js';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { Upstream } from '../../testkit/upstream.js';

const open = closeAfterEach();

describe('loadBalancer.slowStart', () => {
  it('gives an endpoint added to a running service a share that ramps up over the window', async () => {
    const ups = await Promise.all(['a', 'b', 'c', 'new'].map((n) => Upstream.start(n)));
    open.push(...ups);
    const clock = new ManualClock();
    const mesh = new MeshClient({
      discovery: { static: { users: ups.slice(0, 3).map((u) => u.url) } },
      loadBalancer: { policy: 'round-robin', slowStart: { window: 20_000 } },
      clock,
      random: seededRandom(5),
    });
    open.push(mesh);
    const share = async (n: number) => {
      const before = ups[3]!.count;
      for (let i = 0; i < n; i++) await mesh.request({ service: 'users', url: '/' });
      return (ups[3]!.count - before) / n;
    };
    expect(await share(30)).toBe(0);
    clock.advance(5_000);
    (mesh.discovery as StaticDiscovery).set(
      'users',
      ups.map((u) => u.url),
    );
    // Just joined: 10% (minWeightPercent) of its quarter.
    const early = await share(400);
    expect(early).toBeLessThan(0.06);
    clock.advance(10_000);
    const half = await share(400);
    expect(half).toBeGreaterThan(early);
    expect(half).toBeLessThan(0.2);
    clock.advance(10_000);
    expect(await share(400)).toBeCloseTo(0.25, 1);
  });
});
