/**
 * The discovery stage: a request waits here for its service's first endpoint set (the first
 * request of a service starts the registry watch), bounded by its deadline, so the stages
 * below (routing, balancing) see the endpoints discovery knows. Once the first set is in, this
 * costs one property read per request.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';

/** What the stage needs of its service. */
export interface DiscoveryContext {
  /** Pending until the first endpoint set (or rejects); `undefined` once it is in. */
  ready(call: Call<unknown>): Promise<void> | undefined;
}

export function discovery(ctx: DiscoveryContext): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      const waiting = ctx.ready(call as Call<unknown>);
      return waiting ? waiting.then(() => next(call)) : next(call);
    };
}
