/**
 * Real upstream servers on loopback for the tests: node:http on port 0, with behaviours that can
 * be switched at runtime (answer, fail with a status, answer slowly, hang, reset the socket) and
 * a count of what each one received. Nothing here mocks the network.
 *
 * The benchmarks (bench) reuse these servers with `record: false`: they then only
 * count requests instead of keeping each one, so a long run does not grow the heap.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'status'; status: number }
  | { kind: 'slow'; ms: number }
  | { kind: 'hang' }
  | { kind: 'held' }
  | { kind: 'reset' };

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** How an upstream keeps what it received. */
export interface UpstreamOptions {
  /** Keep every request in `received` (tests); false only counts them (benchmarks). @defaultValue true */
  record?: boolean;
}

export class Upstream {
  readonly received: ReceivedRequest[] = [];
  behaviour: Behaviour = { kind: 'ok' };
  readonly #record: boolean;
  #count = 0;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  #waiters: Array<{ count: number; resolve: () => void }> = [];
  #held: Array<() => void> = [];
  url = '';

  constructor(
    readonly name: string,
    options: UpstreamOptions = {},
  ) {
    this.#record = options.record ?? true;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(name: string, behaviour?: Behaviour, options?: UpstreamOptions): Promise<Upstream> {
    const up = new Upstream(name, options);
    if (behaviour) up.behaviour = behaviour;
    up.#server.listen(0, '127.0.0.1');
    await once(up.#server, 'listening');
    up.url = `http://127.0.0.1:${(up.#server.address() as AddressInfo).port}`;
    return up;
  }

  /** Requests received so far (also when they are not recorded). */
  get count(): number {
    return this.#count;
  }

  /** Resolves once `count` requests have arrived in total. */
  receivedAtLeast(count: number): Promise<void> {
    if (this.#count >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Answer (200) every request held so far by the `held` behaviour. */
  release(): void {
    for (const answer of this.#held.splice(0)) answer();
  }

  /** Stop listening and drop every connection: the port now refuses connections. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.#count++;
      if (this.#record) {
        this.received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
      }
      if (this.#waiters.length > 0) {
        const due = this.#waiters.filter((w) => this.#count >= w.count);
        this.#waiters = this.#waiters.filter((w) => this.#count < w.count);
        for (const w of due) w.resolve();
      }
      const b = this.behaviour;
      const reply = (status: number) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ upstream: this.name, url: req.url, status }));
      };
      switch (b.kind) {
        case 'ok':
          return reply(200);
        case 'status':
          return reply(b.status);
        case 'slow': {
          const t = setTimeout(() => reply(200), b.ms);
          res.on('close', () => clearTimeout(t));
          return;
        }
        case 'hang':
          return;
        case 'held':
          this.#held.push(() => reply(200));
          return;
        case 'reset':
          req.socket.destroy();
          return;
      }
    });
  }
}

/** A loopback port with nothing listening: connections to it are refused. */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * Answer `res` with a chunked reply whose head, `chunks` and terminating chunk leave in one socket
 * write, so a client reads the whole reply in one read. The socket is corked, not the response:
 * Node 24's http server, when `end()` is called on a corked response, writes the terminating
 * chunk before the chunks still corked, which truncates the reply.
 */
export function writeChunkedAtOnce(
  res: http.ServerResponse,
  chunks: readonly string[],
  headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain' },
): void {
  const socket = res.socket;
  socket?.cork();
  res.writeHead(200, headers);
  for (const chunk of chunks) res.write(chunk);
  res.end();
  if (socket) process.nextTick(() => socket.uncork());
}
