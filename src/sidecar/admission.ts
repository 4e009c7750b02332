/**
 * What the proxy listener admits: a cap on client connections open at once (tunnels included),
 * and one budget of bytes that all requests in flight may hold in their retry buffers.
 *
 * node:http's own cap (`server.maxConnections`) closes a connection past it before a byte is
 * written, which a client sees as a reset it may retry at once; here it gets a 503 that says why
 * (`x-mesh-error: MESH_OVERLOADED`), then the connection is closed.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { rawRefusal } from './refusal.js';

/** What a refused connection is answered (it sent nothing yet, so any request on it is refused). */
const OVERLOADED = rawRefusal(503, 'MESH_OVERLOADED', 'too many connections to the sidecar: try again later');

export class Admission {
  readonly #max: number;
  readonly #budget: number;
  readonly #open = new Set<Socket>();
  /** Connections answered with 503 and being closed. */
  readonly #refused = new WeakSet<object>();
  #buffered = 0;
  #refusedCount = 0;

  constructor(options: { maxConnections: number; bufferBudgetBytes: number }) {
    this.#max = options.maxConnections;
    this.#budget = options.bufferBudgetBytes;
  }

  /** Count the server's connections, and refuse those past the cap. */
  attach(server: http.Server): void {
    server.on('connection', (socket: Socket) => {
      if (this.#open.size >= this.#max) {
        this.#refusedCount++;
        this.#refused.add(socket);
        // Nothing is read from it any more: the answer is written, then the connection closes.
        socket.end(OVERLOADED);
        socket.on('error', () => undefined);
        return;
      }
      this.#open.add(socket);
      socket.once('close', () => this.#open.delete(socket));
    });
  }

  /** Whether `socket` was refused at connect (a request parsed on it meanwhile is dropped). */
  refused(socket: object): boolean {
    return this.#refused.has(socket);
  }

  /** Client connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Connections refused at the cap since start. */
  get refusedConnections(): number {
    return this.#refusedCount;
  }

  /** Bytes held in retry buffers now. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Take `bytes` from the buffer budget; false (and nothing taken) when they do not fit. The
   * caller gives them back with {@link release} once the request is done.
   */
  reserve(bytes: number): boolean {
    if (this.#buffered + bytes > this.#budget) return false;
    this.#buffered += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#buffered = Math.max(0, this.#buffered - bytes);
  }

  /** Destroy every connection still open (the server is closing). */
  closeAll(): void {
    for (const socket of this.#open) socket.destroy();
    this.#open.clear();
  }
}
