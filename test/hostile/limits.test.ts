/**
 * The proxy listener's limits, each tripped over a raw socket, with what the client sees: slow
 * and silent clients (408, closed), idle keep-alive and stalled connections (closed), the
 * connection cap (503 MESH_OVERLOADED), header count and size (431), the retry-buffer budget
 * (503 MESH_OVERLOADED, and the budget given back). The limits are set small so each trips
 * quickly; the waits are bounded by the connection closing, never by a sleep.
 */
import { isMeshError } from 'mesh-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { Upstream } from '../../testkit/upstream.js';
import { raw, sidecarFor } from '../support/sidecar.js';
import { exchange } from './wire.js';

const open = closeAfterEach();

async function setup(limits: Record<string, unknown>, behaviour?: Upstream['behaviour']) {
  const up = await Upstream.start('u', behaviour);
  const sidecar = await sidecarFor({ discovery: { static: { users: [up.url] } }, ...limits });
  open.push(up, sidecar);
  return { up, sidecar, port: Number(new URL(sidecar.address).port) };
}

const GET = 'GET / HTTP/1.1\r\nHost: users\r\n\r\n';

describe('slow and silent clients', () => {
  it('a slowloris client (one header byte at a time) gets 408 at headersTimeout and is closed', async () => {
    const { port, up } = await setup({ headersTimeout: 1_000 });
    const bytes = [...'GET / HTTP/1.1\r\nHost: users\r\nX-Slow: '.split(''), ...'a'.repeat(200).split('')];
    const reply = await exchange(port, bytes, { gapMs: 50, waitMs: 15_000 });
    expect(reply.closed).toBe(true);
    expect(reply.statuses).toEqual([408]);
    expect(reply.text).toContain('x-mesh-error: MESH_TIMEOUT');
    expect(up.count).toBe(0);
  });

  it('a connection that sends nothing is answered 408 and closed at headersTimeout', async () => {
    const { port, sidecar } = await setup({ headersTimeout: 500 });
    const reply = await exchange(port, [], { waitMs: 15_000 });
    expect(reply.closed).toBe(true);
    expect(reply.statuses).toEqual([408]);
    expect(sidecar.report().refused.MESH_TIMEOUT).toBe(1);
  });

  it('a body sent too slowly gets 408 at requestTimeout', async () => {
    const { port, up } = await setup({ headersTimeout: 500, requestTimeout: 1_000 });
    const head = 'POST / HTTP/1.1\r\nHost: users\r\nContent-Length: 1000\r\n\r\n';
    const reply = await exchange(port, [head, ...'b'.repeat(1000).split('')], { gapMs: 50, waitMs: 15_000 });
    expect(reply.closed).toBe(true);
    expect(reply.statuses).toEqual([408]);
    expect(up.count).toBe(0);
  });

  it('an idle keep-alive connection is closed after keepAliveTimeout', async () => {
    const { port } = await setup({ keepAliveTimeout: 300 });
    const reply = await exchange(port, [GET], { waitMs: 15_000 });
    expect(reply.statuses).toEqual([200]);
    expect(reply.text).toContain('Keep-Alive: timeout=0');
    expect(reply.closed).toBe(true);
  });

  it('a connection with a request open and no byte either way is closed at idleTimeout', async () => {
    const { port, up } = await setup(
      { idleTimeout: 500, timeout: { total: false, perTry: false } },
      { kind: 'hang' },
    );
    const reply = await exchange(port, [GET], { waitMs: 15_000 });
    expect(up.count).toBe(1);
    expect(reply.closed).toBe(true);
    expect(reply.statuses).toEqual([]);
  });
});

describe('connection cap', () => {
  it('a connection past maxConnections gets 503 MESH_OVERLOADED and is closed; room comes back', async () => {
    const { port, sidecar } = await setup({ maxConnections: 2 });
    const net = await import('node:net');
    const held = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<import('node:net').Socket>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => {
              s.write(GET);
              s.once('data', () => resolve(s));
            });
          }),
      ),
    );
    expect(sidecar.report().connections.open).toBe(2);
    const refused = await exchange(port, [GET], { waitMs: 15_000 });
    expect(refused.closed).toBe(true);
    expect(refused.statuses).toEqual([503]);
    expect(refused.text).toContain('x-mesh-error: MESH_OVERLOADED');
    expect(sidecar.report().connections.refused).toBe(1);
    const closing = held.map((s) => new Promise((resolve) => s.once('close', resolve)));
    for (const s of held) s.destroy();
    await Promise.all(closing);
    // The sidecar sees the closes on its side of the sockets: wait for its count to drop.
    while (sidecar.report().connections.open > 0) await new Promise((r) => setImmediate(r));
    const again = await exchange(port, [GET], { responses: 1, waitMs: 15_000 });
    expect(again.statuses).toEqual([200]);
  });

  it("a burst of connections past node's default backlog (511) is accepted at once, up to maxConnections", async () => {
    const { port, sidecar } = await setup({ maxConnections: 1_500 });
    const net = await import('node:net');
    const burst = Array.from({ length: 1_200 }, () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      return s;
    });
    onTestFinished(() => {
      for (const s of burst) s.destroy();
    });
    // With the default backlog, the connections past it wait in the kernel for a SYN-ACK
    // retransmit (a second or more) or are never queued for accept() at all.
    await expect.poll(() => sidecar.report().connections.open, { timeout: 900, interval: 10 }).toBe(1_200);
  });
});

