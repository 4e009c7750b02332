/**
 * Everything the mesh keeps for one service, one field per concern: its endpoint pool and
 * balancer, breakers, retry and hedge budgets, router, outlier detector, bulkhead and token
 * bucket (each present only while its policy is on), and its discovery subscription. The stages
 * of the pipeline (`stack.ts`) read what they need from here; nothing in it is per request.
 *
 * {@link ServiceState.configure} applies a new policy live: the state of what stays on is kept
 * (endpoints, load estimates, breakers, budgets, slots taken, tokens earned, ejections,
 * subsets), what is switched on is created, what is switched off is released. The balancer and
 * its tuning stay as they were created.
 *
 * Discovery is watched from the first time something needs the endpoints (a request reaching
 * the balance stage, a snapshot, or the mesh listing the service up front), so a service whose
 * requests go through a sidecar never watches a registry until it falls back to direct.
 */
import type { Balancer } from '../balance/balancer.js';
import { BALANCERS, type LoadBalancerPolicy } from '../balance/options.js';
import { SlowStart } from '../balance/slow-start.js';
import { BreakerGroup } from '../breaker/group.js';
import type { Call } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { Endpoint, EndpointSnapshot } from '../core/endpoint.js';
import { EndpointPool } from '../core/pool.js';
import type { Discovery, Subscription } from '../discovery/discovery.js';
import { isMeshError, MeshError } from '../errors/mesh-error.js';
import { LatencyWindow } from '../hedge/latency.js';
import { Bulkhead } from '../limit/concurrency.js';
import type { ConcurrencyLimitPolicy, LimitsPolicy, RateLimitPolicy } from '../limit/options.js';
import { TokenBucket } from '../limit/rate.js';
import type { ServicePolicy } from '../options/index.js';
import { OutlierDetector } from '../outlier/detector.js';
import { RetryBudget } from '../retry/budget.js';
import { routingActive } from '../route/options.js';
import { Router } from '../route/rules.js';
import type { MeshEmitter } from '../telemetry/events.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { Position } from './position.js';

/** What every service of one mesh shares. */
export interface MeshEnv {
  readonly clock: Clock;
  readonly random: () => number;
  readonly events: MeshEmitter;
  readonly discovery: Discovery;
  /** Aborts when the mesh closes. */
  readonly shutdown: AbortSignal;
  /** Metrics and tracing stages for the pipeline; none when absent. */
  readonly telemetry?: Telemetry | undefined;
  readonly position: Position;
}

/** Hedging is paid from the retry budget; with none, from one of this size. */
const DEFAULT_BUDGET = { ratio: 0.2, minPerSecond: 10, window: 10_000 };

export class ServiceState {
  readonly pool: EndpointPool;
  readonly balancer: Balancer;
  /** Per-endpoint breakers (`circuitBreaker`). */
  breakers: BreakerGroup | undefined;
  /** The retry stage's budget (`retry.budget`). */
  retryBudget: RetryBudget | undefined;
  /** What pays for hedged backups: the retry budget, or one of the default size when that is off. */
  hedgeBudget: RetryBudget | undefined;
  /** Recent first-attempt latencies, for hedging's observed delay; kept across reconfiguration. */
  readonly latency: LatencyWindow;
  /** Route rules, default route, zones (`routing`). */
  router: Router | undefined;
  /** Outlier detection (`outlierDetection`). */
  outliers: OutlierDetector | undefined;
  /** Concurrency limit (`limits.concurrency`). */
  bulkhead: Bulkhead | undefined;
  /** Rate limit (`limits.rate`). */
  rateLimit: TokenBucket | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly events: MeshEmitter;
  readonly shutdown: AbortSignal;
  readonly telemetry: Telemetry | undefined;
  readonly position: Position;
  readonly #discovery: Discovery;
  #subscription: Subscription | undefined;
  #watching = false;
  /** The outlier options the detector was built with (serialized), to notice a change. */
  #outlierKey: string | undefined;
  #seen = false;
  #pending: Promise<void> | undefined;
  #unavailable: Error | undefined;

