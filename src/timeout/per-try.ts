/**
 * The per-try timeout: bounds one attempt, so a hung endpoint costs one attempt and not the
 * whole deadline (Envoy's `per_try_timeout`). Expiry aborts the attempt's signal with a
 * `MESH_TIMEOUT` error; the retry policy may then try another endpoint (idempotent requests
 * only, since the first may have been processed).
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { MeshError } from '../errors.js';

export function perTryTimeout(clock: Clock, ms: number | false): Filter {
  if (ms === false) return (next) => next;
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const parent = call.signal;
      const controller = new AbortController();
      const onAbort = () => controller.abort(parent.reason);
      parent.addEventListener('abort', onAbort);
      let expired: MeshError | undefined;
      const timer = clock.setTimeout(() => {
        expired = new MeshError('MESH_TIMEOUT', `attempt ${call.attempt} timed out after ${ms} ms`, {
          service: call.service,
          endpoint: call.endpoint?.url,
        });
        controller.abort(expired);
      }, ms);
      call.signal = controller.signal;
      try {
        return await next(call);
      } catch (err) {
        if (expired && !parent.aborted) throw expired;
        throw err;
      } finally {
        clock.clearTimeout(timer);
        parent.removeEventListener('abort', onAbort);
      }
    };
}
