/**
 * Hedged requests (Dean and Barroso, "The Tail at Scale", CACM 2013; Finagle's
 * `BackupRequestFilter`; gRPC's hedging policy): when an idempotent attempt has not answered
 * after a delay, send a backup to another endpoint and take whichever answers first. A slow
 * endpoint then costs the delay, not its latency, while the backups add only the share of
 * requests slower than the delay to the load.
 *
 * - The delay is fixed, or the service's observed percentile (95th by default) of first-attempt
 *   latencies, kept in a ring of recent samples ({@link LatencyWindow}) measured on the mesh
 *   clock. Until `minSamples` are in, nothing is hedged. A first attempt that loses the race is
 *   recorded with the time it had taken when it lost (a lower bound), so slow endpoints cannot
 *   drop out of the estimate by always losing.
 * - Backups are paid for from the retry budget ({@link RetryBudget.tryWithdraw}): without a
 *   budget there is no hedging, and when it is spent a slow attempt is simply waited for. The
 *   retry filter deposits each request; this filter does not.
 * - The backup goes through the balancer below with the first attempt's endpoint counted as
 *   tried, so it prefers another endpoint.
 * - The first good answer wins (a reply the `isFailure` test passes, by default any status
 *   below 500); a failure while the other attempt is still out waits for that one. The loser is
 *   aborted through its own signal (the breakers and load estimates below do not count an
 *   aborted attempt against its endpoint) and a reply it still produces is discarded.
 *
 * Place it between the retry filter and the balance filter: it wraps one attempt, so each
 * retry may be hedged too, and both endpoints of a hedged attempt join `call.tried`.
 */
import { attemptOf, type Call, type Filter, type Handler, type Reply } from '../core/call.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { AttemptSignal } from '../core/signal.js';
import { LatencyWindow } from './latency.js';
import type { HedgePolicy } from './options.js';

/** A backup attempt was sent. */
export interface HedgeEvent {
  service: string;
  /** The attempt (of the request) that was hedged. */
  attempt: number;
  /** Where the first attempt went. */
  endpoint: string | undefined;
  /** How long (ms) the first attempt had been out. */
  delayMs: number;
}

/** The events hedging emits. */
export interface HedgeEvents {
  hedge: HedgeEvent;
}

/** What hedging needs besides its options. */
export interface HedgeContext {
  service: string;
  clock: Clock;
  /** Pays for the backups (the stage is off without one). */
  budget: { tryWithdraw(): boolean };
  /** The mesh's shutdown signal: attempts under it are aborted through one listener, not one each. */
  shutdown?: AbortSignal | undefined;
  /** The latency estimate (pass one to read it elsewhere, e.g. for stats). @defaultValue a new one */
  latency?: LatencyWindow | undefined;
  /** Whether a reply is a failure that should wait for the other attempt. @defaultValue status >= 500 */
  isFailure?: ((reply: Reply) => boolean) | undefined;
  events: EventSink<HedgeEvents>;
}

/** The abort reason of the attempt that lost the race. */
export class HedgeLostError extends Error {
  readonly code = 'MESH_HEDGE_LOST';
  constructor() {
    super('another attempt of this request answered first');
    this.name = 'HedgeLostError';
  }
}

type Outcome<Rep> = { reply: Rep } | { error: unknown };

interface Racer<Req, Rep> {
  call: Call<Req>;
  signal: AttemptSignal;
  start: number;
  end: number;
  outcome: Outcome<Rep> | undefined;
}

const isServerError = (reply: Reply) => reply.status >= 500;

