/**
 * One circuit breaker per endpoint: opossum decides when to open, the mesh decides when to
 * close again, on evidence.
 *
 * Closed: opossum counts attempts in its rolling window and opens after
 * `errorThresholdPercentage` of at least `volumeThreshold` attempts fail. Its cost is kept small
 * for fleets of thousands: no per-breaker timers (bucket rotation comes from the group's one
 * shared controller; snapshots and percentiles are off), no opossum timeout (the per-try filter
 * owns time).
 *
 * Open and half-open are this module's, because opossum (and cockatiel) close after a single
 * successful trial and always wait the same time (opossum issue 613, cockatiel issue 73):
 * - the endpoint stays out of rotation for a recovery time that doubles with each consecutive
 *   trip, from `resetTimeout` up to `maxResetTimeout`, with jitter (Linkerd's failure-accrual
 *   backoff), on the mesh clock;
 * - half-open lets up to `halfOpenTrials` trial requests through and closes only after that many
 *   consecutive successes (Resilience4j's permitted calls in half-open); one failed trial opens
 *   it again, for longer. Closing starts a fresh opossum window, so failures from before the
 *   trip cannot re-open it.
 */
import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { Call, Handler, Reply } from '../core/call.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Endpoint, EndpointState } from '../core/endpoint.js';
import { callerGaveUp, countsAgainst, type Outcome } from '../errors/classify.js';
import { MeshError } from '../errors/mesh-error.js';
import type { CircuitBreakerPolicy } from './options.js';

/** A reply the breaker must count as a failure, carried through opossum as a rejection. */
class FailedReply extends Error {
  constructor(readonly reply: Reply) {
    super('failed reply');
  }
}

/** 5xx replies count against an endpoint; 4xx are the caller's business. */
function throwIfFailed<R extends Reply>(reply: R): R {
  if (reply.status >= 500) throw new FailedReply(reply);
  return reply;
}

function runAttempt(call: Call<unknown>, next: Handler<unknown, Reply>): Promise<Reply> {
  return next(call).then(throwIfFailed);
}

/**
 * The caller walking away (or the client closing) says nothing about the endpoint. opossum
 * records a filtered error as a success, the lesser evil: its public API cannot skip a call.
 */
function notTheEndpointsFault(_error: unknown, call: Call<unknown>): boolean {
  return callerGaveUp(call);
}

/** What the breaker asks of its group. */
export interface BreakerHost {
  readonly clock: Clock;
  readonly random: () => number;
  /** Whether one more endpoint may be taken out of rotation (the ejection cap). */
  mayEject(ep: Endpoint): boolean;
  opened(ep: Endpoint, trips: number, retryInMs: number): void;
  halfOpened(ep: Endpoint): void;
  closed(ep: Endpoint): void;
  /** Hold the endpoint out of the balancer's ready list (`true`), or release the hold. */
  holdOut(ep: Endpoint, out: boolean): void;
  released(ep: Endpoint): void;
}

