/**
 * Everything the mesh keeps for one service: its policy, endpoint pool, balancer, breakers,
 * retry budget, governance state (router, outlier detector, bulkhead, token bucket; see
 * `governance.ts`) and discovery subscription. {@link ServiceRuntime.reconfigure} applies a new
 * policy while keeping that state. The filters read what they need from here; nothing
 * in it is per request.
 */
import { type Balancer, createBalancer } from './balance/index.js';
import { BreakerGroup } from './breaker/group.js';
import type { Call } from './core/call.js';
import type { Clock } from './core/clock.js';
import type { Endpoint, EndpointSnapshot } from './core/endpoint.js';
import { EndpointPool } from './core/pool.js';
import type { Discovery, Subscription } from './discovery/discovery.js';
import { MeshError } from './errors.js';
import { Governance, type Position } from './governance.js';
import { currentRtt } from './load/peak-ewma.js';
import type { ServicePolicy } from './options.js';
import { RetryBudget } from './retry/budget.js';
import { LatencyWindow } from './retry/latency.js';
import type { MeshEmitter } from './telemetry/events.js';
import type { Telemetry } from './telemetry/telemetry.js';

/** Shared by every service of one client. */
export interface RuntimeDeps {
  readonly clock: Clock;
  readonly random: () => number;
  readonly events: MeshEmitter;
  readonly discovery: Discovery;
  /** Aborts when the mesh closes. */
  readonly shutdown: AbortSignal;
  /** Metrics and tracing filters for the pipeline; none when absent. */
  readonly telemetry?: Telemetry;
  /** Where the pipeline runs (how routing reads headers, how fault replies are built). @defaultValue `'client'` */
  readonly position?: Position;
}

export class ServiceRuntime {
  readonly pool: EndpointPool;
  readonly balancer: Balancer;
  breakers: BreakerGroup | undefined;
  /** The retry filter's budget (none when retries or their budget are off). */
  budget: RetryBudget | undefined;
  /** What pays for hedged backups: the retry budget, or one of the default size when that is off. */
  hedgeBudget: RetryBudget | undefined;
  /** Recent first-attempt latencies, for hedging's observed delay; kept across reconfiguration. */
  readonly latency: LatencyWindow;
  /** Router, outlier detector, bulkhead and token bucket, each present only while on. */
  readonly governance: Governance;
  readonly position: Position;
  readonly clock: Clock;
  readonly random: () => number;
  readonly events: MeshEmitter;
  readonly shutdown: AbortSignal;
  readonly telemetry: Telemetry | undefined;
  readonly #subscription: Subscription;
  #seen = false;
  #pending: Promise<void> | undefined;
  #unavailable: Error | undefined;

  constructor(
    readonly service: string,
    public policy: ServicePolicy,
    deps: RuntimeDeps,
  ) {
    ({ clock: this.clock, random: this.random, events: this.events, shutdown: this.shutdown } = deps);
    this.telemetry = deps.telemetry;
    this.position = deps.position ?? 'client';
    this.pool = new EndpointPool(service, this.clock, policy.loadBalancer.initialRtt);
    this.balancer = createBalancer(policy.loadBalancer, this);
    this.latency = new LatencyWindow(policy.hedge === false ? HEDGE_SAMPLES : policy.hedge.samples);
    this.#applyPolicy(policy);
    this.governance = new Governance(
      {
        service,
        position: this.position,
        pool: this.pool,
        clock: this.clock,
        random: this.random,
        events: this.events,
      },
      policy,
    );
    this.#subscription = deps.discovery.subscribe(
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
      (error) => this.events.emit('discovery-error', { service, error }),
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
   * Apply a new policy live (`MeshClient.configure`): endpoints, load estimates, breakers' state,
   * budgets, slots and tokens are kept; pieces switched on are created, those switched off
   * dropped. The caller rebuilds the service's handler; requests in flight finish on the old one.
   * The balancer and its tuning stay as they were created.
   */
  reconfigure(policy: ServicePolicy): void {
    this.policy = policy;
    this.#applyPolicy(policy);
    this.governance.configure(policy);
  }

  #applyPolicy(policy: ServicePolicy): void {
    if (!policy.circuitBreaker) {
      this.breakers?.close();
      this.breakers = undefined;
    } else if (!this.breakers) {
      this.breakers = new BreakerGroup(
        this.service,
        policy.circuitBreaker,
        this.pool,
        this.events,
        this.clock,
        this.random,
      );
    }
    const budget = policy.retry === false ? false : policy.retry.budget;
    if (budget === false) this.budget = undefined;
    else this.budget ??= new RetryBudget(budget, this.clock);
    // Hedging is paid from the retry budget; with none, from one of the default size.
    if (policy.hedge === false) this.hedgeBudget = this.budget;
    else this.hedgeBudget = this.budget ?? this.hedgeBudget ?? new RetryBudget(DEFAULT_BUDGET, this.clock);
  }

  /** The retry policy (read by the retry filter). */
  get retryPolicy(): ServicePolicy['retry'] {
    return this.policy.retry;
  }

  /** The policy's load-balancer tuning (read by the balance filter). */
  get load() {
    return this.policy.loadBalancer;
  }

  /**
   * Pending until discovery's first answer; `undefined` once there is one (the fast path).
   * The wait ends early when the call is aborted, the mesh closes or the call's deadline passes.
   */
  ready(call: Call<unknown>): Promise<void> | undefined {
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

  /** Snapshots of every endpoint. */
  snapshot(): EndpointSnapshot[] {
    const now = this.clock.now();
    return this.pool.all.map((ep) => snapshotOf(ep, now, this.policy.loadBalancer.decay));
  }

  /** Stop watching discovery and release every breaker and timer. */
  close(): void {
    this.#subscription.close();
    this.breakers?.close();
    // The detector returns its ejected endpoints and the router unhooks its subsets: before the pool goes.
    this.governance.close();
    this.pool.clear();
  }
}

const HEDGE_SAMPLES = 1_000;
const DEFAULT_BUDGET = { ratio: 0.2, minPerSecond: 10, window: 10_000 };

function snapshotOf(ep: Endpoint, now: number, decay: number): EndpointSnapshot {
  return {
    id: ep.id,
    url: ep.url,
    weight: ep.weight,
    tags: ep.tags,
    meta: ep.meta,
    state: ep.state,
    ejected: ep.readyIndex < 0,
    inFlight: ep.inFlight,
    latencyMs: currentRtt(ep, now, decay),
    requests: ep.requests,
    failures: ep.failures,
  };
}
