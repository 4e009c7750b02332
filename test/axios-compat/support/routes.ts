/**
 * What the compatibility servers answer, by path. One handler serves the plain HTTP server, the
 * "other host" (for redirects leaving the origin), the HTTPS server and the Unix-socket server,
 * so every case can point any target at any of them. Each route is a real behaviour a client
 * meets: encodings, redirects, slow and hanging answers, streamed and cut bodies, resets.
 *
 * Requests carry an `x-tag` header naming the case and target; the server reports arrivals and
 * client disconnects per tag, so tests wait on those events instead of on time.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';

/** The text every encoded route carries once decoded. */
export const TEXT = 'hello, compression: '.repeat(20);

/** Route name -> [Content-Encoding sent, body bytes]. */
export const ENCODED: Record<string, [string, Buffer]> = {
  gzip: ['gzip', zlib.gzipSync(TEXT)],
  'x-gzip': ['x-gzip', zlib.gzipSync(TEXT)],
  'gzip-upper': ['GZIP', zlib.gzipSync(TEXT)],
  br: ['br', zlib.brotliCompressSync(TEXT)],
  deflate: ['deflate', zlib.deflateSync(TEXT)],
  // Some servers send raw DEFLATE (RFC 1951) under "deflate"; axios decodes it.
  'deflate-raw': ['deflate', zlib.deflateRawSync(TEXT)],
  // axios treats (x-)compress like gzip: zlib's unzip, which takes gzip or zlib framing.
  compress: ['compress', zlib.deflateSync(TEXT)],
  'x-compress': ['x-compress', zlib.gzipSync(TEXT)],
  identity: ['identity', Buffer.from(TEXT)],
  unknown: ['x-custom', Buffer.from(TEXT)],
};

/** Server-side events per tag: `seen` (request arrived), `gone` (client went away early). */
export class Observed extends EventEmitter {
  readonly #seen = new Set<string>();

  saw(tag: string): void {
    this.#seen.add(tag);
    this.emit(`seen:${tag}`);
  }

  /** Whether a request tagged `tag` has arrived. */
  has(tag: string): boolean {
    return this.#seen.has(tag);
  }

  /** Resolves when a request tagged `tag` has arrived. */
  arrived(tag: string): Promise<void> {
    if (this.#seen.has(tag)) return Promise.resolve();
    return new Promise((resolve) => this.once(`seen:${tag}`, () => resolve()));
  }

  /** Resolves when the client of a request tagged `tag` closed its connection before the end. */
  left(tag: string): Promise<void> {
    return new Promise((resolve) => this.once(`gone:${tag}`, () => resolve()));
  }
}

async function bodyOf(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: http.ServerResponse, status: number, value: unknown, reason?: string): void {
  const body = JSON.stringify(value);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (reason === undefined) res.writeHead(status, headers);
  else res.writeHead(status, reason, headers);
  res.end(body);
}

/** The routes. `timers` collects what close() must clear. */
export function handler(observed: Observed, timers: Set<NodeJS.Timeout>): http.RequestListener {
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://compat');
    const q = url.searchParams;
    const tag = String(req.headers['x-tag'] ?? '');
    if (tag) {
      observed.saw(tag);
      res.on('close', () => {
        if (!res.writableFinished) observed.emit(`gone:${tag}`);
      });
    }
    const [, route = '', arg = ''] = url.pathname.split('/');
    switch (route) {
      case 'json':
        return json(res, 200, { hello: 'world' });
      case 'text':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('plain text');
      case 'latin1':
        res.writeHead(200, { 'content-type': 'text/plain; charset=latin1' });
        return res.end(Buffer.from('café', 'latin1'));
      case 'bom':
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        return res.end('\uFEFF{"bom":true}');
      case 'not-json':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{not json');
      case 'echo': {
        const body = await bodyOf(req);
        const peer = (req.socket as TLSSocket).getPeerCertificate?.();
        return json(res, 200, {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: body.toString('utf8'),
          bytes: body.length,
          peer: peer?.subject?.CN,
          port: req.socket.remotePort,
        });
      }
      case 'status': {
        const code = Number(arg || 200);
        if (code === 204 || code === 304) {
          res.writeHead(code, q.get('reason') ?? undefined);
          return res.end();
        }
        return json(res, code, { status: code }, q.get('reason') ?? undefined);
      }
      case 'cookies':
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
        return json(res, 200, {});
      case 'enc': {
        const [encoding, bytes] = ENCODED[arg] ?? ['gzip', zlib.gzipSync(TEXT)];
        const status = Number(q.get('status') ?? 200);
        res.writeHead(status, { 'content-encoding': encoding, 'content-type': 'text/plain' });
        return res.end(status === 204 || req.method === 'HEAD' ? undefined : bytes);
      }
      case 'enc-empty':
        res.writeHead(200, { 'content-encoding': arg, 'content-length': 0 });
        return res.end();
      case 'enc-corrupt':
        res.writeHead(200, { 'content-encoding': arg, 'content-type': 'text/plain' });
        return res.end(Buffer.from('this is not compressed at all'));
      case 'enc-truncated': {
        const whole = zlib.gzipSync(TEXT);
        res.writeHead(200, { 'content-encoding': 'gzip' });
        return res.end(whole.subarray(0, whole.length - 8));
      }
      case 'enc-big': {
        res.writeHead(200, { 'content-encoding': 'gzip' });
        return res.end(zlib.gzipSync('a'.repeat(Number(q.get('n') ?? 10_000))));
      }
      case 'redirect': {
        const code = Number(q.get('code') ?? 302);
        res.writeHead(code, { location: q.get('to') ?? '/json' });
        return res.end();
      }
      case 'loop':
        res.writeHead(302, { location: `/loop?n=${Number(q.get('n') ?? 0) + 1}` });
        return res.end();
      case 'slow':
        later(Number(q.get('ms') ?? 100), () => json(res, 200, { slow: true }));
        return;
      case 'hang':
        return;
      case 'hang-body':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
        res.write('started');
        return;
      case 'drip': {
        const chunks = Number(q.get('chunks') ?? 5);
        const size = Number(q.get('size') ?? 1024);
        const ms = Number(q.get('ms') ?? 10);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': chunks * size });
        let sent = 0;
        const next = () => {
          if (res.destroyed) return;
          res.write(Buffer.alloc(size, 'x'));
          if (++sent === chunks) res.end();
          else later(ms, next);
        };
        return next();
      }
      case 'endless': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const tick = () => {
          if (res.destroyed) return;
          res.write(Buffer.alloc(512, 'e'));
          later(20, tick);
        };
        return tick();
      }
      case 'cut':
        // Headers promise 1000 bytes; the connection dies after 100.
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
        res.write(Buffer.alloc(100, 'c'));
        later(20, () => res.socket?.destroy());
        return;
      case 'reset':
        return req.socket.destroy();
      case 'garbage':
        req.socket.end('HTTP/1.1 ??? this is not HTTP\r\n\r\n');
        return;
      case 'big': {
        const n = Number(q.get('n') ?? 1000);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
        return res.end(Buffer.alloc(n, 'b'));
      }
      case 'upload': {
        const body = await bodyOf(req);
        return json(res, 200, { bytes: body.length, headers: req.headers });
      }
      default:
        return json(res, 404, { error: 'no such route' });
    }
  };
  // A client that goes away mid-request fails the body read: the route just ends.
  return (req, res) => {
    serve(req, res).catch(() => res.destroy());
  };
}
