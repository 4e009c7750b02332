/**
 * Raw-socket tools for the hostile-input suite: send exact bytes to a proxy and read what comes
 * back, and an upstream that records, byte for byte, everything a proxy sent it.
 *
 * The recording upstream is a TCP relay in front of a node:http server: the relay keeps every
 * byte that arrives (what "the upstream received" means, before any parser has had a say),
 * the server behind it answers `200 ok` to each request it can parse.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

/** What a proxy answered on one connection. */
export interface WireReply {
  /** Everything received until the connection closed (or the wait ended). */
  text: string;
  /** Status codes of the responses in `text`, in order. */
  statuses: number[];
  /** Whether the proxy closed the connection (rather than the wait ending). */
  closed: boolean;
  /** Time from the first byte sent until the close (or the wait's end), ms. */
  ms: number;
}

/** The status codes of the HTTP/1.1 responses in `text`. */
export function statusesOf(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/** How many complete responses (framed by Content-Length) `bytes` holds. */
export function completeResponses(bytes: Buffer): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end < 0) return count;
    const head = bytes.subarray(at, end).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    // 1xx and 204/304 have no body; anything else without a length runs to the close.
    const bodyless = (status >= 100 && status < 200) || status === 204 || status === 304;
    let next = end + 4 + (length ? Number(length[1]) : 0);
    if (!length && !bodyless) {
      // A chunked body ends at its last chunk (these tests send no trailers).
      if (!/\r\ntransfer-encoding:[^\r\n]*chunked/i.test(head)) return count;
      const last = bytes.indexOf('\r\n0\r\n\r\n', end + 2);
      if (last < 0) return count;
      next = last + 7;
    }
    if (next > bytes.length) return count;
    count++;
    at = next;
  }
}

/**
 * Connect to `port`, write `chunks` (strings or buffers, with `gapMs` between them), and collect
 * what comes back until the connection closes, `responses` complete responses have arrived, or
 * `waitMs` passes.
 */
export async function exchange(
  port: number,
  chunks: Array<string | Buffer>,
  options: { waitMs?: number; gapMs?: number; halfClose?: boolean; responses?: number } = {},
): Promise<WireReply> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const received: Buffer[] = [];
  let answered: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    received.push(c);
    if (options.responses && completeResponses(Buffer.concat(received)) >= options.responses) answered?.();
  });
  socket.on('error', () => undefined);
  const start = performance.now();
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    answered = () => resolve(false);
  });
  const writer = (async () => {
    for (const chunk of chunks) {
      if (socket.destroyed) return;
      socket.write(chunk);
      if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
    }
    if (options.halfClose) socket.end();
  })();
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), options.waitMs ?? 2_000);
  });
  const didClose = await Promise.race([closed, waited]);
  clearTimeout(timer);
  const ms = performance.now() - start;
  socket.destroy();
  await writer;
  const text = Buffer.concat(received).toString('latin1');
  return { text, statuses: statusesOf(text), closed: didClose, ms };
}

/** An upstream that records every byte it is sent, per connection, and answers `200 ok`. */
export class RecordingUpstream {
  readonly #connections: Buffer[][] = [];
  readonly #relay: net.Server;
  readonly #server: http.Server;
  readonly #sockets = new Set<net.Socket>();
  /** Requests the server behind the relay parsed. */
  requests = 0;
  port = 0;

  private constructor() {
    this.#server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.requests++;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      });
    });
    this.#relay = net.createServer((client) => {
      const bytes: Buffer[] = [];
      this.#connections.push(bytes);
      const inner = net.connect((this.#server.address() as net.AddressInfo).port, '127.0.0.1');
      for (const s of [client, inner]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          inner.destroy();
        });
      }
      client.on('data', (c: Buffer) => bytes.push(c));
      client.pipe(inner);
      inner.pipe(client);
    });
  }

  static async start(): Promise<RecordingUpstream> {
    const up = new RecordingUpstream();
    up.#server.listen(0, '127.0.0.1');
    up.#relay.listen(0, '127.0.0.1');
    await Promise.all([once(up.#server, 'listening'), once(up.#relay, 'listening')]);
    up.port = (up.#relay.address() as net.AddressInfo).port;
    return up;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every byte received so far, all connections in order of opening. */
  get bytes(): string {
    return this.#connections.map((c) => Buffer.concat(c).toString('latin1')).join('');
  }

  /** Forget what was recorded (between cases). */
  reset(): void {
    // Keep-alive connections stay open across cases: empty their records, keep recording them.
    for (const c of this.#connections) c.length = 0;
    this.requests = 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all([
      new Promise((r) => this.#relay.close(r)),
      new Promise((r) => {
        this.#server.closeAllConnections();
        this.#server.close(r);
      }),
    ]);
  }
}

export { freePort } from '../../testkit/haproxy.js';
