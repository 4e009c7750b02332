/**
 * Bulkhead: a cap on how many requests of one service are in flight at once, with an optional
 * FIFO queue, so one slow dependency cannot take every socket, buffer and event-loop turn of
 * the process (Nygard's bulkhead pattern, "Release It!"; Resilience4j's semaphore `Bulkhead`
 * with `maxConcurrentCalls` and `maxWaitDuration`; Envoy's per-cluster `max_requests` and
 * `max_pending_requests` circuit breakers).
 *
 * A request takes a slot or, when all are taken, waits in the queue while there is room, for at
 * most `maxWait` (and never past its deadline); otherwise it fails with `MESH_BULKHEAD_FULL`. A
 * released slot is handed straight to the oldest waiter, so a newcomer cannot overtake the
 * queue. A waiter leaves the queue when its request is aborted, when its wait times out, or when
 * its deadline passes (then `MESH_TIMEOUT`). Waits run on the mesh clock.
 *
 * The slot is held until the reply (its status and headers) is back: in the sidecar a streamed
 * body may still be flowing when the slot is released.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { MeshSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import type { ConcurrencyLimitPolicy } from './options.js';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  timer: TimerHandle | undefined;
  signal: MeshSignal;
  onAbort: () => void;
}

/** The slots and the queue of one service. */
export class Bulkhead {
  #options: ConcurrencyLimitPolicy;
  #active = 0;
  /** Insertion-ordered, so the first entry is the oldest waiter; removal from anywhere is O(1). */
  readonly #queue = new Set<Waiter>();

  constructor(
    options: ConcurrencyLimitPolicy,
    private readonly clock: Clock,
  ) {
    this.#options = options;
  }

  /** Slots taken now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Apply new limits to later requests. Requests in flight keep their slots; a larger limit
   * admits waiters at once, a smaller queue refuses nobody already waiting.
   */
  configure(options: ConcurrencyLimitPolicy): void {
    this.#options = options;
    while (this.#active < this.#options.maxConcurrent && this.#handOver()) this.#active++;
  }

  /**
   * Take a slot for `call`: `undefined` when one was free (the fast path), else a promise that
   * resolves once a slot is handed over. Throws, or rejects, with `MESH_BULKHEAD_FULL` when the
   * queue is full or the wait times out.
   */
  acquire(call: Call<unknown>): Promise<void> | undefined {
    const { maxConcurrent, maxQueue, maxWait } = this.#options;
    if (this.#active < maxConcurrent) {
      this.#active++;
      return undefined;
    }
    if (this.#queue.size >= maxQueue) throw this.#full(call, `${this.#active} in flight, queue full`);
    const signal = call.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    const left = call.deadline - this.clock.now();
    if (left <= 0) return Promise.reject(this.#late(call));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: () => this.#leave(waiter, signal.reason),
      };
      // The deadline bounds the wait too; past it the request has failed, whatever the queue.
      const byDeadline = left < maxWait;
      waiter.timer = this.clock.setTimeout(
        () =>
          this.#leave(
            waiter,
            byDeadline ? this.#late(call) : this.#full(call, `no slot within ${maxWait} ms`),
          ),
        byDeadline ? left : maxWait,
      );
      signal.addEventListener('abort', waiter.onAbort);
      this.#queue.add(waiter);
    });
  }

  /** Give back a slot: to the oldest waiter when there is one. */
  release(): void {
    if (this.#active > this.#options.maxConcurrent || !this.#handOver()) this.#active--;
  }

  /** Hand a slot (already counted) to the oldest waiter; false when nobody waits. */
  #handOver(): boolean {
    const first = this.#queue.values().next();
    if (first.done) return false;
    const waiter = first.value;
    this.#unlink(waiter);
    waiter.resolve();
    return true;
  }

  #leave(waiter: Waiter, reason: unknown): void {
    if (!this.#queue.has(waiter)) return;
    this.#unlink(waiter);
    waiter.reject(reason);
  }

  #unlink(waiter: Waiter): void {
    this.#queue.delete(waiter);
    if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  #full(call: Call<unknown>, why: string): MeshError {
    return new MeshError('MESH_BULKHEAD_FULL', `bulkhead of "${call.service}" is full (${why})`, {
      service: call.service,
    });
  }

  #late(call: Call<unknown>): MeshError {
    return new MeshError('MESH_TIMEOUT', 'deadline passed waiting for a bulkhead slot', {
      service: call.service,
    });
  }
}

/**
 * The concurrency-limit filter of one service: every request holds a slot of `bulkhead` from
 * before its first attempt until its reply (or failure), retries and hedges included.
 */
export function concurrencyLimit(bulkhead: Bulkhead): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      const waiting = bulkhead.acquire(call as Call<unknown>);
      if (waiting) await waiting;
      try {
        return await next(call);
      } finally {
        bulkhead.release();
      }
    };
}
