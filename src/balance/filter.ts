/**
 * The balance filter: picks the endpoint for an attempt and keeps the load signals the
 * balancers read (requests in flight, the peak-EWMA latency estimate, totals for snapshots).
 * Failures are recorded with at least the failure penalty as latency, so a fast 503 does not
 * make an endpoint look attractive.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { EndpointPool } from '../core/pool.js';
import { isMeshError, MeshError } from '../errors.js';
import { observeRtt } from '../load/peak-ewma.js';
import type { LoadBalancerOptions } from '../options.js';
import { errorCode } from '../retry/policy.js';
import type { MeshEmitter } from '../telemetry/events.js';
import type { Balancer } from './balancer.js';

export interface BalanceContext {
  service: string;
  pool: EndpointPool;
  balancer: Balancer;
  load: Required<LoadBalancerOptions>;
  clock: Clock;
  events: MeshEmitter;
  /** Resolves once discovery produced the first endpoint set (or rejects). */
  ready(call: Call<unknown>): Promise<void> | undefined;
}

export function balance(ctx: BalanceContext): Filter {
  const { pool, balancer, clock, events, service } = ctx;
  const { decay, failurePenalty } = ctx.load;

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const waiting = ctx.ready(call as Call<unknown>);
      if (waiting) await waiting;
      // Routing may have narrowed the endpoints to a subset with its own balancer.
      const subset = call.subset;
      const ep = subset
        ? (subset.picker ?? balancer).pick(subset, call as Call<unknown>)
        : balancer.pick(pool, call as Call<unknown>);
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
        // An attempt cut short by the caller or a breaker says nothing about the endpoint's speed.
        const counted =
          failure === undefined || !(call.signal.aborted && !isMeshError(call.signal.reason, 'MESH_TIMEOUT'));
        const refused = isMeshError(failure, 'MESH_CIRCUIT_OPEN');
        if (counted && !refused) {
          const failed = failure !== undefined || (status !== undefined && status >= 500);
          if (failed) ep.failures++;
          observeRtt(ep, failed ? Math.max(rtt, failurePenalty) : rtt, now, decay);
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
