/**
 * The primary of a sidecar on several worker processes (`workers` above 1), as Envoy runs worker
 * threads and HAProxy `nbthread`, but with node:cluster processes. It proxies nothing itself: it
 * forks the workers (the same CLI, its index in `MESH_SIDECAR_WORKER`), holds the listening
 * sockets they share (node:cluster's round-robin hands each new connection to the next worker),
 * serves the admin listener, and supervises:
 *
 * - `listening` is logged once every worker listens; `/ready` is 200 only while every worker is
 *   up and nothing drains;
 * - `/stats` asks every worker for its report (each answer bounded by a timeout, a worker that
 *   does not answer is listed as such) and merges them (`report.ts`); `/metrics` sums their
 *   registries with prom-client's `AggregatorRegistry.aggregate`;
 * - a worker that exits unexpectedly is logged and restarted after a backoff (100 ms, doubling to
 *   10 s; back to 100 ms once a worker had stayed up a minute);
 * - `drain()` tells every worker to drain, waits for all to exit (at most `drainTimeout` plus a
 *   grace, then the laggards are killed) and closes admin.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock, type TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../telemetry/options.js';
import { createAdminServer } from '../admin.js';
import type { SidecarConfig } from '../options.js';
import { type FromWorker, isMeshMessage, type ToWorker, WORKER_ENV } from './messages.js';
import { summedMetrics } from './metrics.js';
import { type MergedReport, workersReport } from './report.js';

/** The first restart's delay (ms); each further one doubles it, up to {@link RESTART_MAX_MS}. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that stayed up this long (ms) before it exited is restarted after the first delay again. */
const STABLE_MS = 60_000;
/** How long (ms) `/stats` and `/metrics` wait for a worker's answer. */
const ANSWER_TIMEOUT_MS = 2_000;
/** Past `drainTimeout`, how long (ms) a draining worker may take to exit before it is killed. */
const DRAIN_GRACE_MS = 5_000;

/**
 * The wait before restarting a worker that exited after `upForMs` up, when the slot's next
 * delay was `next`; and the delay after that one (doubled, at most {@link RESTART_MAX_MS}).
 */
export function restartBackoff(next: number, upForMs: number): { delay: number; next: number } {
  const delay = upForMs >= STABLE_MS ? RESTART_MIN_MS : next;
  return { delay, next: Math.min(RESTART_MAX_MS, delay * 2) };
}

/** One worker position: its process (replaced on restart) and its state. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  state: 'starting' | 'up' | 'down';
  /** It said hello: it receives messages. */
  hello: boolean;
  /** It drains (signalled itself): up, but not ready. */
  draining: boolean;
  /** When it last came up (the clock's time). */
  upAt: number | undefined;
  /** The delay before its next restart. */
  delay: number;
  timer: TimerHandle | undefined;
}

type Answer = Extract<FromWorker, { id: number }>;

/** What the primary is given. */
export interface PrimaryOptions {
  /** The validated configuration (the totals; each worker takes its share). */
  config: SidecarConfig;
  /** The configuration file's object, as read: what each worker runs. */
  raw: Record<string, unknown>;
  logger: Logger;
  clock?: Clock | undefined;
}

export class Primary {
  readonly #config: SidecarConfig;
  readonly #raw: Record<string, unknown>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #slots: Slot[];
  readonly #admin: http.Server;
  readonly #pending = new Map<number, { slot: Slot; settle: (answer: Answer | undefined) => void }>();
  readonly #exitWaiters: Array<() => void> = [];
  #nextId = 0;
  #draining = false;
  #drained: Promise<void> | undefined;
  #starting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #listen = '';
  #inbound: string | undefined;

