/**
 * One circuit breaker per endpoint, on opossum.
 *
 * opossum does the counting (a rolling window of buckets) and the state machine (closed -> open
 * after `errorThresholdPercentage` of at least `volumeThreshold` calls -> half-open after
 * `resetTimeout` -> closed on one successful trial). What it costs per instance is kept small,
 * since a service may have thousands of endpoints: no per-breaker timers (bucket rotation comes
 * from the group's one shared controller, snapshots and percentiles are off), no opossum
 * timeout (the per-try timeout filter owns that), and `shutdown()` when the endpoint leaves.
 */
import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { Call, Handler, Reply } from '../core/call.js';
import { isMeshError, MeshError } from '../errors.js';
import type { CircuitBreakerOptions } from '../options.js';

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
 * records a filtered error as a success, which is the lesser evil: not counting it at all is
 * not possible through its public API.
 */
function notTheEndpointsFault(_error: unknown, call: Call<unknown>): boolean {
  return call.signal.aborted && !isMeshError(call.signal.reason, 'MESH_TIMEOUT');
}

/** Whether an attempt's outcome counts as a failure of its endpoint. */
export function countsAgainst(outcome: { reply: Reply } | { error: unknown }, call: Call<unknown>): boolean {
  return 'reply' in outcome ? outcome.reply.status >= 500 : !notTheEndpointsFault(outcome.error, call);
}

/** Callbacks the group wires to breaker state changes. */
export interface BreakerListener {
  open(): void;
  halfOpen(): void;
  close(): void;
}

export class EndpointBreaker {
  readonly #cb: CircuitBreaker<[Call<unknown>, Handler<unknown, Reply>], Reply>;

  constructor(
    options: Required<CircuitBreakerOptions>,
    rotation: EventEmitter,
    listener: BreakerListener,
    private readonly onShutdown: () => void,
  ) {
    // opossum mutates the options object it is given: build a fresh one per breaker.
    this.#cb = new CircuitBreaker(runAttempt, {
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage,
      volumeThreshold: options.volumeThreshold,
      resetTimeout: options.resetTimeout,
      rollingCountTimeout: options.rollingCountTimeout,
      rollingCountBuckets: options.rollingCountBuckets,
      rotateBucketController: rotation,
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
      errorFilter: notTheEndpointsFault as (err: unknown) => boolean,
    });
    this.#cb.on('open', listener.open);
    this.#cb.on('halfOpen', listener.halfOpen);
    this.#cb.on('close', listener.close);
  }

  /** Run one attempt through the breaker; `MESH_CIRCUIT_OPEN` when it refuses. */
  async run<Req, Rep extends Reply>(call: Call<Req>, next: Handler<Req, Rep>): Promise<Rep> {
    try {
      return (await this.#cb.fire(call as Call<unknown>, next as Handler<unknown, Reply>)) as Rep;
    } catch (err) {
      if (err instanceof FailedReply) return err.reply as Rep;
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        throw new MeshError('MESH_CIRCUIT_OPEN', `circuit open for ${call.endpoint?.url}`, {
          service: call.service,
          endpoint: call.endpoint?.url,
        });
      }
      throw err;
    }
  }

  /**
   * Count an attempt that ran before this breaker existed (see the breaker filter): replay its
   * outcome through opossum, which has no other way to be told of a call.
   */
  record(call: Call<unknown>, outcome: { reply: Reply } | { error: unknown }): void {
    const replay =
      'reply' in outcome ? () => Promise.resolve(outcome.reply) : () => Promise.reject(outcome.error);
    this.#cb.fire(call, replay).catch(() => undefined);
  }

  /** Refuse an opening (the ejection cap is reached): back to closed, counting on. */
  refuseOpen(): void {
    this.#cb.close();
  }

  shutdown(): void {
    this.#cb.shutdown();
    this.onShutdown();
  }
}
