/**
 * The chaos suites' fleet and load: endpoints on loopback that can be killed and restarted on
 * the same port, made slow, made to reset mid-body; a closed-loop load of GETs (idempotent)
 * and POSTs (not), each carrying an id the servers count, so a POST delivered twice shows.
 *
 * Faults are injected at fixed points of the load (after so many requests completed), not at
 * wall-clock times, so a run does the same things on a loaded machine as on an idle one.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How an endpoint behaves right now. */
export type Mode = { kind: 'ok' } | { kind: 'slow'; ms: number } | { kind: 'reset-mid-body' };

/** What every endpoint of a fleet saw, by request id. */
export class Ledger {
  /** POST ids, each with the number of times an endpoint received it. */
  readonly posts = new Map<string, number>();
  received = 0;

  duplicates(): string[] {
    return [...this.posts].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/** One endpoint: a node:http server that keeps its port across kill and restart. */
export class ChaosServer {
  mode: Mode = { kind: 'ok' };
  port = 0;
  #server: http.Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly name: string,
    private readonly ledger: Ledger,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<this> {
    if (this.#server) return this;
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** Stop listening and cut every connection, requests in flight included: the port refuses. */
  async kill(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    await this.kill();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.ledger.received++;
      const id = String(req.headers['x-chaos-id'] ?? '');
      if (req.method === 'POST') this.ledger.posts.set(id, (this.ledger.posts.get(id) ?? 0) + 1);
      const body = JSON.stringify({ server: this.name, id, pad: 'p'.repeat(2_000) });
      const mode = this.mode;
      if (mode.kind === 'reset-mid-body') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.write(body.slice(0, 100), () => req.socket.destroy());
        return;
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (mode.kind === 'slow') {
        const t = setTimeout(answer, mode.ms);
        res.on('close', () => clearTimeout(t));
        return;
      }
      answer();
    });
  }
}

/** A fleet of `n` endpoints sharing one ledger. */
export async function fleet(n: number): Promise<{ servers: ChaosServer[]; ledger: Ledger }> {
  const ledger = new Ledger();
  const servers = await Promise.all(
    Array.from({ length: n }, (_, i) => new ChaosServer(`s${i}`, ledger).start()),
  );
  return { servers, ledger };
}

/** The outcome of a load run. */
export interface LoadResult {
  gets: { ok: number; failed: number };
  posts: { ok: number; failed: number };
  /** Longest request, ms (measured by the load's own clock: the bound that deadlines promise). */
  maxMs: number;
  /** Error codes of failed GETs (should be none while a healthy endpoint remains). */
  getErrors: string[];
}

/**
 * A closed loop of `total` requests at `concurrency`, one POST in `postEvery`, each with a
 * unique `x-chaos-id`; `faults[k]` runs (awaited) once `k` requests have completed.
 */
export async function load(
  send: (method: 'GET' | 'POST', id: string) => Promise<unknown>,
  options: {
    total: number;
    concurrency: number;
    postEvery?: number;
    faults?: Record<number, () => Promise<void>>;
  },
): Promise<LoadResult> {
  const result: LoadResult = {
    gets: { ok: 0, failed: 0 },
    posts: { ok: 0, failed: 0 },
    maxMs: 0,
    getErrors: [],
  };
  const faults = new Map(Object.entries(options.faults ?? {}).map(([k, f]) => [Number(k), f]));
  let next = 0;
  let done = 0;
  let pendingFault: Promise<void> = Promise.resolve();
  const worker = async () => {
    while (next < options.total) {
      const i = next++;
      await pendingFault;
      const method = options.postEvery && i % options.postEvery === 0 ? 'POST' : 'GET';
      const started = performance.now();
      try {
        await send(method, `r${i}`);
        result[method === 'GET' ? 'gets' : 'posts'].ok++;
      } catch (err) {
        result[method === 'GET' ? 'gets' : 'posts'].failed++;
        if (method === 'GET') {
          const e = err as { code?: string; message?: string };
          result.getErrors.push(`${e.code ?? ''} ${e.message ?? ''}`.trim());
        }
      }
      result.maxMs = Math.max(result.maxMs, performance.now() - started);
      done++;
      const fault = faults.get(done);
      if (fault) {
        faults.delete(done);
        pendingFault = fault();
        await pendingFault;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await pendingFault;
  return result;
}
