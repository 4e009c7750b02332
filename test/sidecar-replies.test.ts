/**
 * How mesh-sidecar writes replies back, on real sockets: a small reply read whole goes out framed
 * by its length (also when the upstream sent it chunked), with no body where HTTP allows none; a
 * large reply streams through intact; a client that goes away mid-body aborts the upstream
 * request and gives its buffer bytes back.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Sidecar } from '../src/sidecar/sidecar.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { writeChunkedAtOnce } from '../testkit/upstream.js';
import { raw, sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();

/** An upstream answering with `route`, and what it saw cut. */
async function upstream(route: http.RequestListener) {
  const cut: string[] = [];
  const server = http.createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) cut.push(req.url ?? '');
    });
    route(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  open.push({
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  });
  return { url, cut };
}

async function sidecarTo(url: string, extra: Record<string, unknown> = {}): Promise<Sidecar> {
  const sidecar = await sidecarFor({ discovery: { static: { users: [url] } }, ...extra });
  open.push(sidecar);
  return sidecar;
}

describe('replies read whole', () => {
  it('a chunked upstream reply reaches the client framed by its length', async () => {
    // Head and chunks in one write, so the sidecar has the whole reply in one read.
    const { url } = await upstream((_req, res) => writeChunkedAtOnce(res, ['hello ', 'world']));
    const sidecar = await sidecarTo(url);
    const res = await raw(sidecar.address, '/x', { headers: { host: 'users' } });
    expect(res.body).toBe('hello world');
    expect(res.headers['content-length']).toBe('11');
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(sidecar.report().bufferedBytes).toBe(0);
  });

  it('HEAD, 204 and 304 get no length the upstream did not send', async () => {
    const { url } = await upstream((req, res) => {
      const status = Number(req.url?.slice(1)) || 200;
      res.writeHead(status, { etag: '"v1"' });
      res.end();
    });
    const sidecar = await sidecarTo(url);
    const head = await raw(sidecar.address, '/200', { method: 'HEAD', headers: { host: 'users' } });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBeUndefined();
    for (const status of [204, 304]) {
      const res = await raw(sidecar.address, `/${status}`, { headers: { host: 'users' } });
      expect(res.status).toBe(status);
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.body).toBe('');
    }
  });

  it("the upstream's own Content-Length is kept as it was", async () => {
    const { url } = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
    const sidecar = await sidecarTo(url);
    const res = await raw(sidecar.address, '/x', { headers: { host: 'users' } });
    expect(res.headers['content-length']).toBe('2');
    expect(res.body).toBe('ok');
  });
});

describe('replies streamed', () => {
  it('an 8 MiB reply streams through intact', async () => {
    const block = Buffer.alloc(256 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = i % 251;
    const blocks = 32;
    const { url } = await upstream((_req, res) => {
      res.writeHead(200);
      let left = blocks;
      const more = () => {
        while (left-- > 0) {
          if (!res.write(block)) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
    const sidecar = await sidecarTo(url);
    const expected = createHash('sha256');
    for (let i = 0; i < blocks; i++) expected.update(block);
    const got = await new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
      const { port } = new URL(sidecar.address);
      http
        .get({ host: '127.0.0.1', port, path: '/big', headers: { host: 'users' }, agent: false }, (res) => {
          const hash = createHash('sha256');
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            hash.update(c);
            bytes += c.length;
          });
          res.on('end', () => resolve({ hash: hash.digest('hex'), bytes }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(got.bytes).toBe(blocks * block.length);
    expect(got.hash).toBe(expected.digest('hex'));
  });

  it('a client gone mid-body: the upstream request is aborted and no buffer byte stays held', async () => {
    const { url, cut } = await upstream((_req, res) => {
      res.writeHead(200);
      res.write('x'.repeat(1000));
      // ...and the rest never comes.
    });
    const sidecar = await sidecarTo(url);
    const { port } = new URL(sidecar.address);
    await new Promise<void>((resolve, reject) => {
      const req = http.get({
        host: '127.0.0.1',
        port,
        path: '/slow',
        headers: { host: 'users' },
        agent: false,
      });
      req.on('response', (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await expect.poll(() => cut).toEqual(['/slow']);
    await expect.poll(() => sidecar.report().inFlight).toBe(0);
    expect(sidecar.report().bufferedBytes).toBe(0);
  });
});

describe('replies of unannounced length', () => {
  it('server-sent events reach the client as they are sent, not when a buffer fills', async () => {
    let delivered: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    const { url } = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: one\n\n');
      // The second event only once the client has the first: buffering would deadlock here.
      void first.then(() => res.end('data: two\n\n'));
    });
    const sidecar = await sidecarTo(url);
    const { port } = new URL(sidecar.address);
    const events = await new Promise<string[]>((resolve, reject) => {
      http
        .get(
          { host: '127.0.0.1', port, path: '/events', headers: { host: 'users' }, agent: false },
          (res) => {
            const seen: string[] = [];
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              seen.push(chunk);
              delivered();
            });
            res.on('end', () => resolve(seen));
            res.on('error', reject);
          },
        )
        .on('error', reject);
    });
    expect(events.join('')).toBe('data: one\n\ndata: two\n\n');
    expect(events[0]).toBe('data: one\n\n');
  });
});