export class EndpointBreaker {
  /** The circuit's state, as snapshots and telemetry report it. */
  state: EndpointState = 'healthy';
  #cb: CircuitBreaker<[Call<unknown>, Handler<unknown, Reply>], Reply> | undefined;
  #trips = 0;
  #trialsInFlight = 0;
  #successes = 0;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly ep: Endpoint,
    private readonly options: CircuitBreakerPolicy,
    private readonly rotation: EventEmitter,
    private readonly host: BreakerHost,
  ) {
    this.#cb = this.#counter();
  }

  /** Run one attempt through the breaker; `MESH_CIRCUIT_OPEN` when it refuses. */
  async run<Req, Rep extends Reply>(call: Call<Req>, next: Handler<Req, Rep>): Promise<Rep> {
    const state = this.state;
    if (state === 'half-open') return this.#trial(call, next);
    if (state === 'open' || !this.#cb) throw this.#refusal(call);
    try {
      return (await this.#cb.fire(call as Call<unknown>, next as Handler<unknown, Reply>)) as Rep;
    } catch (err) {
      if (err instanceof FailedReply) return err.reply as Rep;
      if ((err as { code?: string }).code === 'EOPENBREAKER') throw this.#refusal(call);
      throw err;
    }
  }

  /**
   * Count an attempt that ran before this breaker existed (see the breaker filter): replay its
   * outcome through opossum, which has no other way to be told of a call.
   */
  record(call: Call<unknown>, outcome: Outcome): void {
    const replay =
      'reply' in outcome ? () => Promise.resolve(outcome.reply) : () => Promise.reject(outcome.error);
    this.#cb?.fire(call, replay).catch(() => undefined);
  }

  /** Consecutive trips so far (0 once closed). */
  get trips(): number {
    return this.#trips;
  }

  /** The endpoint left its pool. */
  release(): void {
    this.shutdown();
  }

  shutdown(): void {
    this.#cb?.shutdown();
    this.#cb = undefined;
    if (this.#timer !== undefined) this.host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.host.released(this.ep);
  }

  #counter() {
    // opossum mutates the options object it is given: build a fresh one per instance. Its own
    // resetTimeout never fires: recovery is scheduled here, on the mesh clock.
    const cb = new CircuitBreaker(runAttempt, {
      timeout: false,
      errorThresholdPercentage: this.options.errorThresholdPercentage,
      volumeThreshold: this.options.volumeThreshold,
      resetTimeout: 2 ** 31 - 1,
      rollingCountTimeout: this.options.rollingCountTimeout,
      rollingCountBuckets: this.options.rollingCountBuckets,
      rotateBucketController: this.rotation,
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
      errorFilter: notTheEndpointsFault as (err: unknown) => boolean,
    });
    cb.on('open', () => {
      // Past the ejection cap the endpoint stays in rotation and opossum keeps counting.
      if (!this.host.mayEject(this.ep)) cb.close();
      else this.#open();
    });
    return cb;
  }

  #open(): void {
    this.#cb?.shutdown();
    this.#cb = undefined;
    this.#trips++;
    this.#trialsInFlight = 0;
    this.#successes = 0;
    const { resetTimeout, maxResetTimeout } = this.options;
    const ceiling = Math.min(maxResetTimeout, resetTimeout * 2 ** (this.#trips - 1));
    // Equal jitter: at least half the backoff, so a fleet of clients does not probe in step.
    const wait = ceiling / 2 + this.host.random() * (ceiling / 2);
    this.state = 'open';
    this.host.holdOut(this.ep, true);
    this.host.opened(this.ep, this.#trips, wait);
    this.#timer = this.host.clock.setTimeout(() => {
      this.#timer = undefined;
      this.state = 'half-open';
      this.host.holdOut(this.ep, false);
      this.host.halfOpened(this.ep);
    }, wait);
  }

  #close(): void {
    this.#trips = 0;
    this.#cb = this.#counter();
    this.state = 'healthy';
    this.host.holdOut(this.ep, false);
    this.host.closed(this.ep);
  }

  async #trial<Req, Rep extends Reply>(call: Call<Req>, next: Handler<Req, Rep>): Promise<Rep> {
    const trials = this.options.halfOpenTrials;
    if (this.#trialsInFlight >= trials) throw this.#refusal(call);
    // Never more trials in flight than successes still needed: no picks until one settles.
    if (++this.#trialsInFlight >= trials - this.#successes) this.host.holdOut(this.ep, true);
    let outcome: Outcome;
    try {
      outcome = { reply: await next(call) };
    } catch (error) {
      outcome = { error };
    }
    this.#trialsInFlight--;
    if (this.state === 'half-open') {
      if (countsAgainst(outcome, call as Call<unknown>)) this.#open();
      else if (!('error' in outcome) && ++this.#successes >= trials) this.#close();
      else this.host.holdOut(this.ep, false);
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.reply as Rep;
  }

  #refusal(call: Call<unknown>): MeshError {
    return new MeshError('MESH_CIRCUIT_OPEN', `circuit open for ${this.ep.url}`, {
      service: call.service,
      endpoint: this.ep.url,
    });
  }
}