  constructor(
    readonly service: string,
    public policy: ServicePolicy,
    env: MeshEnv,
  ) {
    ({ clock: this.clock, random: this.random, events: this.events, shutdown: this.shutdown } = env);
    this.telemetry = env.telemetry;
    this.position = env.position;
    this.#discovery = env.discovery;
    this.pool = new EndpointPool(service, this.clock);
    this.balancer = this.newBalancer(policy.loadBalancer);
    this.latency = new LatencyWindow(policy.hedge === false ? 1_000 : policy.hedge.samples);
    this.configure(policy);
  }

  /** A balancer of this service's policy (each routing subset gets its own). */
  newBalancer(tuning: LoadBalancerPolicy = this.policy.loadBalancer): Balancer {
    const balancer = BALANCERS[tuning.policy].create(tuning, this);
    if (tuning.slowStart === false) return balancer;
    const pool = this.pool;
    return new SlowStart(balancer, tuning.slowStart, this.clock, this.random, () => pool.firstSetAt ?? -1);
  }

  /** Apply `policy`: keep what stays on, create what is switched on, release what is switched off. */
  configure(policy: ServicePolicy): void {
    this.policy = policy;
    const { clock, random } = this;

    if (policy.circuitBreaker === false) {
      this.breakers?.close();
      this.breakers = undefined;
    } else {
      this.breakers ??= new BreakerGroup(
        this.service,
        policy.circuitBreaker,
        this.pool,
        this.events,
        clock,
        random,
      );
    }

    const budget = policy.retry === false ? false : policy.retry.budget;
    if (budget === false) this.retryBudget = undefined;
    else this.retryBudget ??= new RetryBudget(budget, clock);
    if (policy.hedge === false) this.hedgeBudget = this.retryBudget;
    else this.hedgeBudget = this.retryBudget ?? this.hedgeBudget ?? new RetryBudget(DEFAULT_BUDGET, clock);

    const { concurrency, rate } = sharedLimits(policy.limits, this.position.limitShare);
    if (concurrency === false) this.bulkhead = undefined;
    else if (this.bulkhead) this.bulkhead.configure(concurrency);
    else this.bulkhead = new Bulkhead(concurrency, clock);

    if (rate === false) this.rateLimit = undefined;
    else if (this.rateLimit) this.rateLimit.configure(rate);
    else this.rateLimit = new TokenBucket(rate, clock);

    // The detector's options are fixed at construction: a change starts a new one (ejections end).
    const outlier = policy.outlierDetection;
    const key = outlier === false ? undefined : JSON.stringify(outlier);
    if (key !== this.#outlierKey) {
      this.outliers?.close();
      this.outliers =
        outlier === false
          ? undefined
          : new OutlierDetector(this.service, this.pool, outlier, { clock, random, events: this.events });
      this.#outlierKey = key;
    }

    if (!routingActive(policy.routing)) {
      this.router?.close();
      this.router = undefined;
    } else if (this.router) {
      this.router.configure(policy.routing);
    } else {
      this.router = new Router<unknown>(policy.routing, {
        service: this.service,
        pool: this.pool,
        header: (call, name) => this.position.header(call, name),
        random,
        // Each subset its own balancer, so tables a balancer keeps per view are not rebuilt.
        balancer: () => this.newBalancer(),
        events: this.events,
        clock,
        synthesize: (status, call) => this.position.faultReply(status, call),
      });
    }
  }

