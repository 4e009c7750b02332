/**
 * The sidecar's transport on a real loopback server: which replies come back whole and which
 * stream, the buffer budget taken and given back, backpressure, aborts reaching the upstream,
 * and a discarded reply keeping (or, past the drain bound, closing) the connection.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeChunkedAtOnce } from '../../testkit/upstream.js';
import { type Call, newCall } from '../core/call.js';
import { Endpoint } from '../core/endpoint.js';
import { AttemptSignal } from '../core/signal.js';
import { type ProxyReply, type ProxyRequest, type ReplyBuffering, undiciTransport } from './undici.js';

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let server: http.Server;
let agent: Agent;
let route: Route;
let endpoint: Endpoint;
/** Remote ports of the connections the server accepted, in order. */
let connections: number[];
/** Requests whose response was closed before it finished. */
let cut: string[];
/** Remote ports of the connections the server saw close. */
let closed: number[];

beforeEach(async () => {
  connections = [];
  cut = [];
  closed = [];
  server = http.createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) cut.push(req.url ?? '');
    });
    route(req, res);
  });
  const [seen, gone] = [connections, closed];
  server.on('connection', (socket: Socket) => {
    const port = socket.remotePort ?? 0;
    seen.push(port);
    socket.on('close', () => gone.push(port));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = new Endpoint({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/base` });
  agent = new Agent({ keepAliveTimeout: 30_000 });
});

afterEach(async () => {
  await agent.close();
  server.closeAllConnections();
  server.close();
});

/** A budget that counts what is held. */
function budget(maxBytes: number, room = Number.POSITIVE_INFINITY): ReplyBuffering & { held: number } {
  return {
    maxBytes,
    held: 0,
    reserve(bytes) {
      if (this.held + bytes > room) return false;
      this.held += bytes;
      return true;
    },
    release(bytes) {
      this.held -= bytes;
    },
  };
}

function call(path: string, init: { method?: string; signal?: AttemptSignal } = {}): Call<ProxyRequest> {
  const method = init.method ?? 'GET';
  const c = newCall<ProxyRequest>({
    service: 'svc',
    method,
    path,
    hashKey: undefined,
    idempotent: method === 'GET',
    replayable: true,
    request: { method, path, headers: {}, body: null },
    signal: init.signal ?? new AttemptSignal(),
    deadline: Number.POSITIVE_INFINITY,
  });
  c.endpoint = endpoint;
  return c;
}

/**
 * A chunked reply whose head and body leave in one write and arrive in one read (a reply of
 * unannounced length is read whole only when it ends in the turn its head came).
 */
function chunked(chunks: string[]): Route {
  return (_req, res) => writeChunkedAtOnce(res, chunks);
}

async function textOf(reply: ProxyReply): Promise<string> {
  return Buffer.isBuffer(reply.body) ? reply.body.toString() : text(reply.body);
}

describe('whole or streamed', () => {
  it('a small reply of a retryable request comes back whole; its bytes are held until discarded', async () => {
    route = chunked(['hello ', 'world']);
    const b = budget(1024);
    const reply = await undiciTransport(agent, b)(call('/small'));
    expect(Buffer.isBuffer(reply.body)).toBe(true);
    expect(reply.body.toString()).toBe('hello world');
    expect(b.held).toBe(11);
    reply.discard();
    reply.discard();
    expect(b.held).toBe(0);
  });

  it('the endpoint URL path is a prefix of every request path', async () => {
    let seen = '';
    route = (req, res) => {
      seen = req.url ?? '';
      res.end('ok');
    };
    await undiciTransport(agent)(call('/users/42?x=1'));
    expect(seen).toBe('/base/users/42?x=1');
  });

  it('a reply announced larger than the bound streams from the start, holding nothing', async () => {
    const big = 'x'.repeat(5_000);
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
    };
    const b = budget(1_000);
    const reply = await undiciTransport(agent, b)(call('/big'));
    expect(Buffer.isBuffer(reply.body)).toBe(false);
    expect(b.held).toBe(0);
    expect(await textOf(reply)).toBe(big);
  });

  it('a chunked reply that outgrows the bound streams what was read and the rest, in order', async () => {
    const parts = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'.'.repeat(98)}`);
    route = chunked(parts);
    const b = budget(250);
    const reply = await undiciTransport(agent, b)(call('/grows'));
    expect(b.held).toBeGreaterThan(0);
    const stream = reply.body as Readable;
    expect(await textOf(reply)).toBe(parts.join(''));
    // The stream was read to its end: what it held went back.
    if (!stream.closed) await once(stream, 'close');
    expect(b.held).toBe(0);
  });

  it('a full budget: the reply streams instead', async () => {
    route = chunked(['abc', 'def']);
    const b = budget(1024, 0);
    const reply = await undiciTransport(agent, b)(call('/no-room'));
    expect(Buffer.isBuffer(reply.body)).toBe(false);
    expect(await textOf(reply)).toBe('abcdef');
  });

  it('a request that would not be retried (POST) always streams', async () => {
    route = chunked(['posted']);
    const reply = await undiciTransport(agent, budget(1024))(call('/post', { method: 'POST' }));
    expect(Buffer.isBuffer(reply.body)).toBe(false);
    expect(await textOf(reply)).toBe('posted');
  });

  it('without buffering, every reply streams', async () => {
    route = chunked(['streamed']);
    const reply = await undiciTransport(agent)(call('/plain'));
    expect(Buffer.isBuffer(reply.body)).toBe(false);
    expect(await textOf(reply)).toBe('streamed');
  });

  it('a chunked reply still coming a turn after its head streams, what was read first', async () => {
    let more: () => void = () => {};
    route = (_req, res) => {
      res.writeHead(200);
      res.write('first;');
      more = () => res.end('second');
    };
    const reply = await undiciTransport(agent, budget(1024))(call('/later'));
    expect(Buffer.isBuffer(reply.body)).toBe(false);
    more();
    expect(await textOf(reply)).toBe('first;second');
  });
});

