/**
 * Reads one upstream reply off undici's dispatcher: whole when it is small and its request may
 * be retried, else as a stream.
 *
 * Why whole: once a proxy has sent a response's head to its client, a failure later in the body
 * (an upstream resetting mid-body) can only cut the client's response. Read first, the failure
 * is the attempt's, and the retry stage sends the request to another endpoint as it would after
 * a reset before the head. Only requests that would be retried are read whole (the transport
 * decides), only up to `maxBytes` (a body announced larger streams from the start), and only
 * while the shared buffer budget has room: past either bound, what was read and the rest stream.
 * A reply of unannounced length (chunked) is read whole only when it ends in the turn its head
 * arrived in; one that is still coming after that streams, so server-sent events, long polls and
 * progressive responses reach the client as they are sent instead of waiting for the bound.
 * The bytes go back to the budget when the reply is discarded (written out or dropped).
 *
 * Why not `undici.request()`: it builds a stream object for every body and runs every callback
 * in an async resource; for a reply of a few hundred bytes that is most of a proxy's work. This
 * handler keeps a small reply as the `Buffer` it arrived in and builds a stream only when one is
 * needed, with backpressure through undici's pause and resume.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { MeshSignal } from '../core/signal.js';

/** How small replies are read whole, and the budget their bytes are held against. */
export interface ReplyBuffering {
  /** Replies up to this size are read whole (0: every reply streams). */
  readonly maxBytes: number;
  /** Take `bytes` from the shared budget; false when it has no room. */
  reserve(bytes: number): boolean;
  /** Give back bytes taken with {@link reserve}. */
  release(bytes: number): void;
}

/** The settled form of a reply, as the transport hands it up. */
export interface ReadReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | Readable;
  discard(): void;
}

/** Discarding a streamed reply reads this much of the rest to keep the connection; past it, the connection closes. */
const DISCARD_LIMIT = 128 * 1024;

const EMPTY = Buffer.alloc(0);

/** An undici dispatch handler for one attempt; settles `resolve`/`reject` once. */
export class ReplyReader implements Dispatcher.DispatchHandler {
  readonly #signal: MeshSignal | undefined;
  readonly #buffering: ReplyBuffering | undefined;
  readonly #resolve: (reply: ReadReply) => void;
  readonly #reject: (error: unknown) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #listening = false;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  /** Chunks read so far while reading whole; undefined once streaming (or never reading whole). */
  #chunks: Buffer[] | undefined;
  #held = 0;
  #stream: Readable | undefined;
  #settled = false;
  #ended = false;
  #discarded = false;
  #dumped = 0;

  /**
   * @param signal - the attempt's signal: aborting it aborts the request, head or body.
   * @param buffering - read the reply whole within these bounds; undefined: stream it.
   */
  constructor(
    signal: MeshSignal | undefined,
    buffering: ReplyBuffering | undefined,
    resolve: (reply: ReadReply) => void,
    reject: (error: unknown) => void,
  ) {
    this.#signal = signal;
    this.#buffering = buffering;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  readonly #onAbort = (): void => {
    this.#controller?.abort(this.#signal?.reason as Error);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Called again when undici re-sends a request whose pipelined predecessor failed.
    this.#controller = controller;
    const signal = this.#signal;
    if (!signal) return;
    if (signal.aborted) {
      controller.abort(signal.reason as Error);
      return;
    }
    if (!this.#listening) {
      this.#listening = true;
      signal.addEventListener('abort', this.#onAbort);
    }
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Informational responses are not the reply.
    if (status < 200) return;
    this.#status = status;
    this.#headers = headers;
    const length = headers['content-length'];
    const declared = length === undefined ? undefined : Number(length);
    if (!this.#buffering || (declared !== undefined && !(declared <= this.#buffering.maxBytes))) {
      this.#startStream();
      return;
    }
    this.#chunks = [];
    if (declared === undefined) setImmediate(ReplyReader.#streamIfUnfinished, this);
  }

  /** A reply of unannounced length still coming a turn after its head: it streams from here. */
  static #streamIfUnfinished(reader: ReplyReader): void {
    if (reader.#chunks && !reader.#settled) reader.#startStream();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discarded) {
      this.#dumped += chunk.length;
      if (this.#dumped > DISCARD_LIMIT) controller.abort(new Error('discarded reply too large to drain'));
      return;
    }
    const chunks = this.#chunks;
    if (chunks) {
      const buffering = this.#buffering!;
      chunks.push(chunk);
      if (this.#held + chunk.length <= buffering.maxBytes && buffering.reserve(chunk.length)) {
        this.#held += chunk.length;
      } else {
        // Past a bound: what was read, and the rest, stream.
        this.#startStream();
      }
      return;
    }
    if (!this.#stream!.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#unlisten();
    if (this.#chunks) {
      const chunks = this.#chunks;
      this.#chunks = undefined;
      const body = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
      this.#settle(body);
      return;
    }
    this.#stream?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#unlisten();
    this.#chunks = undefined;
    if (!this.#settled) {
      this.#releaseHeld();
      this.#settled = true;
      this.#reject(error);
      return;
    }
    this.#stream?.destroy(error);
  }

  /** Hand up the reply with `body`. */
  #settle(body: Buffer | Readable): void {
    this.#settled = true;
    this.#resolve({ status: this.#status, headers: this.#headers, body, discard: () => this.#discard() });
  }

  /** From here on the body streams: the chunks read so far first. */
  #startStream(): void {
    const stream = new Readable({
      read: () => this.#controller?.resume(),
      destroy: (error, callback) => {
        // A stream dropped before its end (the client went away) aborts the upstream request.
        if (!this.#ended && !this.#discarded) {
          this.#controller?.abort(error ?? new Error('reply stream closed before its end'));
        }
        this.#releaseHeld();
        callback(error);
      },
    });
    const read = this.#chunks;
    this.#chunks = undefined;
    this.#stream = stream;
    let room = true;
    if (read) for (const chunk of read) room = stream.push(chunk);
    if (!room) this.#controller?.pause();
    this.#settle(stream);
  }

  #discard(): void {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#releaseHeld();
    const stream = this.#stream;
    if (stream && !this.#ended) {
      // Read the rest (bounded, see onResponseData) so the connection can be reused.
      stream.destroy();
      this.#controller?.resume();
    }
  }

  #releaseHeld(): void {
    if (this.#held === 0) return;
    this.#buffering?.release(this.#held);
    this.#held = 0;
  }

  #unlisten(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}
