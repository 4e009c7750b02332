/**
 * The total deadline: one timer per request that bounds every attempt and backoff together
 * (gRPC deadlines, Finagle's `TimeoutFilter` on the whole request). The call's deadline is set
 * at the ingress (the request's own timeout, or the policy's); this filter arms it and links
 * the caller's and the client's abort signals, so whichever comes first stops the request.
 * A request whose deadline has already passed is not sent at all.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors.js';

export function deadline(clock: Clock, shutdown: AbortSignal): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const remaining = call.deadline - clock.now();
      if (remaining <= 0) {
        throw new MeshError('MESH_TIMEOUT', 'deadline passed before the request was sent', {
          service: call.service,
        });
      }
      const caller = call.signal;
      caller.throwIfAborted();
      shutdown.throwIfAborted();
      const controller = new AbortController();
      const onAbort = function (this: AbortSignal) {
        controller.abort(this.reason);
      };
      // The ingress passes the shutdown signal itself when the caller gave none.
      if (caller !== shutdown) caller.addEventListener('abort', onAbort);
      shutdown.addEventListener('abort', onAbort);
      const timer = Number.isFinite(remaining)
        ? clock.setTimeout(() => {
            const expired = new MeshError('MESH_TIMEOUT', `no reply within ${Math.round(remaining)} ms`, {
              service: call.service,
              endpoint: call.tried.at(-1)?.url,
            });
            controller.abort(expired);
          }, remaining)
        : undefined;
      call.signal = controller.signal;
      try {
        return await next(call);
      } catch (err) {
        // The attempt below sees only "aborted"; say why: the deadline, or the client closing.
        const reason: unknown = controller.signal.reason;
        if (controller.signal.aborted && reason instanceof MeshError) throw withCause(reason, err);
        throw err;
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
        caller.removeEventListener('abort', onAbort);
        shutdown.removeEventListener('abort', onAbort);
        call.signal = caller;
      }
    };
}

function withCause(error: MeshError, cause: unknown): MeshError {
  if (cause !== error && error.cause === undefined) Object.defineProperty(error, 'cause', { value: cause });
  return error;
}
