/**
 * Fault injection for chaos testing in staging, after Envoy's HTTP fault filter
 * (`envoy.filters.http.fault`) and Istio's `HTTPFaultInjection`: a share of requests is delayed
 * by a fixed time and/or aborted with a chosen status, per service or per route rule. The two
 * draws are independent; the delay comes first, then the abort, as in Envoy.
 *
 * An aborted request never reaches an endpoint: the reply is synthesized by the position (the
 * fat client needs an AxiosResponse, the sidecar a streamed reply), through the `synthesize`
 * function given to the factory; by default `{ status, headers: { 'x-mesh-fault': 'abort' } }`.
 * Placed above the retry filter (as Envoy's fault filter sits before its router), injected
 * aborts are not retried. Delays wait on the mesh clock, end early when the request is aborted,
 * and never run past its deadline. Draws come from the injected random source.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import { type Clock, sleep } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { FaultPolicy } from './options.js';

/** A fault was injected into a request. */
export interface FaultEvent {
  service: string;
  /** What was injected. */
  kind: 'delay' | 'abort';
  /** The delay (ms), for `delay`. */
  delayMs?: number | undefined;
  /** The synthesized status, for `abort`. */
  status?: number | undefined;
  /** The route rule that injected it; absent for the service-wide fault. */
  rule?: string | undefined;
}

/** The events fault injection emits. */
export interface FaultEvents {
  fault: FaultEvent;
}

/** Builds the reply of an aborted request, in the position's reply type. */
export type Synthesize<Req = unknown> = (status: number, call: Call<Req>) => Reply;

/** What fault injection needs besides its options. */
export interface FaultContext<Req = unknown> {
  clock: Clock;
  random: () => number;
  /** The reply of an aborted request. @defaultValue {@link defaultFaultReply} */
  synthesize?: Synthesize<Req> | undefined;
  events: EventSink<FaultEvents>;
}

/** The header marking a synthesized reply. */
export const FAULT_HEADER = 'x-mesh-fault';

/** `{ status, headers: { 'x-mesh-fault': 'abort' } }`: enough for filters and the sidecar's tests. */
export function defaultFaultReply(status: number): Reply {
  return { status, headers: { [FAULT_HEADER]: 'abort' } };
}

/** Draws and applies one fault configuration. */
export class FaultInjector<Req = unknown> {
  readonly #delayPercent: number;
  readonly #delayMs: number;
  readonly #abortPercent: number;
  readonly #status: number;
  readonly #synthesize: Synthesize<Req>;

  constructor(
    options: FaultPolicy,
    private readonly ctx: FaultContext<Req>,
  ) {
    this.#delayPercent = options.delay ? (options.delay.percent ?? 100) : 0;
    this.#delayMs = options.delay?.ms ?? 0;
    this.#abortPercent = options.abort ? (options.abort.percent ?? 100) : 0;
    this.#status = options.abort?.status ?? 503;
    this.#synthesize = ctx.synthesize ?? defaultFaultReply;
  }

  /** Send `call` to `next` with the faults it draws; `rule` names the route rule, for the event. */
  run<R, Rep extends Reply>(call: Call<R>, next: Handler<R, Rep>, rule?: string): Promise<Rep> {
    const delayed = this.#draw(this.#delayPercent) && this.#delayMs > 0;
    const aborted = this.#draw(this.#abortPercent);
    if (!delayed && !aborted) return next(call);
    return this.#inject(call, next, delayed, aborted, rule);
  }

  async #inject<R, Rep extends Reply>(
    call: Call<R>,
    next: Handler<R, Rep>,
    delayed: boolean,
    aborted: boolean,
    rule: string | undefined,
  ): Promise<Rep> {
    const { clock, events } = this.ctx;
    if (delayed) {
      events.emit('fault', { service: call.service, kind: 'delay', delayMs: this.#delayMs, rule });
      // Past the deadline the request has failed anyway; the filters below say so at once.
      const left = Math.max(0, call.deadline - clock.now());
      await sleep(clock, Math.min(this.#delayMs, left), call.signal);
    }
    if (!aborted) return next(call);
    events.emit('fault', { service: call.service, kind: 'abort', status: this.#status, rule });
    // The position's synthesize returns its own reply type; the generic filter cannot see that.
    return this.#synthesize(this.#status, call as unknown as Call<Req>) as Rep;
  }

  #draw(percent: number): boolean {
    return percent >= 100 || (percent > 0 && this.ctx.random() * 100 < percent);
  }
}

/** The service-wide fault-injection filter. */
export function fault<Req = unknown>(options: FaultPolicy, ctx: FaultContext<Req>): Filter {
  const injector = new FaultInjector(options, ctx);
  return <R, Rep extends Reply>(next: Handler<R, Rep>): Handler<R, Rep> =>
    (call: Call<R>) =>
      injector.run(call, next);
}