describe('backpressure and aborts', () => {
  it('a 4 MiB reply read slowly arrives whole', async () => {
    const block = Buffer.alloc(64 * 1024, 'z');
    route = (_req, res) => {
      res.writeHead(200);
      let left = 64;
      const more = () => {
        while (left > 0) {
          left--;
          if (!res.write(block)) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    };
    const reply = await undiciTransport(agent, budget(1024))(call('/huge'));
    const stream = reply.body as Readable;
    let bytes = 0;
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      // A slow reader: one chunk per event-loop turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(bytes).toBe(64 * block.length);
  });

  it("aborting the attempt's signal mid-body aborts the upstream request and errors the stream", async () => {
    route = (_req, res) => {
      res.writeHead(200);
      res.write('first part');
    };
    const signal = new AttemptSignal();
    const reply = await undiciTransport(agent)(call('/abort', { signal }));
    const stream = reply.body as Readable;
    const failed = once(stream, 'error');
    signal.abort(new Error('deadline'));
    const [error] = await failed;
    expect((error as Error).message).toBe('deadline');
    await expect.poll(() => cut).toEqual(['/base/abort']);
  });

  it('an aborted signal before the head rejects with its reason', async () => {
    route = () => {};
    const signal = new AttemptSignal();
    const pending = undiciTransport(agent)(call('/never', { signal }));
    signal.abort(new Error('gave up'));
    await expect(pending).rejects.toThrow('gave up');
  });

  it('destroying the stream before its end (the client went away) aborts the upstream request', async () => {
    route = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
    };
    const reply = await undiciTransport(agent)(call('/gone'));
    await once(reply.body as Readable, 'readable');
    (reply.body as Readable).destroy();
    await expect.poll(() => cut).toEqual(['/base/gone']);
  });

  it('a refused connection rejects with the socket error', async () => {
    const refusing = new Endpoint({ url: 'http://127.0.0.1:9' });
    const c = call('/x');
    c.endpoint = refusing;
    await expect(undiciTransport(agent)(c)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('discard', () => {
  it('a discarded stream with a small rest is drained: the connection serves the next request', async () => {
    route = (req, res) => {
      res.writeHead(503, { 'content-length': '3000' });
      res.end(req.url === '/base/a' ? 'e'.repeat(3000) : 'f'.repeat(3000));
    };
    const send = undiciTransport(agent, budget(1_000));
    const first = await send(call('/a'));
    expect(Buffer.isBuffer(first.body)).toBe(false);
    first.discard();
    // Drained: nothing of it is still running on the connection.
    await expect.poll(() => (Object.values(agent.stats)[0] as { free?: number } | undefined)?.free).toBe(1);
    const second = await send(call('/b'));
    expect(await textOf(second)).toBe('f'.repeat(3000));
    expect(connections).toHaveLength(1);
  });

  it('a discarded stream with more than 128 KiB left closes its connection instead', async () => {
    const size = 1024 * 1024;
    route = (req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      if (req.url === '/base/big') res.end(Buffer.alloc(size, 'b'));
      else res.end(Buffer.alloc(size, 'c'));
    };
    const send = undiciTransport(agent);
    const first = await send(call('/big'));
    first.discard();
    await expect.poll(() => closed).toContain(connections[0]);
    const second = await send(call('/next'));
    expect((await textOf(second)).length).toBe(size);
  });
});
