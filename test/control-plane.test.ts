/**
 * The control plane on Consul KV, in both positions (fat client and in-process sidecar), against
 * the Consul emulator: a `consul kv put` of new canary weights reaches routing live (measured),
 * a bad value is rejected with an event and the last good configuration stays, a deleted key
 * removes the overrides. Real loopback upstreams.
 */
import { describe, expect, it } from 'vitest';
import { MeshClient } from '../src/client/client.js';
import type { MeshEvents } from '../src/telemetry/events.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { sidecarFor } from './support/sidecar.js';
import { versionFleet, whoAnswers } from './support/versions.js';

const open = closeAfterEach();

const KEY = 'mesh/config';

const toV2 = (percent: number) =>
  JSON.stringify({
    services: {
      svc: {
        routing: {
          default: {
            split: [
              { subset: { version: 'v1' }, weight: 100 - percent },
              { subset: { version: 'v2' }, weight: percent },
            ],
          },
        },
      },
    },
  });

interface Harness {
  who(): Promise<string>;
  on<E extends keyof MeshEvents>(event: E, listener: MeshEvents[E]): void;
}

async function setup(position: 'client' | 'sidecar') {
  const consul = await ConsulEmulator.start();
  const { discovery } = await versionFleet(open);
  const options = {
    discovery,
    services: { svc: { routing: { default: { subset: { version: 'v1' } } } } },
    controlPlane: { key: KEY, consul: { host: '127.0.0.1', port: consul.port }, backoffBase: 20 },
  };
  let h: Harness;
  if (position === 'client') {
    const mesh = new MeshClient(options);
    open.push(mesh);
    h = {
      who: whoAnswers(mesh),
      on: (event, listener) => void mesh.on(event, listener),
    };
  } else {
    const sidecar = await sidecarFor(options);
    open.push(sidecar);
    h = {
      who: whoAnswers(sidecar),
      on: (event, listener) => void sidecar.mesh.events.on(event, listener as never),
    };
  }
  // Closed last: the watches must end before their agent goes.
  open.push(consul);
  return { consul, h };
}

function next<E extends keyof MeshEvents>(h: Harness, event: E): Promise<Parameters<MeshEvents[E]>[0]> {
  return new Promise((resolve) => h.on(event, ((e: Parameters<MeshEvents[E]>[0]) => resolve(e)) as never));
}

describe.each(['client', 'sidecar'] as const)('control plane on Consul KV (%s)', (position) => {
  it('a kv put of new weights reaches routing live; bad values are rejected, the last good kept', async () => {
    const { consul, h } = await setup(position);
    // The key does not exist yet: the watch reports it absent, the started options stay.
    await next(h, 'config-applied');
    expect(await h.who()).toBe('v1');

    const start = performance.now();
    const applied = next(h, 'config-applied');
    consul.kv.put(KEY, toV2(100));
    const event = await applied;
    const reached = performance.now() - start;
    expect(event).toMatchObject({ key: KEY, present: true });
    expect(await h.who()).toBe('v2');
    console.log(`${position}: kv put -> applied to routing in ${reached.toFixed(1)} ms`);

    // Not JSON: rejected, v2 stays.
    let rejected = next(h, 'config-rejected');
    consul.kv.put(KEY, '{ not json');
    expect((await rejected).error.message).toMatch(/not JSON/);
    expect(await h.who()).toBe('v2');

    // JSON, but not valid options: rejected naming the path.
    rejected = next(h, 'config-rejected');
    consul.kv.put(KEY, JSON.stringify({ services: { svc: { retry: { attempts: 0 } } } }));
    expect((await rejected).error.message).toContain('options.services.svc.retry.attempts');
    expect(await h.who()).toBe('v2');

    // Deleting the key removes the overrides: back to the started options.
    const removed = next(h, 'config-applied');
    consul.kv.delete(KEY);
    expect(await removed).toMatchObject({ present: false });
    expect(await h.who()).toBe('v1');
  });

  it('Consul down: errors are reported, the configuration stays, and a later put still applies', async () => {
    const { consul, h } = await setup(position);
    await next(h, 'config-applied');
    const applied = next(h, 'config-applied');
    consul.kv.put(KEY, toV2(100));
    await applied;
    const failed = next(h, 'control-plane-error');
    await consul.stop();
    expect((await failed).key).toBe(KEY);
    expect(await h.who()).toBe('v2');
    const back = next(h, 'config-applied');
    await consul.start();
    consul.kv.put(KEY, toV2(0));
    expect(await back).toMatchObject({ present: true });
    expect(await h.who()).toBe('v1');
  });
});