  constructor(options: PrimaryOptions) {
    this.#config = options.config;
    this.#raw = options.raw;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#slots = Array.from({ length: options.config.workers }, (_, index) => ({
      index,
      worker: undefined,
      state: 'down' as const,
      hello: false,
      draining: false,
      upAt: undefined,
      delay: RESTART_MIN_MS,
      timer: undefined,
    }));
    this.#admin = createAdminServer({
      notReady: () => this.#notReady(),
      stats: () => this.report(),
      metrics: () => this.#metrics(),
    });
  }

  /** The proxy listener's address, which every worker shares. */
  get address(): string {
    return this.#listen;
  }

  get adminAddress(): string {
    const a = this.#admin.address() as AddressInfo | null;
    return a ? `http://${a.address}:${a.port}` : '';
  }

  get inboundAddress(): string | undefined {
    return this.#inbound;
  }

  /**
   * Listen on admin, fork the workers, resolve once every one listens. A worker that cannot start
   * (its message names the option) fails the start: every worker is stopped and admin closed.
   */
  async start(): Promise<this> {
    const { host, port } = this.#config.admin;
    this.#admin.listen(port, host);
    try {
      await once(this.#admin, 'listening');
    } catch (err) {
      throw new Error(`cannot listen: options.admin (${host}:${port}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    const up = new Promise<void>((resolve, reject) => {
      this.#starting = { resolve, reject };
    });
    for (const slot of this.#slots) this.#fork(slot);
    try {
      await up;
    } catch (err) {
      for (const slot of this.#slots) slot.worker?.process.kill('SIGKILL');
      await this.#allExited();
      await this.#closeAdmin();
      throw err;
    } finally {
      this.#starting = undefined;
    }
    return this;
  }

  /** Tell every worker to drain, wait for them to exit (bounded), then close admin. */
  drain(): Promise<void> {
    this.#drained ??= this.#drain();
    return this.#drained;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) this.#clock.clearTimeout(slot.timer);
      slot.timer = undefined;
      // One that has not said hello yet is told in answer to its hello.
      if (slot.hello) this.#send(slot, { type: 'mesh-sidecar/drain' });
    }
    const exited = this.#allExited();
    let timer: TimerHandle | undefined;
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimeout(() => resolve(true), this.#config.drainTimeout + DRAIN_GRACE_MS);
      }),
    ]);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    if (late) {
      const laggards = this.#slots.filter((s) => s.worker);
      this.#logger.warn(
        { workers: laggards.map((s) => s.index), afterMs: this.#config.drainTimeout + DRAIN_GRACE_MS },
        'workers killed: still running after the drain timeout',
      );
      for (const slot of laggards) slot.worker?.process.kill('SIGKILL');
      await exited;
    }
    await this.#closeAdmin();
  }

  /** The workers' reports merged, with each worker's state (see `report.ts`). */
  async report(): Promise<MergedReport> {
    const answers = await Promise.all(this.#slots.map((slot) => this.#ask(slot, 'mesh-sidecar/report')));
    return workersReport(
      this.#slots.map((slot, i) => {
        const answer = answers[i];
        return {
          index: slot.index,
          pid: slot.worker?.process.pid,
          state: slot.state,
          report: answer?.type === 'mesh-sidecar/report' ? answer.report : undefined,
        };
      }),
      { listen: this.#listen, ready: this.#notReady() === undefined, workers: this.#slots.length },
    );
  }

  #notReady(): string | undefined {
    if (this.#draining) return 'draining';
    const up = this.#slots.filter((s) => s.state === 'up' && !s.draining).length;
    return up < this.#slots.length ? `workers ready: ${up} of ${this.#slots.length}` : undefined;
  }

  /** `/metrics`: the workers' registries summed, and the primary's own gauges of its workers. */
  async #metrics(): Promise<{ contentType: string; text: string }> {
    const answers = await Promise.all(this.#slots.map((slot) => this.#ask(slot, 'mesh-sidecar/metrics')));
    const metrics = answers.flatMap((a) =>
      a?.type === 'mesh-sidecar/metrics' && a.metrics ? [a.metrics] : [],
    );
    const settings = this.#config.options.telemetry.metrics;
    const count = (state: Slot['state']) => this.#slots.filter((s) => s.state === state).length;
    return summedMetrics(metrics, {
      prefix: settings === false ? 'mesh_client_' : settings.prefix,
      workers: { up: count('up'), starting: count('starting'), down: count('down') },
    });
  }

  #fork(slot: Slot): void {
    slot.state = 'starting';
    slot.hello = false;
    slot.draining = false;
    slot.upAt = undefined;
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => this.#onMessage(slot, worker, message));
    worker.on('exit', (code: number | null, signal: string | null) =>
      this.#onExit(slot, worker, code, signal),
    );
    // A send to a worker that has just died: its exit is handled above.
    worker.on('error', () => undefined);
  }

  #onMessage(slot: Slot, worker: Worker, message: unknown): void {
    if (slot.worker !== worker || !isMeshMessage<FromWorker>(message)) return;
    switch (message.type) {
      case 'mesh-sidecar/hello':
        slot.hello = true;
        this.#send(
          slot,
          this.#draining
            ? { type: 'mesh-sidecar/drain' }
            : {
                type: 'mesh-sidecar/config',
                config: this.#raw,
                index: slot.index,
                count: this.#slots.length,
              },
        );
        return;
      case 'mesh-sidecar/listening':
        slot.state = 'up';
        slot.upAt = this.#clock.now();
        if (!this.#listen) {
          this.#listen = message.listen;
          this.#inbound = message.inbound;
        }
        if (this.#slots.every((s) => s.state === 'up')) this.#starting?.resolve();
        return;
      case 'mesh-sidecar/draining':
        slot.draining = true;
        return;
      case 'mesh-sidecar/failed':
        this.#starting?.reject(new Error(message.message));
        return;
      default:
        this.#pending.get(message.id)?.settle(message);
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    // node:cluster stops handing the worker connections once its channel is closed, not at its
    // exit: until then a new connection could still be given to the dead process.
    if (worker.isConnected()) {
      worker.once('disconnect', () => this.#onExit(slot, worker, code, signal));
      return;
    }
    slot.worker = undefined;
    slot.state = 'down';
    for (const pending of [...this.#pending.values()]) if (pending.slot === slot) pending.settle(undefined);
    if (this.#slots.every((s) => !s.worker)) for (const wake of this.#exitWaiters.splice(0)) wake();
    if (this.#draining) return;
    if (this.#starting) {
      this.#starting.reject(new Error(`worker ${slot.index} exited (${signal ?? code}) before it listened`));
      return;
    }
    const upFor = slot.upAt === undefined ? 0 : this.#clock.now() - slot.upAt;
    const { delay, next } = restartBackoff(slot.delay, upFor);
    slot.delay = next;
    this.#logger.warn(
      { worker: slot.index, workerPid: worker.process.pid, code, signal, restartInMs: delay },
      'worker exited',
    );
    slot.timer = this.#clock.setTimeout(() => {
      slot.timer = undefined;
      if (!this.#draining) this.#fork(slot);
    }, delay);
  }

  /** Ask a worker that is up; `undefined` when it is not, dies, or does not answer in time. */
  #ask(slot: Slot, type: 'mesh-sidecar/report' | 'mesh-sidecar/metrics'): Promise<Answer | undefined> {
    if (slot.state !== 'up' || !slot.worker?.isConnected()) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => settle(undefined), ANSWER_TIMEOUT_MS);
      const settle = (answer: Answer | undefined) => {
        this.#clock.clearTimeout(timer);
        this.#pending.delete(id);
        resolve(answer);
      };
      this.#pending.set(id, { slot, settle });
      this.#send(slot, { type, id });
    });
  }

  #send(slot: Slot, message: ToWorker): void {
    const worker = slot.worker;
    // With a callback, a send to a worker that just died reports to it instead of throwing; the
    // worker's exit is handled where it is seen.
    if (worker?.isConnected()) worker.send(message, () => undefined);
  }

  #allExited(): Promise<void> {
    if (this.#slots.every((s) => !s.worker)) return Promise.resolve();
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  #closeAdmin(): Promise<void> {
    this.#admin.closeAllConnections();
    return new Promise((resolve) => (this.#admin.listening ? this.#admin.close(() => resolve()) : resolve()));
  }
}
