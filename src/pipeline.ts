/**
 * The request path, in one place. Outermost first:
 *
 *   telemetry -> deadline -> retry -> balance -> attempt telemetry -> breaker -> per-try timeout -> transport
 *
 * The deadline refuses what is already late; retry repeats what is below it; balance picks the
 * endpoint each attempt goes to; the breaker guards that endpoint; the per-try timeout bounds
 * one attempt by its own limit and by the time the deadline leaves. The fat client and the sidecar run this same composition over their transports.
 *
 * Telemetry sits at two places: at the head, where a request is seen once (its span, count and
 * latency), and right below the balancer, where each attempt's endpoint is known (its span, whose
 * trace context goes out in the attempt's headers, and its count). What is off is not composed
 * at all, so a pipeline without telemetry pays nothing for it.
 */
import { balance } from './balance/filter.js';
import { breaker } from './breaker/filter.js';
import { compose } from './core/call.js';
import { retry } from './retry/filter.js';
import type { ServiceRuntime } from './service.js';
import { deadline } from './timeout/deadline.js';
import { perTryTimeout } from './timeout/per-try.js';

export function pipeline(svc: ServiceRuntime) {
  const telemetry = svc.telemetry;
  return compose(
    ...(telemetry ? telemetry.requestFilters(svc) : []),
    deadline(svc.clock, svc.shutdown),
    retry(svc),
    balance(svc),
    ...(telemetry ? telemetry.attemptFilters(svc) : []),
    breaker(svc.breakers),
    perTryTimeout(svc.clock, svc.policy.timeout.perTry, svc.shutdown, svc.policy.timeout.propagate),
  );
}
