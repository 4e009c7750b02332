/**
 * The request path, as a table: every stage of a service's pipeline, outermost first, with the
 * options it applies (as users write them) and the layer that runs it. The pipeline is composed
 * from this table (`pipeline.ts`), `explain()` reads it, and the sidecar hand-off is one of its
 * rows, so the order, what is on, and who applies what are stated once, here. A stage that is
 * off makes no filter and is not composed: a pipeline pays nothing for a disabled concern.
 *
 * Why each stage sits where it does:
 * - request telemetry first, so a request is seen once, whatever happens below (its span,
 *   count and latency);
 * - the deadline refuses what is already late, before anything is spent on it;
 * - the sidecar hand-off (sidecar mode only) sends the request to the sidecar, which runs every
 *   stage below; the stages below are then this process's fallback;
 * - authorization (the sidecar's inbound listener only) judges the caller by its verified
 *   identity before anything is spent on the request: a denied request takes no token, slot or
 *   endpoint, and never reaches the application;
 * - discovery waits for the service's first endpoint set (within the deadline), so routing and
 *   balancing see its endpoints; it is where a service's registry watch starts;
 * - routing picks the subset of endpoints the request may go to (and may inject its rule's
 *   faults), for every attempt of the request;
 * - service-wide faults come before the limits, so an injected abort takes no slot or token;
 * - the limits count requests, not attempts, so they sit above retry;
 * - retry repeats everything below it; hedging races a backup against one slow attempt, so each
 *   retry may be hedged;
 * - balance picks each attempt's endpoint and feeds the load metric; attempt telemetry sits
 *   right below it, where the endpoint is known;
 * - the breaker guards that endpoint and outlier detection watches what was actually sent;
 * - the per-try timeout bounds one attempt by its own limit and the time the deadline leaves,
 *   just above the transport.
 *
 * Layers: a `caller` stage runs in the process where the request starts, whichever delivers it;
 * a `delivery` stage runs where the request is delivered (this process in direct mode, the
 * sidecar in sidecar mode, and this process again when falling back to direct).
 */
import { balance } from '../balance/filter.js';
import { breaker } from '../breaker/filter.js';
import { compose, type Filter } from '../core/call.js';
import { sourceOf } from '../discovery/options.js';
import { discovery } from '../discovery/stage.js';
import { fault } from '../fault/fault.js';
import { handOff } from '../handoff/handoff.js';
import { SidecarRoute } from '../handoff/route.js';
import { hedge } from '../hedge/hedge.js';
import { concurrencyLimit } from '../limit/concurrency.js';
import { rateLimit } from '../limit/rate.js';
import type { ResolvedOptions, ServicePolicy } from '../options/index.js';
import { outlierDetection } from '../outlier/filter.js';
import { budgetDeposit, retry } from '../retry/filter.js';
import { retries } from '../retry/options.js';
import { routingActive } from '../route/options.js';
import { route } from '../route/rules.js';
import { deadline } from '../timeout/deadline.js';
import { perTryTimeout } from '../timeout/per-try.js';
import type { ServiceState } from './service.js';

/** Who runs a stage when the service is in sidecar mode. */
export type Layer = 'caller' | 'delivery';

/** Every option a stage applies, by its path as users write it. */
export type PolicyPath =
  | 'timeout.total'
  | 'timeout.propagate'
  | 'mode'
  | 'sidecar'
  | 'routing'
  | 'faults'
  | 'limits.rate'
  | 'limits.concurrency'
  | 'retry'
  | 'retry.stacking'
  | 'hedge'
  | 'discovery'
  | 'loadBalancer'
  | 'circuitBreaker'
  | 'outlierDetection'
  | 'timeout.perTry';

/** An option a stage applies, and the setting in force (`false` when off). */
export interface StageOption {
  /** The option's path as users write it (`limits.rate`, `timeout.perTry`). */
  path: PolicyPath;
  setting(policy: ServicePolicy, options: ResolvedOptions): unknown;
}

/** One row of the table. */
export interface Stage {
  /** The stage's name (Finagle's stack role). */
  readonly role: string;
  readonly layer: Layer;
  /** The options this stage applies. */
  readonly options: readonly StageOption[];
  /** The stage's filter for `svc`, or `undefined` when it is off. */
  make(svc: ServiceState): Filter | undefined;
}

const option = (path: PolicyPath, setting: StageOption['setting']): StageOption => ({ path, setting });

/** Whether hedging spends a budget no retry stage fills (retries off, or a budget of its own). */
function hedgeBudgetUnfilled(svc: ServiceState): boolean {
  const retrying = retries(svc.policy.retry);
  return svc.policy.hedge !== false && !(retrying && svc.hedgeBudget === svc.retryBudget);
}

