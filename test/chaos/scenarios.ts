/**
 * The chaos scenarios, shared by both positions: what breaks, at which point of the load, and
 * how each position is built over the same fleet and policy. Every scenario keeps at least one
 * endpoint healthy at all times, so the promise is: no GET fails, no POST reaches a server
 * twice, no request outlives its deadline (plus scheduling slack on a shared 2-core machine).
 */
import { MeshClient } from 'mesh-client';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { ConsulEmulator } from '../../testkit/consul-emulator.js';
import type { ChaosServer, LoadResult } from './fleet.js';

/** The policy both positions run: short deadlines so a hang would show. */
export const POLICY = {
  timeout: { total: 2_000, perTry: 400 },
  retry: { attempts: 3, budget: { ratio: 0.5, minPerSecond: 20 } },
  circuitBreaker: { volumeThreshold: 5, resetTimeout: 500, maxResetTimeout: 2_000 },
};
/** The longest any request may take: its deadline, plus slack for a loaded machine. */
export const DEADLINE_BOUND_MS = POLICY.timeout.total + 1_500;

/** What the scenario's faults act on. */
export interface World {
  servers: ChaosServer[];
  consul?: ConsulEmulator;
  /** Stop and start the sidecar (sidecar position only). */
  restartSidecar?: { stop(): Promise<void>; start(): Promise<void> };
}

export interface Scenario {
  name: string;
  /** Discovery from the Consul emulator instead of a static list. */
  consul?: boolean;
  /** Only in the sidecar position (the client falls back to direct delivery meanwhile). */
  sidecarOnly?: boolean;
  faults(world: World): Record<number, () => Promise<void>>;
}

export const TOTAL = 600;
export const CONCURRENCY = 8;

export const SCENARIOS: Scenario[] = [
  {
    name: 'endpoints killed and restarted',
    faults: ({ servers: [a, b] }) => ({
      100: () => a!.kill(),
      250: async () => void (await a!.start()),
      320: () => b!.kill(),
      470: async () => void (await b!.start()),
    }),
  },
  {
    name: 'an endpoint made slow (3 s against a 400 ms per-try timeout)',
    faults: ({ servers: [a] }) => ({
      60: async () => void (a!.mode = { kind: 'slow', ms: 3_000 }),
      450: async () => void (a!.mode = { kind: 'ok' }),
    }),
  },
  {
    name: 'an endpoint resetting mid-body',
    faults: ({ servers: [a] }) => ({
      60: async () => void (a!.mode = { kind: 'reset-mid-body' }),
      450: async () => void (a!.mode = { kind: 'ok' }),
    }),
  },
  {
    name: 'the registry (emulated Consul) flapping, and an instance flapping in it',
    consul: true,
    faults: ({ consul }) => ({
      60: () => consul!.stop(),
      140: () => consul!.start(),
      200: () => consul!.stop(),
      280: () => consul!.start(),
      340: async () => consul!.setHealth('users-0', 'critical'),
      420: async () => consul!.setHealth('users-0', 'passing'),
      460: async () => consul!.setHealth('users-1', 'critical'),
      540: async () => consul!.setHealth('users-1', 'passing'),
    }),
  },
  {
    name: 'the sidecar restarted under a client in sidecar mode with fallback',
    sidecarOnly: true,
    faults: ({ restartSidecar }) => ({
      150: () => restartSidecar!.stop(),
      350: () => restartSidecar!.start(),
    }),
  },
];

/** Register the fleet in a fresh emulator, each instance with a passing TTL check. */
export async function consulWith(servers: ChaosServer[]): Promise<ConsulEmulator> {
  const consul = await ConsulEmulator.start();
  for (const [i, s] of servers.entries()) {
    const res = await fetch(`http://${consul.address}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        ID: `users-${i}`,
        Name: 'users',
        Address: '127.0.0.1',
        Port: s.port,
        Check: { TTL: '1h', Status: 'passing' },
      }),
    });
    if (!res.ok) throw new Error(`register: ${res.status} ${await res.text()}`);
  }
  return consul;
}

/** The discovery block for a scenario: the fleet as a static list, or the emulator. */
export function discoveryOf(
  servers: ChaosServer[],
  consul: ConsulEmulator | undefined,
): Record<string, unknown> {
  if (!consul) return { static: { users: servers.map((s) => s.url) } };
  const [host, port] = consul.address.split(':');
  return {
    consul: {
      host,
      port: Number(port),
      services: ['users'],
      wait: 2_000,
      minWakeupInterval: 20,
      backoffBase: 20,
      backoffMax: 200,
    },
  };
}

/** One request of the load, through `mesh`. */
export function sender(mesh: MeshClient) {
  return (method: 'GET' | 'POST', id: string) =>
    mesh.request({
      service: 'users',
      method,
      url: `/chaos/${id}`,
      headers: { 'x-chaos-id': id },
      ...(method === 'POST' ? { data: { id } } : {}),
    });
}

/** A sidecar on a fixed port that a fault can stop and start again there. */
export class RestartableSidecar {
  sidecar: Sidecar | undefined;
  constructor(private readonly config: Record<string, unknown>) {}

  async start(): Promise<void> {
    this.sidecar = await new Sidecar(this.config).start();
  }

  async stop(): Promise<void> {
    await this.sidecar?.close();
    this.sidecar = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
  }
}

/** A row of the printed results. */
export function row(
  position: string,
  scenario: string,
  r: LoadResult,
  duplicates: number,
  note = '',
): string {
  return `| ${position} | ${scenario} | ${r.gets.ok}/${r.gets.ok + r.gets.failed} | ${r.posts.ok}/${r.posts.ok + r.posts.failed} | ${duplicates} | ${Math.round(r.maxMs)} ms | ${note} |`;
}

export const TABLE_HEAD = [
  '| position | scenario | GETs ok | POSTs ok | POSTs duplicated | longest request | note |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- |',
];

export { MeshClient };
