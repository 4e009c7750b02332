/**
 * A service's pipeline, composed from the stage table (`stack.ts`) over the position's
 * transport. In direct mode the stages run in the table's order. In sidecar mode the stages
 * that stay with the caller come first, down to the hand-off, and the delivery stages follow as
 * the hand-off's `next`: they run in this process only when falling back to direct.
 */
import { compose, type Filter, type Handler, type Reply } from '../core/call.js';
import type { ServiceState } from './service.js';
import { STACK, type Stage } from './stack.js';

/** The filters of `svc`'s pipeline, from its policy and state as they are now, around `transport`. */
export function pipeline<Req, Rep extends Reply>(
  svc: ServiceState,
  transport: Handler<Req, Rep>,
): Handler<Req, Rep> {
  const made: Array<[Stage, Filter]> = [];
  for (const stage of STACK) {
    const filter = stage.make(svc);
    if (filter) made.push([stage, filter]);
  }
  const handsOff = made.some(([stage]) => stage.role === 'sidecar-handoff');
  const ordered = handsOff
    ? [...made.filter(([s]) => s.layer === 'caller'), ...made.filter(([s]) => s.layer === 'delivery')]
    : made;
  return compose(...ordered.map(([, filter]) => filter))(transport);
}