/** The stages, outermost first. */
export const STACK: readonly Stage[] = [
  {
    role: 'request-tracing',
    layer: 'caller',
    options: [],
    make: (svc) => svc.telemetry?.tracing?.requestFilter(svc.service),
  },
  {
    role: 'request-metrics',
    layer: 'delivery',
    options: [],
    make: (svc) => svc.telemetry?.metrics?.requestFilter(svc),
  },
  {
    role: 'deadline',
    layer: 'caller',
    options: [
      option('timeout.total', (p) => p.timeout.total),
      option('timeout.propagate', (p) => p.timeout.propagate),
    ],
    make: (svc) => deadline(svc.clock, svc.shutdown),
  },
  {
    role: 'sidecar-handoff',
    layer: 'caller',
    options: [
      option('mode', (p) => p.mode),
      option('sidecar', (p) => (p.mode === 'sidecar' ? p.sidecar : false)),
    ],
    make(svc) {
      const { policy, position } = svc;
      if (policy.mode !== 'sidecar' || !position.toSidecar) return undefined;
      const tracing = svc.telemetry?.tracing;
      // The sidecar runs the policy; the hand-off keeps the caller's signal and deadline header.
      const send = compose(
        ...(tracing ? [tracing.handOffFilter()] : []),
        perTryTimeout(svc.clock, false, svc.shutdown, policy.timeout.propagate),
      )(position.toSidecar(policy.sidecar, svc.service));
      return handOff({ route: new SidecarRoute(policy.sidecar, svc.clock), send, events: svc.events });
    },
  },
  {
    // Only where requests arrive from other workloads (the inbound listener): its position makes it.
    role: 'authorization',
    layer: 'delivery',
    options: [],
    make: (svc) => svc.position.authorization?.(svc.service),
  },
  {
    role: 'discovery',
    layer: 'delivery',
    options: [option('discovery', (_p, o) => discoveryKind(o))],
    make: (svc) => discovery(svc),
  },
  {
    role: 'route',
    layer: 'delivery',
    options: [option('routing', (p) => (routingActive(p.routing) ? p.routing : false))],
    make: (svc) => svc.router && route(svc.router),
  },
  {
    role: 'fault',
    layer: 'delivery',
    options: [option('faults', (p) => p.faults)],
    make: (svc) =>
      svc.policy.faults === false
        ? undefined
        : fault(svc.policy.faults, {
            clock: svc.clock,
            random: svc.random,
            synthesize: (status, call) => svc.position.faultReply(status, call),
            events: svc.events,
          }),
  },
  {
    role: 'rate-limit',
    layer: 'delivery',
    options: [option('limits.rate', (p) => p.limits.rate)],
    make: (svc) => svc.rateLimit && rateLimit(svc.rateLimit),
  },
  {
    role: 'concurrency-limit',
    layer: 'delivery',
    options: [option('limits.concurrency', (p) => p.limits.concurrency)],
    make: (svc) => svc.bulkhead && concurrencyLimit(svc.bulkhead),
  },
  {
    // Hedging spends a budget that requests must fill; the retry stage fills only its own.
    role: 'hedge-budget',
    layer: 'delivery',
    options: [],
    make: (svc) => (hedgeBudgetUnfilled(svc) && svc.hedgeBudget ? budgetDeposit(svc.hedgeBudget) : undefined),
  },
  {
    role: 'retry',
    layer: 'delivery',
    options: [
      option('retry', (p) => p.retry),
      option('retry.stacking', (p) => (p.retry === false ? false : p.retry.stacking)),
    ],
    make: (svc) =>
      retries(svc.policy.retry)
        ? retry({
            service: svc.service,
            policy: svc.policy.retry,
            budget: svc.retryBudget,
            clock: svc.clock,
            random: svc.random,
            events: svc.events,
          })
        : undefined,
  },
  {
    role: 'hedge',
    layer: 'delivery',
    options: [option('hedge', (p) => p.hedge)],
    // Backups are paid from a budget: without one there is nothing to pay them with.
    make: (svc) =>
      svc.policy.hedge === false || !svc.hedgeBudget
        ? undefined
        : hedge(svc.policy.hedge, {
            service: svc.service,
            clock: svc.clock,
            budget: svc.hedgeBudget,
            shutdown: svc.shutdown,
            latency: svc.latency,
            events: svc.events,
          }),
  },
  {
    role: 'balance',
    layer: 'delivery',
    options: [option('loadBalancer', (p) => p.loadBalancer)],
    make: (svc) => balance(svc),
  },
  {
    role: 'attempt-tracing',
    layer: 'delivery',
    options: [],
    make: (svc) => svc.telemetry?.tracing?.attemptFilter(svc.clock, svc),
  },
  {
    role: 'attempt-metrics',
    layer: 'delivery',
    options: [],
    make: (svc) => svc.telemetry?.metrics?.attemptFilter(svc),
  },
  {
    role: 'breaker',
    layer: 'delivery',
    options: [option('circuitBreaker', (p) => p.circuitBreaker)],
    make: (svc) => svc.breakers && breaker(svc.breakers),
  },
  {
    role: 'outlier-detection',
    layer: 'delivery',
    options: [option('outlierDetection', (p) => p.outlierDetection)],
    make: (svc) => svc.outliers && outlierDetection(svc.outliers),
  },
  {
    role: 'per-try-timeout',
    layer: 'delivery',
    options: [option('timeout.perTry', (p) => p.timeout.perTry)],
    make: (svc) =>
      perTryTimeout(svc.clock, svc.policy.timeout.perTry, svc.shutdown, svc.policy.timeout.propagate),
  },
];

/** `static`, `consul`, ... or `custom` for a Discovery object of the caller's. */
export function discoveryKind(options: ResolvedOptions): string {
  return sourceOf(options.discovery)?.[0] ?? 'custom';
}
