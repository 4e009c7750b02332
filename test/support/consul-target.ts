/**
 * The Consul agent the Consul suites talk to, and the helpers they share.
 *
 * By default each test file starts its own Consul emulator (./consul-emulator.ts, a TEST DOUBLE of the
 * agent API). With `CONSUL_HTTP_ADDR` set, the same suites run against that real agent instead
 * (`consul agent -dev`, then `CONSUL_HTTP_ADDR=127.0.0.1:8500 npm test`; `CONSUL_HTTP_TOKEN` is sent
 * when set); tests that need the emulator's own helpers (index bumps, outages, ACL tokens, in-flight
 * counts) skip themselves then, by checking {@link REAL}.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import type { EndpointInfo } from '../../src/core/endpoint.js';
import { resolveConsulConnection } from '../../src/discovery/consul/connection.js';
import { ConsulDiscovery, type ConsulOptions } from '../../src/discovery/consul/discovery.js';
import { ConsulRegistrar } from '../../src/discovery/consul/registration.js';
import { ConsulEmulator, type ConsulEmulatorOptions } from '../../testkit/consul-emulator.js';

/** The real agent's address, when the suites run against one. */
export const REAL = process.env.CONSUL_HTTP_ADDR;
/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Quick enough for tests; the defaults are minutes and seconds. */
export const FAST = {
  wait: 5_000,
  minWakeupInterval: 20,
  backoffBase: 20,
  backoffMax: 200,
  initialTimeout: 5_000,
};

/** The agent in use; set by the hooks of {@link useConsulTarget}. */
export const target: { emulator: ConsulEmulator | undefined; addr: string } = {
  emulator: undefined,
  addr: '',
};

/** Start the emulator before the file's tests (unless {@link REAL}) and close it after them. */
export function useConsulTarget(options: ConsulEmulatorOptions = { minCheckInterval: 100 }): void {
  beforeAll(async () => {
    if (REAL) target.addr = REAL.replace(/^https?:\/\//, '');
    else {
      target.emulator = await ConsulEmulator.start(options);
      target.addr = target.emulator.address;
    }
  });
  afterAll(async () => {
    await target.emulator?.close();
    target.emulator = undefined;
  });
}

/** The environment that points the library at the agent in use. */
export function env(): Record<string, string | undefined> {
  return {
    CONSUL_HTTP_ADDR: REAL ?? target.addr,
    CONSUL_HTTP_TOKEN: REAL ? process.env.CONSUL_HTTP_TOKEN : undefined,
  };
}

/** The agent in use as explicit `discovery.consul` connection options (host, port, secure, token). */
export function connection(): { host: string; port: number; secure: boolean; token?: string } {
  const { host, port, secure, token } = resolveConsulConnection({ env: env() });
  return { host, port, secure, ...(token !== undefined && { token }) };
}

/** A service name no other test (nor an earlier run against a real agent) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Poll `condition` until it holds; the polling is the wait, there is no sleep to "let things settle". */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 5_000,
): Promise<void> {
  const end = performance.now() + timeout;
  while (!(await condition())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects what a subscription delivers, with the time of each delivery. */
export class Recorder {
  readonly updates: (readonly EndpointInfo[])[] = [];
  readonly times: number[] = [];
  readonly errors: Error[] = [];
  readonly onUpdate = (endpoints: readonly EndpointInfo[]) => {
    this.updates.push(endpoints);
    this.times.push(performance.now());
  };
  readonly onError = (error: Error) => {
    this.errors.push(error);
  };
  get latest(): readonly EndpointInfo[] | undefined {
    return this.updates.at(-1);
  }
  ports(): number[] {
    return (this.latest ?? []).map((e) => Number(new URL(e.url).port)).sort();
  }
}

/** A discovery on the agent in use, with {@link FAST} timings; closed when the test ends. */
export function discovery(options: ConsulOptions = {}): ConsulDiscovery {
  const d = new ConsulDiscovery({ env: env(), ...FAST, ...options });
  onTestFinished(() => d.close());
  return d;
}

/** A registrar on the agent in use; closed when the test ends. */
export function registrar(): ConsulRegistrar {
  const r = new ConsulRegistrar({ env: env() });
  onTestFinished(() => r.close());
  return r;
}

/**
 * A raw agent call, for what the registrar deliberately does not offer (weights, manual check states).
 * A fresh connection each time: a pooled one could be a socket an emulator outage already closed.
 */
export async function agent(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<unknown> {
  const token = env().CONSUL_HTTP_TOKEN;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`http://${target.addr}${path}`, {
      method,
      agent: false,
      headers: token ? { 'x-consul-token': token } : {},
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
  if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Register an instance with a TTL check that starts passing; removed when the test ends. */
export async function rawInstance(
  name: string,
  id: string,
  port: number,
  weights = { Passing: 1, Warning: 1 },
): Promise<void> {
  await agent('PUT', '/v1/agent/service/register', {
    Name: name,
    ID: id,
    Address: '127.0.0.1',
    Port: port,
    Weights: weights,
    Check: { TTL: '60s', Status: 'passing' },
  });
  onTestFinished(async () => {
    await agent('PUT', `/v1/agent/service/deregister/${id}`).catch(() => {});
  });
}

/** The status of one check on the agent, or undefined when the agent has no such check. */
export async function checkStatus(checkId: string): Promise<string | undefined> {
  const checks = (await agent('GET', '/v1/agent/checks')) as Record<
    string,
    { Status: string; Output: string }
  >;
  return checks[checkId]?.Status;
}
