/**
 * The sidecar hand-off (`mode: 'sidecar'`): the stage that sends each request to the sidecar,
 * which runs discovery, balancing, breaking and retries, and falls back when it cannot be reached.
 *
 * It sits below the stages that stay with the caller (its request span, its deadline) and above
 * the delivery stages, which are its `next`: with `fallback: 'direct'` a request the sidecar
 * never saw (or an idempotent one whose connection it dropped) is delivered in-process by them,
 * exactly as in direct mode; with `fallback: 'none'` it fails with `MESH_SIDECAR_UNREACHABLE`.
 * Either way a `sidecar-fallback` event says so.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { EventSink } from '../core/events.js';
import { MeshError } from '../errors/mesh-error.js';
import type { SidecarRoute } from './route.js';

/** A request in sidecar mode was delivered directly (or refused) because the sidecar was unreachable. */
export interface SidecarFallbackEvent {
  service: string;
  /** The sidecar's URL. */
  sidecar: string;
  /** Why: the connection error code, or `SIDECAR_DOWN` while the sidecar is presumed down. */
  reason: string;
  /** What happened to the request: delivered in-process, or failed. */
  action: 'direct' | 'none';
}

/** The events of the hand-off. */
export interface HandoffEvents {
  'sidecar-fallback': SidecarFallbackEvent;
}

/** What the hand-off needs: the sidecar's state, how to send to it, where to report. */
export interface HandoffContext {
  route: SidecarRoute;
  /** Sends one call to the sidecar (its attempt signal and deadline header already handled). */
  send: Handler<unknown, Reply>;
  events: EventSink<HandoffEvents>;
}

/** The hand-off stage: to the sidecar while it answers; else `next` (direct) or a refusal. */
export function handOff(ctx: HandoffContext): Filter {
  const { route, events } = ctx;
  const { url, fallback } = route.options;
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> => {
    const send = ctx.send as unknown as Handler<Req, Rep>;
    return async (call: Call<Req>) => {
      let reason = 'SIDECAR_DOWN';
      if (route.up) {
        try {
          return await send(call);
        } catch (err) {
          const code = route.fallbackReason(err, call as Call<unknown>);
          if (code === undefined) throw err;
          reason = code;
        }
      }
      if (events.wants('sidecar-fallback')) {
        events.emit('sidecar-fallback', { service: call.service, sidecar: url, reason, action: fallback });
      }
      if (fallback === 'none') {
        throw new MeshError('MESH_SIDECAR_UNREACHABLE', `sidecar ${url} unreachable (${reason})`, {
          service: call.service,
        });
      }
      return next(call);
    };
  };
}
