/** The breaker filter: each attempt passes its endpoint's circuit breaker. */
import type { Filter } from '../core/call.js';
import type { BreakerGroup } from './group.js';

export function breaker(group: BreakerGroup | undefined): Filter {
  if (!group) return (next) => next;
  return (next) => (call) => {
    const ep = call.endpoint!;
    if (ep.state === 'half-open') group.trialStarted(ep);
    return group.for(ep).run(call, next);
  };
}
