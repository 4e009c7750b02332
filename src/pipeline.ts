/**
 * The request path, in one place. Outermost first:
 *
 *   request telemetry -> deadline -> route -> fault -> rate limit -> concurrency limit -> retry
 *     -> hedge -> balance -> attempt telemetry -> breaker -> outlier detection -> per-try timeout
 *     -> transport
 *
 * The deadline refuses what is already late; routing picks the subset of endpoints the request
 * may go to (and may inject its rule's faults); the service-wide faults come next, then the
 * limits, which count requests, not attempts; retry repeats what is below it; hedging races a
 * backup against a slow attempt; balance picks the endpoint each attempt goes to; the breaker
 * guards that endpoint and outlier detection watches its outcomes; the per-try timeout bounds
 * one attempt by its own limit and by the time the deadline leaves. The fat client and the
 * sidecar run this same composition over their transports.
 *
 * Telemetry sits at two places: at the head, where a request is seen once (its span, count and
 * latency), and right below the balancer, where each attempt's endpoint is known (its span, whose
 * trace context goes out in the attempt's headers, and its count). What is off is not composed
 * at all, so a pipeline pays nothing for a disabled concern.
 */
import { balance } from './balance/filter.js';
import { breaker } from './breaker/filter.js';
import { outlierDetection } from './breaker/outlier.js';
import { compose, type Filter } from './core/call.js';
import { faultReplyOf } from './governance.js';
import { concurrencyLimit } from './limit/concurrency.js';
import { rateLimit } from './limit/rate.js';
import { budgetDeposit, retries, retry } from './retry/filter.js';
import { hedge } from './retry/hedge.js';
import { fault } from './route/fault.js';
import { route } from './route/rules.js';
import type { ServiceRuntime } from './service.js';
import { deadline } from './timeout/deadline.js';
import { perTryTimeout } from './timeout/per-try.js';

/** The filters of `svc`'s pipeline, from its policy and state as they are now. */
export function pipeline(svc: ServiceRuntime) {
  const { telemetry, policy, governance: g } = svc;
  const on = <T>(piece: T | undefined | false, filter: (piece: T) => Filter): Filter[] =>
    piece === undefined || piece === false ? [] : [filter(piece)];
  const retrying = retries(policy.retry);
  const retryFillsHedgeBudget = retrying && svc.hedgeBudget === svc.budget;
  return compose(
    ...(telemetry ? telemetry.requestFilters(svc) : []),
    deadline(svc.clock, svc.shutdown),
    ...on(g.router, route),
    ...on(policy.faults, (faults) =>
      fault(faults, {
        clock: svc.clock,
        random: svc.random,
        synthesize: faultReplyOf(svc.position),
        emit: svc.events.bridge(),
      }),
    ),
    ...on(g.bucket, rateLimit),
    ...on(g.bulkhead, concurrencyLimit),
    // Hedging spends a budget that requests must fill; the retry filter fills only its own.
    ...on(policy.hedge !== false && !retryFillsHedgeBudget && svc.hedgeBudget, budgetDeposit),
    ...(retrying ? [retry(svc)] : []),
    ...on(policy.hedge, (options) =>
      hedge(options, {
        service: svc.service,
        clock: svc.clock,
        budget: svc.hedgeBudget,
        shutdown: svc.shutdown,
        latency: svc.latency,
        emit: svc.events.bridge(),
      }),
    ),
    balance(svc),
    ...(telemetry ? telemetry.attemptFilters(svc) : []),
    breaker(svc.breakers),
    ...on(g.detector, outlierDetection),
    perTryTimeout(svc.clock, svc.policy.timeout.perTry, svc.shutdown, svc.policy.timeout.propagate),
  );
}
