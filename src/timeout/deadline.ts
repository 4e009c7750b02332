/**
 * The total deadline (gRPC deadlines, Finagle's `TimeoutFilter` over the whole request): the
 * ingress stamps each call with an absolute `deadline` (the request's own timeout, or the
 * policy's `timeout.total`), and every stage below honours it: each attempt's signal fires at
 * min(per-try timeout, time left) (see `per-try.ts`), the retry filter starts no backoff that
 * would end past it, and the wait for discovery is bounded by it. One timer per attempt then
 * serves both limits; no request-wide timer is needed.
 *
 * This filter refuses a request whose deadline has already passed (it is not sent at all) and
 * one that arrives after the mesh closed.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors/mesh-error.js';

export function deadline(clock: Clock, shutdown: AbortSignal): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      if (shutdown.aborted) return Promise.reject(shutdown.reason);
      if (call.signal.aborted) return Promise.reject(call.signal.reason);
      if (call.deadline <= clock.now()) {
        return Promise.reject(
          new MeshError('MESH_TIMEOUT', 'deadline passed before the request was sent', {
            service: call.service,
          }),
        );
      }
      return next(call);
    };
}

/** The error for a request whose deadline passed while it was under way. */
export function deadlineExceeded(call: Call<unknown>): MeshError {
  return new MeshError('MESH_TIMEOUT', `deadline passed during attempt ${call.attempt}`, {
    service: call.service,
    endpoint: call.endpoint?.url,
  });
}
