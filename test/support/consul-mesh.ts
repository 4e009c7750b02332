/**
 * Helpers of the MeshClient-over-Consul suite: clients on the agent in use (see ./consul-target.ts),
 * loopback upstreams, and waiting for the client's own `endpoints` events (the moment routing
 * changes), so tests follow events instead of sleeping; and a deep dump of payloads, to search for
 * secrets in.
 */
import { inspect } from 'node:util';
import {
  type ConsulDiscoveryOptions,
  type EndpointsEvent,
  MeshClient,
  type MeshClientOptions,
  type MeshEvents,
} from 'mesh-client';
import { onTestFinished } from 'vitest';
import { Upstream } from '../../testkit/upstream.js';
import { connection, FAST } from './consul-target.js';

/** A MeshClient on the agent in use, round-robin so spreads are predictable; closed when the test ends. */
export function client(consul: ConsulDiscoveryOptions = {}, options: MeshClientOptions = {}): MeshClient {
  const mesh = new MeshClient({
    discovery: { consul: { ...connection(), ...FAST, ...consul } },
    loadBalancer: 'round-robin',
    ...options,
  });
  onTestFinished(() => mesh.close().catch(() => undefined));
  return mesh;
}

/** Loopback upstreams, closed when the test ends. */
export async function upstreams(...names: string[]): Promise<Upstream[]> {
  const ups = await Promise.all(names.map((n) => Upstream.start(n)));
  onTestFinished(() => Promise.all(ups.map((u) => u.close())).then(() => undefined));
  return ups;
}

/** The port an upstream listens on. */
export function portOf(up: Upstream): number {
  return Number(new URL(up.url).port);
}

/**
 * Resolves with the time (performance.now()) of the first `endpoints` event of `service` that passes
 * `test`; listen before causing the change.
 */
export function whenEndpoints(
  mesh: MeshClient,
  service: string,
  test: (e: EndpointsEvent) => boolean,
  timeout = 5_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      mesh.off('endpoints', listener);
      reject(new Error(`no matching endpoints event for ${service} within ${timeout} ms`));
    }, timeout);
    const listener = (e: EndpointsEvent) => {
      if (e.service !== service || !test(e)) return;
      clearTimeout(timer);
      mesh.off('endpoints', listener);
      resolve(performance.now());
    };
    mesh.on('endpoints', listener);
  });
}

/** Send `n` requests to `service`, one at a time; every one must succeed. Returns who served them. */
export async function served(mesh: MeshClient, service: string, n: number): Promise<string[]> {
  const who: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await mesh.request<{ upstream: string }>({ service, url: `/r/${i}` });
    who.push(res.data.upstream);
  }
  return who;
}

/** Every event name, so a test can record every payload. */
export const EVENTS = [
  'endpoints',
  'attempt',
  'retry',
  'retry-budget-exhausted',
  'circuit-open',
  'circuit-half-open',
  'circuit-close',
  'discovery-error',
  'sidecar-fallback',
] as const satisfies readonly (keyof MeshEvents)[];

/** Everything `value` holds, errors' messages, stacks and causes included, as JSON and as inspect() shows it. */
export function deepText(value: unknown): string {
  const seen = new WeakSet<object>();
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null) return v;
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    return v instanceof Error
      ? { ...v, name: v.name, message: v.message, stack: v.stack, cause: v.cause }
      : v;
  });
  return `${json}\n${inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true, getters: true })}`;
}
