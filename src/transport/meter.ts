/**
 * Byte accounting for bodies the undici transport sends and receives, as axios's http adapter
 * does it: `onUploadProgress` / `onDownloadProgress` events (at most three a second, and always
 * the last one), `maxRate` (bytes per second), and `maxBodyLength` for streamed uploads. A meter
 * is put in a body's path only when the request asked for one of these, so a plain request
 * pays nothing.
 *
 * Pacing uses real timers on purpose: it spaces real bytes on a real socket.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { AxiosError, type AxiosProgressEvent, type InternalAxiosRequestConfig } from 'axios';

/** Pacing granularity: the rate's allowance is granted per window of this length. */
const WINDOW_MS = 500;
/** Progress events per second at most (axios's rate). */
const EVENTS_PER_SECOND = 3;
/** Largest piece pushed at once, so progress and pacing move in steps of this size. */
const PIECE = 64 * 1024;
/** How long a rate sample is kept. */
const RATE_SPAN_MS = 1000;

export interface MeterOptions {
  readonly direction: 'upload' | 'download';
  /** Bytes per second; 0, NaN or undefined for no limit. */
  readonly maxRate?: number | undefined;
  /** Expected length (Content-Length), when known. */
  readonly total?: number | undefined;
  readonly onProgress?: ((event: AxiosProgressEvent) => void) | undefined;
  /** Fail past this many bytes (streamed uploads and `maxBodyLength`). */
  readonly limit?: number | undefined;
  readonly config: InternalAxiosRequestConfig;
}

export class Meter extends Transform {
  readonly #o: MeterOptions;
  readonly #rate: number;
  #loaded = 0;
  #notified = 0;
  #lastEventAt = 0;
  #pendingEvent = false;
  #eventTimer: NodeJS.Timeout | undefined;
  #windowStart = 0;
  #windowBytes = 0;
  #paceTimer: NodeJS.Timeout | undefined;
  readonly #samples: Array<[at: number, loaded: number]> = [];

  constructor(options: MeterOptions) {
    super();
    this.#o = options;
    const rate = Number(options.maxRate);
    this.#rate = Number.isFinite(rate) && rate > 0 ? rate : 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#next(chunk, done);
  }

  override _flush(done: TransformCallback): void {
    this.#report(true);
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.#paceTimer);
    clearTimeout(this.#eventTimer);
    done(error);
  }

  #next(chunk: Buffer, done: TransformCallback): void {
    if (this.destroyed) {
      done();
      return;
    }
    let piece = chunk.length > PIECE ? chunk.subarray(0, PIECE) : chunk;
    if (this.#rate) {
      const now = Date.now();
      if (now - this.#windowStart >= WINDOW_MS) {
        this.#windowStart = now;
        this.#windowBytes = 0;
      }
      const allowance = (this.#rate * WINDOW_MS) / 1000 - this.#windowBytes;
      if (allowance < 1) {
        this.#paceTimer = setTimeout(() => this.#next(chunk, done), WINDOW_MS - (now - this.#windowStart));
        return;
      }
      if (piece.length > allowance) piece = piece.subarray(0, Math.floor(allowance));
      this.#windowBytes += piece.length;
    }
    this.#loaded += piece.length;
    const limit = this.#o.limit;
    if (limit !== undefined && this.#loaded > limit) {
      done(
        new AxiosError(
          'Request body larger than maxBodyLength limit',
          AxiosError.ERR_BAD_REQUEST,
          this.#o.config,
        ),
      );
      return;
    }
    this.push(piece);
    this.#report(false);
    if (piece.length === chunk.length) {
      done();
      return;
    }
    const rest = chunk.subarray(piece.length);
    // Yield between pieces so the consumer's back-pressure and progress events get their turn.
    setImmediate(() => this.#next(rest, done));
  }

  /** An event now, or (unless `now` is forced) once the throttle allows; none when nothing changed. */
  #report(force: boolean): void {
    const listener = this.#o.onProgress;
    if (!listener) return;
    const now = Date.now();
    const gap = 1000 / EVENTS_PER_SECOND;
    if (!force && now - this.#lastEventAt < gap) {
      if (!this.#pendingEvent) {
        this.#pendingEvent = true;
        this.#eventTimer = setTimeout(() => this.#report(true), gap - (now - this.#lastEventAt));
      }
      return;
    }
    clearTimeout(this.#eventTimer);
    this.#pendingEvent = false;
    const total = this.#o.total;
    const loaded = total === undefined ? this.#loaded : Math.min(this.#loaded, total);
    if (loaded === this.#notified) return;
    this.#lastEventAt = now;
    const rate = this.#sampleRate(now, loaded);
    const event: AxiosProgressEvent = {
      loaded,
      total,
      progress: total ? loaded / total : undefined,
      bytes: Math.max(0, loaded - this.#notified),
      rate,
      estimated: rate && total ? (total - loaded) / rate : undefined,
      lengthComputable: total !== undefined,
      [this.#o.direction]: true,
    };
    this.#notified = loaded;
    // As axios does: on the next tick, outside the stream's own call stack.
    process.nextTick(listener, event);
  }

  /** Bytes per second over the last second, once a quarter of it has been seen. */
  #sampleRate(now: number, loaded: number): number | undefined {
    const samples = this.#samples;
    samples.push([now, loaded]);
    while (samples.length > 2 && now - samples[0]![0] > RATE_SPAN_MS) samples.shift();
    const [at, before] = samples[0]!;
    const span = now - at;
    return span >= RATE_SPAN_MS / 4 ? Math.round(((loaded - before) * 1000) / span) : undefined;
  }
}

/** axios's `maxRate`: one number for both directions, or `[upload, download]`. */
export function rates(maxRate: unknown): { up: number | undefined; down: number | undefined } {
  if (Array.isArray(maxRate)) return { up: finite(maxRate[0]), down: finite(maxRate[1]) };
  const both = finite(maxRate);
  return { up: both, down: both };
}

function finite(value: unknown): number | undefined {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
