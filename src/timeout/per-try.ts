/**
 * The attempt's signal: aborts when the per-try timeout (Envoy's `per_try_timeout`) or the
 * request's deadline comes first, when the caller gives up, or when the mesh closes, with a
 * {@link MeshError} saying which. A hung endpoint so costs one attempt, not the whole deadline;
 * the retry policy may then try another endpoint (idempotent requests only, since the first may
 * have been processed). One AbortController and one timer per attempt.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors.js';
import { deadlineExceeded } from './deadline.js';

export function perTryTimeout(clock: Clock, ms: number | false, shutdown: AbortSignal): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const remaining = call.deadline - clock.now();
      if (remaining <= 0) throw deadlineExceeded(call as Call<unknown>);
      const perTry = ms !== false && ms < remaining;
      const limit = perTry ? ms : remaining;
      const parent = call.signal;
      // No timer and nothing to link: the attempt can run on the caller's signal as is.
      if (!Number.isFinite(limit) && parent === shutdown) return next(call);

      const controller = new AbortController();
      const onAbort = function (this: AbortSignal) {
        controller.abort(this.reason);
      };
      parent.addEventListener('abort', onAbort);
      if (parent !== shutdown) shutdown.addEventListener('abort', onAbort);
      const timer = Number.isFinite(limit)
        ? clock.setTimeout(() => {
            controller.abort(
              perTry
                ? new MeshError('MESH_TIMEOUT', `attempt ${call.attempt} timed out after ${ms} ms`, {
                    service: call.service,
                    endpoint: call.endpoint?.url,
                  })
                : deadlineExceeded(call as Call<unknown>),
            );
          }, limit)
        : undefined;
      call.signal = controller.signal;
      try {
        return await next(call);
      } catch (err) {
        // Below, an abort is only "aborted"; say why: which timeout, or the mesh closing.
        const reason: unknown = controller.signal.reason;
        if (controller.signal.aborted && reason instanceof MeshError) throw withCause(reason, err);
        throw err;
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
        parent.removeEventListener('abort', onAbort);
        if (parent !== shutdown) shutdown.removeEventListener('abort', onAbort);
      }
    };
}

function withCause(error: MeshError, cause: unknown): MeshError {
  if (cause !== error && error.cause === undefined) Object.defineProperty(error, 'cause', { value: cause });
  return error;
}
