/**
 * The breaker filter: each attempt passes its endpoint's circuit breaker.
 *
 * A breaker is created at an endpoint's first failure, which is then counted in it: until an
 * endpoint has failed there is nothing a breaker could open on, and a fleet of healthy
 * endpoints costs no breaker state or per-request bookkeeping at all (opossum's per-breaker
 * cost, kilobytes and listeners, is what makes 10,000 eager breakers expensive).
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import { countsAgainst } from '../errors/classify.js';
import type { BreakerGroup } from './group.js';

export function breaker(group: BreakerGroup): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const ep = call.endpoint!;
      const existing = group.existing(ep);
      if (existing) return existing.run(call, next);
      let reply: Rep;
      try {
        reply = await next(call);
      } catch (error) {
        if (countsAgainst({ error }, call as Call<unknown>))
          group.for(ep).record(call as Call<unknown>, { error });
        throw error;
      }
      if (countsAgainst({ reply }, call as Call<unknown>))
        group.for(ep).record(call as Call<unknown>, { reply });
      return reply;
    };
}