/** The hedging filter of one service. */
export function hedge(o: HedgePolicy, ctx: HedgeContext): Filter {
  const { clock, shutdown } = ctx;
  const paid = ctx.budget;
  const latency = ctx.latency ?? new LatencyWindow(o.samples);
  const isFailure = ctx.isFailure ?? isServerError;
  // Attempts whose parent is the shutdown signal are aborted through this one listener.
  const live = new Set<AttemptSignal>();
  shutdown?.addEventListener(
    'abort',
    () => {
      for (const signal of live) signal.abort(shutdown.reason);
    },
    { once: true },
  );

  const delayNow = (): number | undefined => {
    if (typeof o.delay === 'number') return Math.max(o.delay, o.minDelay);
    if (latency.count < o.minSamples) return undefined;
    return Math.max(latency.percentile(o.percentile), o.minDelay);
  };

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const delay = call.idempotent && call.replayable ? delayNow() : undefined;
      if (delay === undefined) {
        // Not hedged; its latency still feeds the estimate.
        const start = clock.now();
        const reply = await next(call);
        latency.add(clock.now() - start);
        return reply;
      }
      return race(call, next, delay);
    };

  function race<Req, Rep extends Reply>(
    call: Call<Req>,
    next: Handler<Req, Rep>,
    delay: number,
  ): Promise<Rep> {
    const parent = call.signal;
    if (parent.aborted) return Promise.reject(parent.reason);
    return new Promise<Rep>((resolve, reject) => {
      const racers: Racer<Req, Rep>[] = [];
      let done = false;
      let timer: TimerHandle | undefined;
      const linked = parent !== shutdown;
      const onParentAbort = () => {
        for (const r of racers) r.signal.abort(parent.reason);
      };
      if (linked) parent.addEventListener('abort', onParentAbort);

      const launch = (tried: Call<Req>['tried']) => {
        const signal = new AttemptSignal();
        const own = attemptOf(call, call.attempt, tried);
        own.signal = signal;
        const racer: Racer<Req, Rep> = { call: own, signal, start: clock.now(), end: 0, outcome: undefined };
        racers.push(racer);
        if (!linked) live.add(signal);
        let sent: Promise<Rep>;
        try {
          sent = next(own);
        } catch (error) {
          // A handler that throws instead of rejecting must not escape from the timer.
          sent = Promise.reject(error);
        }
        sent.then(
          (reply) => settled(racer, { reply }),
          (error: unknown) => settled(racer, { error }),
        );
      };

      const settled = (racer: Racer<Req, Rep>, outcome: Outcome<Rep>) => {
        racer.outcome = outcome;
        racer.end = clock.now();
        live.delete(racer.signal);
        if (done) {
          // The loser answered anyway: release its reply.
          if ('reply' in outcome) outcome.reply.discard?.();
          return;
        }
        const good = 'reply' in outcome && !isFailure(outcome.reply);
        // A failure waits for the other attempt while that one is out. Before a backup was sent,
        // or once both failed, it is the answer (the retry filter above takes it from there).
        if (!good && racers.some((r) => r.outcome === undefined)) return;
        finish(good ? racer : preferred(racers));
      };

      const finish = (winner: Racer<Req, Rep>) => {
        done = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        if (linked) parent.removeEventListener('abort', onParentAbort);
        const first = racers[0]!;
        // The first attempt's time to answer; when it lost, the time it had taken (a lower bound).
        if (first.outcome === undefined) latency.add(clock.now() - first.start);
        else if ('reply' in first.outcome) latency.add(first.end - first.start);
        for (const r of racers) {
          if (r === winner) continue;
          if (r.outcome === undefined) r.signal.abort(new HedgeLostError());
          else if ('reply' in r.outcome) r.outcome.reply.discard?.();
          // Both endpoints were tried: a retry should prefer a third.
          const ep = r.call.endpoint;
          if (ep && !call.tried.includes(ep)) call.tried.push(ep);
        }
        call.endpoint = winner.call.endpoint;
        const outcome = winner.outcome!;
        if ('reply' in outcome) resolve(outcome.reply);
        else reject(outcome.error);
      };

      launch(call.tried);
      timer = clock.setTimeout(() => {
        timer = undefined;
        const first = racers[0]!;
        if (done || parent.aborted || clock.now() >= call.deadline || !paid.tryWithdraw()) return;
        const ep = first.call.endpoint;
        ctx.events.emit('hedge', {
          service: call.service,
          attempt: call.attempt,
          endpoint: ep?.url,
          delayMs: clock.now() - first.start,
        });
        // The balancer below prefers endpoints not in `tried`: the backup goes elsewhere.
        launch(ep ? [...call.tried, ep] : [...call.tried]);
      }, delay);
    });
  }
}

/** Among settled racers: a reply over an error, the earlier-launched attempt first. */
function preferred<Req, Rep>(racers: Racer<Req, Rep>[]): Racer<Req, Rep> {
  return (
    racers.find((r) => r.outcome !== undefined && 'reply' in r.outcome) ?? racers.find((r) => r.outcome)!
  );
}