describe('header limits', () => {
  it('maxHeadersCount: exactly the limit passes, one more gets 431 and nothing is forwarded', async () => {
    const { port, up } = await setup({ maxHeadersCount: 10 });
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
    const ok = await exchange(port, [`GET / HTTP/1.1\r\nHost: users\r\n${headers(9)}\r\n`], {
      responses: 1,
      waitMs: 15_000,
    });
    expect(ok.statuses).toEqual([200]);
    const over = await exchange(
      port,
      [`POST / HTTP/1.1\r\nHost: users\r\n${headers(10)}Content-Length: 5\r\n\r\nhello`],
      { waitMs: 15_000 },
    );
    expect(over.statuses).toEqual([431]);
    expect(over.closed).toBe(true);
    expect(up.count).toBe(1);
  });

  it('maxHeaderBytes: larger headers get 431', async () => {
    const { port, up } = await setup({ maxHeaderBytes: 2048 });
    const reply = await exchange(
      port,
      [`GET / HTTP/1.1\r\nHost: users\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`],
      {
        waitMs: 15_000,
      },
    );
    expect(reply.statuses).toEqual([431]);
    expect(up.count).toBe(0);
  });
});

describe('retry-buffer budget', () => {
  it('a body that does not fit the budget gets 503 MESH_OVERLOADED; the budget comes back', async () => {
    const { sidecar, up } = await setup(
      { retryBufferBytes: 100, responseBufferBytes: 0, bufferBudgetBytes: 100 },
      { kind: 'held' },
    );
    const first = raw(sidecar.address, '/a', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'a'.repeat(80),
    });
    await up.receivedAtLeast(1);
    expect(sidecar.report().bufferedBytes).toBe(80);
    const second = await raw(sidecar.address, '/b', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'b'.repeat(30),
    });
    expect([second.status, second.headers['x-mesh-error']]).toEqual([503, 'MESH_OVERLOADED']);
    expect(second.headers.connection).toBe('close');
    up.release();
    expect((await first).status).toBe(200);
    while (sidecar.report().bufferedBytes > 0) await new Promise((r) => setImmediate(r));
    up.behaviour = { kind: 'ok' };
    const third = await raw(sidecar.address, '/c', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'c'.repeat(30),
    });
    expect(third.status).toBe(200);
    expect(up.received.map((r) => r.url)).toEqual(['/a', '/c']);
  });

  it('a body larger than retryBufferBytes streams and takes nothing from the budget', async () => {
    const { sidecar, up } = await setup({
      retryBufferBytes: 10,
      responseBufferBytes: 0,
      bufferBudgetBytes: 10,
    });
    const res = await raw(sidecar.address, '/big', {
      method: 'PUT',
      headers: { host: 'users' },
      body: 'x'.repeat(5000),
    });
    expect(res.status).toBe(200);
    expect(up.received[0]!.body).toHaveLength(5000);
    expect(sidecar.report().bufferedBytes).toBe(0);
  });
});

describe('limit options', () => {
  const bad = (config: Record<string, unknown>) => {
    try {
      new Sidecar({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...config });
    } catch (err) {
      if (isMeshError(err, 'MESH_BAD_OPTIONS')) return err.message;
      throw err;
    }
    throw new Error('accepted');
  };

  it('are validated, naming the option', () => {
    expect(bad({ headersTimeout: 0 })).toContain('options.headersTimeout:');
    expect(bad({ maxConnections: -1 })).toContain('options.maxConnections:');
    expect(bad({ maxHeadersCount: 1.5 })).toContain('options.maxHeadersCount:');
    expect(bad({ maxHeaderBytes: 10 })).toContain('options.maxHeaderBytes:');
    expect(bad({ headersTimeout: 20_000, requestTimeout: 10_000 })).toContain(
      'options.headersTimeout: must not exceed requestTimeout',
    );
    expect(bad({ retryBufferBytes: 2_000, bufferBudgetBytes: 1_000 })).toContain(
      'options.retryBufferBytes: must not exceed bufferBudgetBytes',
    );
  });

  it('have the documented defaults', async () => {
    const sidecar = new Sidecar({});
    open.push({ close: () => sidecar.close() });
    expect(sidecar.config).toMatchObject({
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      idleTimeout: 60_000,
      tunnelIdleTimeout: 3_600_000,
      maxConnections: 1024,
      maxHeadersCount: 100,
      maxHeaderBytes: 16_384,
      bufferBudgetBytes: 64 * 1024 * 1024,
    });
  });
});
