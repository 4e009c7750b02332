/**
 * The balance stage: picks the endpoint for an attempt and keeps the load signals the
 * balancers read: requests in flight and totals on the endpoint itself, and each finished
 * attempt reported to the balancer's load metric when it has one (see `load/`). An attempt cut
 * short by the caller, or refused by a breaker before it was sent, says nothing about the
 * endpoint and is not reported.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { EndpointPool } from '../core/pool.js';
import { callerGaveUp, errorCode } from '../errors/classify.js';
import { isMeshError, MeshError } from '../errors/mesh-error.js';
import type { Balancer } from './balancer.js';

/** One attempt finished (answered, failed or was cut short). */
export interface AttemptEvent {
  service: string;
  endpoint: string;
  /** 1-based attempt number within the request. */
  attempt: number;
  method: string;
  /** HTTP status, when a response came back. */
  status: number | undefined;
  /** Error code (e.g. `ECONNREFUSED`, `MESH_TIMEOUT`), when no response came back. */
  error: string | undefined;
  durationMs: number;
}

/** The events of the balance stage. */
export interface BalanceEvents {
  attempt: AttemptEvent;
}

/** What the balance stage reads of its service. */
export interface BalanceContext {
  readonly service: string;
  readonly pool: EndpointPool;
  readonly balancer: Balancer;
  readonly clock: Clock;
  readonly events: EventSink<BalanceEvents>;
}

export function balance(ctx: BalanceContext): Filter {
  const { pool, balancer, clock, events, service } = ctx;
  const load = balancer.load?.observe ? balancer.load : undefined;

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      // Routing may have narrowed the endpoints to a subset with its own balancer.
      const subset = call.subset;
      const ep = subset ? (subset.picker ?? balancer).pick(subset, call) : balancer.pick(pool, call);
      if (!ep) {
        const of = subset ? `the routed subset of service "${service}"` : `service "${service}"`;
        if ((subset ?? pool).all.length === 0) {
          throw new MeshError('MESH_NO_ENDPOINTS', `no endpoints for ${of}`, { service });
        }
        throw new MeshError('MESH_CIRCUIT_OPEN', `every endpoint of ${of} has an open circuit`, {
          service,
        });
      }
      call.endpoint = ep;
      ep.inFlight++;
      ep.requests++;
      const start = clock.now();
      let status: number | undefined;
      let failure: unknown;
      try {
        const reply = await next(call);
        status = reply.status;
        return reply;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        ep.inFlight--;
        const now = clock.now();
        const rtt = now - start;
        const counted = failure === undefined || !callerGaveUp(call as Call<unknown>);
        if (counted && !isMeshError(failure, 'MESH_CIRCUIT_OPEN')) {
          const failed = failure !== undefined || (status !== undefined && status >= 500);
          if (failed) ep.failures++;
          load?.observe?.(ep, rtt, failed, now);
        }
        if (events.wants('attempt')) {
          events.emit('attempt', {
            service,
            endpoint: ep.url,
            attempt: call.attempt,
            method: call.method,
            status,
            error: failure === undefined ? undefined : (errorCode(failure) ?? 'ERROR'),
            durationMs: rtt,
          });
        }
      }
    };
}
