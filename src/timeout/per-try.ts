/**
 * The attempt's signal: aborts when the per-try timeout (Envoy's `per_try_timeout`) or the
 * request's deadline comes first, when the caller gives up, or when the mesh closes, with a
 * {@link MeshError} saying which. A hung endpoint so costs one attempt, not the whole deadline;
 * the retry policy may then try another endpoint (idempotent requests only, since the first may
 * have been processed).
 *
 * The limit is the request's own (`call.perTry`, set when the caller gave the request a timeout
 * of its own: that timeout then bounds each attempt instead of the policy's) or else the
 * policy's. A limit past what a Node timer can hold (2^31 - 1 ms, about 24.8 days) arms no timer:
 * Node would fire such a timer at once.
 *
 * With `propagate`, the attempt's limit also travels to the upstream as `x-mesh-deadline-ms`.
 *
 * Per attempt: one {@link AttemptSignal} and one timer. Shutdown reaches live attempts through
 * this filter's own set of them (one listener on the shutdown signal per pipeline, not one per
 * attempt); a caller's own signal is listened to only when there is one.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { AttemptSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import { deadlineExceeded } from './deadline.js';
import { DEADLINE_HEADER } from './propagation.js';

/** The longest delay a Node timer takes as it is. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function perTryTimeout(
  clock: Clock,
  policyMs: number | false,
  shutdown: AbortSignal,
  propagate = false,
): Filter {
  const live = new Set<AttemptSignal>();
  shutdown.addEventListener(
    'abort',
    () => {
      for (const signal of live) signal.abort(shutdown.reason);
    },
    { once: true },
  );

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const remaining = call.deadline - clock.now();
      if (remaining <= 0) throw deadlineExceeded(call as Call<unknown>);
      if (shutdown.aborted) throw shutdown.reason;
      const own = call.perTry;
      const ms = own === undefined ? policyMs : own;
      const perTry = ms !== false && ms < remaining;
      const limit = perTry ? ms : remaining;

      const parent = call.signal;
      const signal = new AttemptSignal();
      const onAbort = () => signal.abort(parent.reason);
      if (parent !== shutdown) {
        if (parent.aborted) throw parent.reason;
        parent.addEventListener('abort', onAbort);
      }
      live.add(signal);
      const timer =
        limit <= MAX_TIMER_MS
          ? clock.setTimeout(() => {
              signal.abort(
                perTry
                  ? new MeshError('MESH_TIMEOUT', `attempt ${call.attempt} timed out after ${ms} ms`, {
                      service: call.service,
                      endpoint: call.endpoint?.url,
                    })
                  : deadlineExceeded(call as Call<unknown>),
              );
            }, limit)
          : undefined;
      call.signal = signal;
      // The upstream learns how long this attempt may take (see propagation.ts).
      if (propagate && timer !== undefined) {
        call.headers = { ...call.headers, [DEADLINE_HEADER]: String(Math.max(0, Math.floor(limit))) };
      }
      try {
        return await next(call);
      } catch (err) {
        // Below, an abort is only "aborted"; say why: which timeout, or the mesh closing.
        const reason = signal.reason;
        if (signal.aborted && reason instanceof MeshError) throw withCause(reason, err);
        throw err;
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
        live.delete(signal);
        if (parent !== shutdown) parent.removeEventListener('abort', onAbort);
      }
    };
}

function withCause(error: MeshError, cause: unknown): MeshError {
  if (cause !== error && error.cause === undefined) Object.defineProperty(error, 'cause', { value: cause });
  return error;
}
