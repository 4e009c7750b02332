/**
 * The traffic-governance state of one service: its router, outlier detector, bulkhead and token
 * bucket, each present only while its policy is on. A {@link ServiceRuntime} owns one; the
 * pipeline reads the pieces when it composes the service's handler (an absent piece is an absent
 * filter). {@link Governance.configure} applies a new policy to the live pieces, keeping their
 * state (slots taken, tokens earned, ejections, subsets): the stateful pieces that can be
 * reconfigured are, those switched on are created, those switched off are closed.
 *
 * The position (fat client or sidecar) decides how routing reads request headers and how an
 * injected abort's reply is built (see `route/position.ts`).
 */
import type { InternalAxiosRequestConfig } from 'axios';
import { createBalancer } from './balance/index.js';
import { OutlierDetector } from './breaker/outlier.js';
import type { Call } from './core/call.js';
import type { Clock } from './core/clock.js';
import type { EndpointPool } from './core/pool.js';
import { Bulkhead } from './limit/concurrency.js';
import { TokenBucket } from './limit/rate.js';
import type { ServicePolicy } from './options.js';
import { routingActive } from './options-governance.js';
import type { Synthesize } from './route/fault.js';
import { axiosFaultReply, axiosHeader, proxyFaultReply, proxyHeader } from './route/position.js';
import { type RouteEvents, Router } from './route/rules.js';
import type { MeshEmitter } from './telemetry/events.js';
import type { ProxyRequest } from './transport/undici.js';

/** Where a pipeline runs: in the app's process (axios in and out) or in the sidecar (proxied HTTP). */
export type Position = 'client' | 'sidecar';

/** What governance needs from its service. */
export interface GovernanceContext {
  service: string;
  position: Position;
  pool: EndpointPool;
  clock: Clock;
  random: () => number;
  events: MeshEmitter;
}

/** A request header, read the way the position's request carries it. */
export function headerOf(position: Position): (call: Call<unknown>, name: string) => string | undefined {
  return position === 'sidecar'
    ? (call, name) => proxyHeader(call as Call<ProxyRequest>, name)
    : (call, name) => axiosHeader(call as Call<InternalAxiosRequestConfig>, name);
}

/** The reply of an injected abort, in the position's reply type. */
export function faultReplyOf(position: Position): Synthesize<unknown> {
  return position === 'sidecar'
    ? (status) => proxyFaultReply(status)
    : (status, call) => axiosFaultReply(status, call as Call<InternalAxiosRequestConfig>);
}

/** Router, outlier detector and limits of one service. */
export class Governance {
  router: Router | undefined;
  detector: OutlierDetector | undefined;
  bulkhead: Bulkhead | undefined;
  bucket: TokenBucket | undefined;
  /** The outlier options the detector was built with (serialized), to notice a change. */
  #outlierKey: string | undefined;

  constructor(
    private readonly ctx: GovernanceContext,
    policy: ServicePolicy,
  ) {
    this.configure(policy);
  }

  /** Apply `policy`: reconfigure the live pieces, create those switched on, close those switched off. */
  configure(policy: ServicePolicy): void {
    const { ctx } = this;
    const { concurrency, rate } = policy.limits;
    if (concurrency === false) this.bulkhead = undefined;
    else if (this.bulkhead) this.bulkhead.configure(concurrency);
    else this.bulkhead = new Bulkhead(concurrency, ctx.clock);

    if (rate === false) this.bucket = undefined;
    else if (this.bucket) this.bucket.configure(rate);
    else this.bucket = new TokenBucket(rate, ctx.clock);

    // The detector's options are fixed at construction: a change starts a new one (ejections end).
    const outlier = policy.outlierDetection;
    const key = outlier === false ? undefined : JSON.stringify(outlier);
    if (key !== this.#outlierKey) {
      this.detector?.close();
      this.detector =
        outlier === false
          ? undefined
          : new OutlierDetector(ctx.service, ctx.pool, outlier, {
              clock: ctx.clock,
              random: ctx.random,
              emit: ctx.events.bridge(),
            });
      this.#outlierKey = key;
    }

    const routing = policy.routing;
    if (!routingActive(routing)) {
      this.router?.close();
      this.router = undefined;
    } else if (this.router) {
      this.router.configure(routing);
    } else {
      this.router = new Router<unknown>(routing, {
        service: ctx.service,
        pool: ctx.pool,
        header: headerOf(ctx.position),
        random: ctx.random,
        // Each subset its own balancer, so tables a balancer keeps per view are not rebuilt.
        balancer: () => createBalancer(policy.loadBalancer, ctx),
        emit: ctx.events.bridge<RouteEvents>(),
        clock: ctx.clock,
        synthesize: faultReplyOf(ctx.position),
      });
    }
  }

  /** Stop the detector's timer (returning ejected endpoints) and the router's subsets. */
  close(): void {
    this.detector?.close();
    this.detector = undefined;
    this.router?.close();
    this.router = undefined;
  }
}
