/**
 * What the demo and the benchmark do to the fleet, and the policies every approach runs with.
 *
 * One policy is shared by the fat client and mesh-sidecar (the sidecar reads the same options
 * object from its config file); HAProxy gets the closest equivalent it has (per-try
 * `timeout server`, the same number of retries on another server, active and passive health
 * checks). Bare axios gets only the caller's timeout: no retries, no balancing beyond
 * round-robin, no health checks.
 */

import { BALANCER_POLICIES, type BalancerPolicy } from 'mesh-client';
import type { EndpointSpec } from '../harness/fleet.js';
import type { ScenarioEvent } from '../harness/orchestrate.js';
import type { HAProxyOptions } from '../harness/processes.js';
import type { RequestTemplate } from '../harness/protocol.js';

/** The request mix when none is configured: reads of random users. */
export const DEFAULT_MIX: RequestTemplate[] = [{ method: 'GET', path: '/users/{rand}', weight: 1 }];

export const SERVICE = 'users';

/** A load-balancing policy; every one the library has is measured. */
export type Balancer = BalancerPolicy;
/** The default first, then the others in the library's order. */
export const BALANCERS: Balancer[] = ['peak-ewma', ...BALANCER_POLICIES.filter((p) => p !== 'peak-ewma')];

/** A mesh policy (MeshClient options, JSON) and the caller-side timeout that goes with it. */
export interface Policy {
  options: Record<string, unknown>;
  timeoutMs: number;
}

/** The demo's policy: a 2 s deadline, 500 ms per try, 3 attempts with the default budget. */
export function demoPolicy(balancer: Balancer = 'peak-ewma'): Policy {
  return {
    options: {
      loadBalancer: balancer,
      retry: { attempts: 3 },
      timeout: { total: 2_000, perTry: 500 },
    },
    timeoutMs: 2_000,
  };
}

/** The resilience scenarios' policy: a 1 s deadline, 250 ms per try, 3 attempts. */
export function resiliencePolicy(balancer: Balancer = 'peak-ewma', budget = true): Policy {
  return {
    options: {
      loadBalancer: balancer,
      retry: budget ? { attempts: 3 } : { attempts: 3, budget: false },
      timeout: { total: 1_000, perTry: 250 },
    },
    timeoutMs: 1_000,
  };
}

/** The library defaults (overhead runs): only the balancer named. */
export function defaultPolicy(): Policy {
  return { options: {}, timeoutMs: 15_000 };
}

/** HAProxy's nearest equivalent of a mesh policy. */
export function haproxyFor(policy: Policy): HAProxyOptions {
  const timeout = (policy.options.timeout ?? {}) as { perTry?: number | false };
  const retry = policy.options.retry as { attempts?: number } | false | undefined;
  const attempts = retry === false ? 1 : (retry?.attempts ?? 3);
  return {
    balance: 'roundrobin',
    timeoutServer: typeof timeout.perTry === 'number' ? timeout.perTry : 5_000,
    retries: attempts - 1,
    healthChecks: true,
    // One thread, as mesh-sidecar has one event loop: the overhead comparison is core for core.
    // The scaling part sets its own thread counts.
    nbthread: 1,
  };
}

/** A fleet and what happens to it during the measured window. */
export interface Scenario {
  id: string;
  title: string;
  /** What the scenario shows, one sentence. */
  description: string;
  fleet: EndpointSpec[];
  /** Events, given the window length (so they scale with `--duration`). */
  events(durationMs: number): ScenarioEvent[];
}

/** The demo: four instances; c turns slow, d starts failing and then dies. */
export const DEMO_SCENARIO: Scenario = {
  id: 'demo',
  title: 'demo fleet: a, b healthy; c turns slow; d fails, then dies',
  description:
    'Four instances of one service; one turns slow (250 ms) at 30%, one answers 503 from 50% and dies at 70%.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }],
  events: (d) => [
    {
      atMs: d * 0.3,
      label: 'c turns slow (250 ms)',
      run: ({ fleet }) => fleet.set('c', { kind: 'slow', ms: 250 }),
    },
    {
      atMs: d * 0.5,
      label: 'd answers 503',
      run: ({ fleet }) => fleet.set('d', { kind: 'status', status: 503 }),
    },
    { atMs: d * 0.7, label: 'd dies', run: ({ fleet }) => fleet.kill('d') },
  ],
};

/** Three healthy instances (overhead runs). */
export const HEALTHY: Scenario = {
  id: 'healthy',
  title: 'three healthy instances',
  description: 'Nothing fails: what each approach costs.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  events: () => [],
};

/** One endpoint of three stalls (accepts, never answers) from the window's start. */
export const STALLED: Scenario = {
  id: 'stalled',
  title: 'one stalled endpoint of three',
  description: 'c accepts requests and never answers; success within the 1 s timeout.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  events: () => [{ atMs: 0, label: 'c stalls', run: ({ fleet }) => fleet.set('c', { kind: 'hang' }) }],
};

/** One endpoint of three dies (connection refused) at the window's start. */
export const DEAD: Scenario = {
  id: 'dead',
  title: 'one dead endpoint of three',
  description: 'c is killed: its port refuses connections; in-flight requests to it are cut.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  events: () => [{ atMs: 0, label: 'c dies', run: ({ fleet }) => fleet.kill('c') }],
};

/** One endpoint of three answers 503 from the window's start. */
export const FAILING: Scenario = {
  id: '503',
  title: 'one 503 endpoint of three',
  description: 'c answers every request with 503.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  events: () => [
    { atMs: 0, label: 'c answers 503', run: ({ fleet }) => fleet.set('c', { kind: 'status', status: 503 }) },
  ],
};

/** Every endpoint answers 503: how much extra load do retries put on a service that is down? */
export const OUTAGE: Scenario = {
  id: 'outage',
  title: 'total outage (every endpoint 503)',
  description: 'All three answer 503; upstream requests per client request is the load amplification.',
  fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
  events: () => [
    {
      atMs: 0,
      label: 'every endpoint answers 503',
      run: ({ fleet }) => {
        for (const name of fleet.names) fleet.set(name, { kind: 'status', status: 503 });
      },
    },
  ],
};

/**
 * Registry churn, a rolling deploy: every `stepMs` a new instance starts and is registered, the
 * oldest is deregistered and killed 100 ms later (deregister first, then stop: the right order).
 */
export function churnScenario(stepMs: number): Scenario {
  return {
    id: 'churn',
    title: `registry churn (an instance replaced every ${stepMs} ms)`,
    description:
      'A rolling deploy: a new instance is added, the oldest removed from discovery and killed 100 ms later.',
    fleet: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    events(durationMs) {
      const events: ScenarioEvent[] = [];
      let generation = 0;
      // Bounded: one step per stepMs of the window.
      for (let at = stepMs; at < durationMs; at += stepMs) {
        const g = generation++;
        events.push({
          atMs: at,
          label: g === 0 ? 'rolling deploy starts' : '',
          async run({ fleet, setEndpoints }) {
            const [oldest] = fleet.names;
            await fleet.add(`n${g}`);
            if (!oldest) return;
            setEndpoints(fleet.urls.filter((u) => u !== fleet.url(oldest)));
            await new Promise((resolve) => setTimeout(resolve, 100));
            await fleet.kill(oldest);
          },
        });
      }
      return events;
    },
  };
}
