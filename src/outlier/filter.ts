/**
 * The outlier-detection stage: reports each attempt's outcome to the service's
 * {@link OutlierDetector}, which ejects endpoints that fail unlike their peers.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import { countsAgainst, type Outcome } from '../errors/classify.js';
import { isMeshError } from '../errors/mesh-error.js';
import type { OutlierDetector, OutlierOutcome } from './detector.js';

/** How an attempt's outcome counts; `undefined` for attempts that say nothing about the endpoint. */
export function classifyOutcome(outcome: Outcome, call: Call<unknown>): OutlierOutcome | undefined {
  if ('reply' in outcome) {
    const status = outcome.reply.status;
    if (status < 500) return 'success';
    return status === 502 || status === 503 || status === 504 ? 'gateway' : '5xx';
  }
  // A breaker's refusal never reached the endpoint; a caller giving up is not its fault.
  if (isMeshError(outcome.error, 'MESH_CIRCUIT_OPEN') || !countsAgainst(outcome, call)) return undefined;
  // Connection failures, resets and timeouts are local-origin errors, which Envoy maps to 503/504.
  return 'gateway';
}

/**
 * The outlier-detection filter: observes each attempt's outcome for its endpoint. It sits below
 * the balance filter (which sets `call.endpoint`); placed below the breaker it sees only
 * attempts that were sent.
 */
export function outlierDetection(detector: OutlierDetector): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const ep = call.endpoint;
      if (!ep) return next(call);
      let reply: Rep;
      try {
        reply = await next(call);
      } catch (error) {
        const kind = classifyOutcome({ error }, call as Call<unknown>);
        if (kind) detector.record(ep, kind);
        throw error;
      }
      const kind = classifyOutcome({ reply }, call as Call<unknown>);
      if (kind) detector.record(ep, kind);
      return reply;
    };
}