  /** Start watching discovery (once): the endpoints are needed. */
  watch(): void {
    // Set first: a source may push the first set from inside subscribe(), and listeners may look.
    if (this.#watching || this.shutdown.aborted) return;
    this.#watching = true;
    const service = this.service;
    this.#subscription = this.#discovery.subscribe(
      service,
      (endpoints) => {
        this.#seen = true;
        this.#unavailable = undefined;
        const change = this.pool.update(endpoints);
        if (change.changed && this.events.wants('endpoints')) {
          this.events.emit('endpoints', {
            service,
            endpoints: this.snapshot(),
            added: change.added.map((ep) => ep.url),
            removed: change.removed.map((ep) => ep.url),
          });
        }
      },
      (error) => this.events.emit('discovery-error', { service, error: asDiscoveryError(error, service) }),
    );
    if (!this.#seen) {
      this.#pending = this.#subscription.ready.then(
        () => {
          this.#pending = undefined;
        },
        (error: unknown) => {
          this.#pending = undefined;
          this.#unavailable =
            error instanceof MeshError
              ? error
              : new MeshError('MESH_DISCOVERY_UNAVAILABLE', `discovery has no answer for "${service}"`, {
                  service,
                  cause: error,
                });
        },
      );
    }
  }

  /**
   * Pending until discovery's first answer; `undefined` once there is one (the fast path).
   * The wait ends early when the call is aborted, the mesh closes or the call's deadline passes.
   */
  ready(call: Call<unknown>): Promise<void> | undefined {
    if (this.#seen) return undefined;
    this.watch();
    if (this.#seen) return undefined;
    if (this.#unavailable) return Promise.reject(this.#unavailable);
    const pending = this.#pending ?? Promise.resolve();
    const { signal, deadline, service } = call;
    return new Promise<void>((resolve, reject) => {
      const stop = (reason: unknown) => {
        signal.removeEventListener('abort', onAbort);
        this.shutdown.removeEventListener('abort', onShutdown);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        if (reason === undefined) resolve();
        else reject(reason);
      };
      const onAbort = () => stop(signal.reason);
      const onShutdown = () => stop(this.shutdown.reason);
      signal.addEventListener('abort', onAbort);
      this.shutdown.addEventListener('abort', onShutdown);
      const left = deadline - this.clock.now();
      const timer = Number.isFinite(left)
        ? this.clock.setTimeout(
            () => stop(new MeshError('MESH_TIMEOUT', 'deadline passed waiting for discovery', { service })),
            left,
          )
        : undefined;
      pending.then(() => stop(this.#seen ? undefined : this.#unavailable));
    });
  }

  /** Snapshots of every endpoint (the endpoints are watched from now on). */
  snapshot(): EndpointSnapshot[] {
    this.watch();
    const now = this.clock.now();
    return this.pool.all.map((ep) => this.#snapshotOf(ep, now));
  }

  /** Stop watching discovery and release every breaker, timer and subset. */
  close(): void {
    this.#subscription?.close();
    this.breakers?.close();
    // The detector returns its ejected endpoints and the router unhooks its subsets: before the pool goes.
    this.outliers?.close();
    this.outliers = undefined;
    this.router?.close();
    this.router = undefined;
    this.pool.clear();
  }

  #snapshotOf(ep: Endpoint, now: number): EndpointSnapshot {
    return {
      id: ep.id,
      url: ep.url,
      weight: ep.weight,
      tags: ep.tags,
      meta: ep.meta,
      state: this.breakers?.stateOf(ep) ?? 'healthy',
      ejected: ep.readyIndex < 0,
      inFlight: ep.inFlight,
      latencyMs: this.balancer.load?.latency?.(ep, now),
      requests: ep.requests,
      failures: ep.failures,
    };
  }
}

/**
 * This process's part of `limits` when it carries `share` of them (a sidecar worker of N):
 * counts rounded up (a slot stays a slot, at least one), the rate and burst scaled (a burst of at
 * least one token). Without a share the limits are returned as they are.
 */
export function sharedLimits(limits: LimitsPolicy, share: number | undefined): LimitsPolicy {
  if (share === undefined || share >= 1) return limits;
  const { concurrency, rate } = limits;
  return {
    concurrency: concurrency === false ? false : shareConcurrency(concurrency, share),
    rate: rate === false ? false : shareRate(rate, share),
  };
}

function shareConcurrency(limit: ConcurrencyLimitPolicy, share: number): ConcurrencyLimitPolicy {
  return {
    ...limit,
    maxConcurrent: Math.max(1, Math.ceil(limit.maxConcurrent * share)),
    maxQueue: Math.ceil(limit.maxQueue * share),
  };
}

function shareRate(limit: RateLimitPolicy, share: number): RateLimitPolicy {
  // The bucket's own default burst (the rate, at least 1) is taken from the whole rate first.
  const burst = limit.burst ?? Math.max(1, limit.rate);
  return { rate: limit.rate * share, burst: Math.max(1, burst * share) };
}

/**
 * The built-in sources report {@link MeshError}s already; a `Discovery` of the user's own may hand
 * `onError` anything, so listeners get one type: its error becomes the `cause` of a
 * `MESH_DISCOVERY_UNAVAILABLE`.
 */
function asDiscoveryError(error: Error, service: string): MeshError {
  if (isMeshError(error)) return error;
  return new MeshError('MESH_DISCOVERY_UNAVAILABLE', `discovery of "${service}" failed: ${error.message}`, {
    service,
    cause: error,
  });
}
