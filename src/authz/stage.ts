/**
 * The `authorization` stage of the inbound listener's pipeline: it reads the caller's verified
 * identity, records it (a span attribute and a metric label), and applies the rules and Consul
 * intentions. A denied request fails with `MESH_FORBIDDEN` (the listener answers 403) before
 * discovery, the limits or the application see it; a path not in normal form, when rules read
 * paths, fails with `MESH_BAD_REQUEST` (400).
 *
 * The caller label is bounded: callers are the trust domain's workloads, a bounded set, but a
 * misissued CA could mint any number of IDs, so past `maxCallers` distinct ones per service the
 * rest count as `_other` (a request without a certificate, in permissive mode, is `_none`).
 */
import { trace } from '@opentelemetry/api';
import type * as PromClient from 'prom-client';
import type { Counter, Registry } from 'prom-client';
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { ConsulConnectionOptions } from '../discovery/consul/connection.js';
import { MeshError } from '../errors/mesh-error.js';
import { requirePeer } from '../errors/peer.js';
import { Intentions } from './intentions.js';
import type { AuthorizationPolicy } from './options.js';
import { type Caller, normalPath, Rules } from './rules.js';

/** The inbound listener denied a request. */
export interface AuthzDeniedEvent {
  /** The local service the request was for. */
  service: string;
  /** The caller's SPIFFE ID; `undefined` for a caller without a certificate. */
  caller: string | undefined;
  method: string;
  /** The request's path, without its query. */
  path: string;
  /** Which rule denied it, or Consul's reason. */
  reason: string;
}

/** The authorization stage's events. */
export interface AuthzEvents {
  'authz-denied': AuthzDeniedEvent;
}

/** A decision. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** The rules and the intentions of one inbound listener. */
export class Authorizer {
  readonly #rules: Rules;
  readonly #intentions: Intentions | undefined;

  constructor(
    policy: AuthorizationPolicy,
    ctx: { target: string; clock: Clock; defaultConnection?: ConsulConnectionOptions | undefined },
  ) {
    this.#rules = new Rules(policy.rules);
    this.#intentions = policy.consul
      ? new Intentions(policy.consul, policy.consul.target ?? ctx.target, ctx.clock, ctx.defaultConnection)
      : undefined;
  }

  /** Whether paths must be in normal form (a rule reads them). */
  get readsPaths(): boolean {
    return this.#rules.readsPaths;
  }

  /** The decision for one request: the rules, then the intentions, then deny. */
  judge(caller: Caller | undefined, method: string, path: string): Decision | Promise<Decision> {
    const local = this.#rules.judge(caller, method, path);
    if (local) return local;
    if (!this.#intentions) return { allowed: false, reason: 'no allow rule matched' };
    if (!caller) return { allowed: false, reason: 'no client certificate: intentions need an identity' };
    return this.#intentions.judge(caller);
  }

  close(): void {
    this.#intentions?.close();
  }
}

const shared = new WeakMap<Registry, Map<string, Counter<'service' | 'caller' | 'decision'>>>();

/** Requests by caller identity and decision, with a bounded caller label. */
export class CallerMetrics {
  readonly #counter: Counter<'service' | 'caller' | 'decision'>;
  readonly #seen = new Map<string, Set<string>>();

  constructor(
    registry: Registry,
    prefix: string,
    private readonly maxCallers: number,
  ) {
    let byPrefix = shared.get(registry);
    if (!byPrefix) shared.set(registry, (byPrefix = new Map()));
    let counter = byPrefix.get(prefix);
    if (!counter) {
      // An optional peer, loaded only when metrics are on.
      const prom = requirePeer<typeof PromClient>('prom-client', 'options.telemetry.metrics');
      counter = new prom.Counter({
        name: `${prefix}authz_requests_total`,
        help: 'Requests the inbound listener received, by caller identity (SPIFFE ID; _none without a certificate) and decision.',
        labelNames: ['service', 'caller', 'decision'],
        registers: [registry],
      });
      byPrefix.set(prefix, counter);
    }
    this.#counter = counter;
  }

  count(service: string, caller: Caller | undefined, decision: 'allow' | 'deny'): void {
    this.#counter.inc({ service, caller: this.#label(service, caller), decision });
  }

  #label(service: string, caller: Caller | undefined): string {
    if (!caller) return '_none';
    let seen = this.#seen.get(service);
    if (!seen) this.#seen.set(service, (seen = new Set()));
    if (seen.has(caller.id)) return caller.id;
    if (seen.size >= this.maxCallers) return '_other';
    seen.add(caller.id);
    return caller.id;
  }
}

/** What the stage needs. */
export interface CallerStageOptions<Req> {
  service: string;
  /** Absent: identity is recorded, every caller the listener accepted may call. */
  authorizer: Authorizer | undefined;
  /** The verified caller of a request, `undefined` without a certificate. */
  peerOf(call: Call<Req>): Caller | undefined;
  events: EventSink<AuthzEvents>;
  metrics: CallerMetrics | undefined;
}

/** The span attribute naming the caller's identity. */
export const CALLER_ATTRIBUTE = 'mesh.peer.identity';

/** The stage's filter. */
export function callerStage<R>(options: CallerStageOptions<R>): Filter {
  const { service, authorizer, events, metrics } = options;
  const deny = (
    caller: Caller | undefined,
    call: Call<unknown>,
    path: string,
    reason: string,
    code: 'MESH_FORBIDDEN' | 'MESH_BAD_REQUEST',
  ) => {
    metrics?.count(service, caller, 'deny');
    if (events.wants('authz-denied')) {
      events.emit('authz-denied', { service, caller: caller?.id, method: call.method, path, reason });
    }
    return new MeshError(
      code,
      code === 'MESH_FORBIDDEN' ? `the caller may not call "${service}": ${reason}` : reason,
      {
        service,
      },
    );
  };
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      const caller = options.peerOf(call as unknown as Call<R>);
      if (caller) trace.getActiveSpan()?.setAttribute(CALLER_ATTRIBUTE, caller.id);
      if (!authorizer) {
        metrics?.count(service, caller, 'allow');
        return next(call);
      }
      const { path, normal } = normalPath(call.path);
      if (authorizer.readsPaths && !normal) {
        return Promise.reject(
          deny(caller, call, path, 'the request path is not in normal form', 'MESH_BAD_REQUEST'),
        );
      }
      const settle = (decision: Decision): Promise<Rep> => {
        if (!decision.allowed)
          return Promise.reject(deny(caller, call, path, decision.reason, 'MESH_FORBIDDEN'));
        metrics?.count(service, caller, 'allow');
        return next(call);
      };
      const decision = authorizer.judge(caller, call.method, path);
      return decision instanceof Promise ? decision.then(settle) : settle(decision);
    };
}
