/**
 * Transfer codings (RFC 9112 section 6.1) both ways: a request coded other than `chunked` is
 * refused with 501 before anything is forwarded (its body would reach the upstream with no sign
 * of its coding); a response coded `gzip, chunked` reaches the client still saying so, its bytes
 * intact.
 */
import { once } from 'node:events';
import net from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { sidecarFor } from '../support/sidecar.js';
import { exchange, RecordingUpstream } from './wire.js';

const open = closeAfterEach();

describe('transfer codings', () => {
  it('a request with gzip, chunked gets 501 and its upstream receives nothing', async () => {
    const up = await RecordingUpstream.start();
    const sidecar = await sidecarFor({ discovery: { static: { users: [up.url] } } });
    open.push(up, sidecar);
    const body = gzipSync('hello');
    const chunk = Buffer.concat([
      Buffer.from(`${body.length.toString(16)}\r\n`),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const reply = await exchange(
      Number(new URL(sidecar.address).port),
      [`POST / HTTP/1.1\r\nHost: users\r\nTransfer-Encoding: gzip, chunked\r\n\r\n`, chunk],
      { waitMs: 15_000 },
    );
    expect(reply.statuses).toEqual([501]);
    expect(reply.closed).toBe(true);
    expect(up.bytes).toBe('');
  });

  it('a response coded gzip, chunked is passed on with its codings', async () => {
    const payload = gzipSync(JSON.stringify({ big: 'x'.repeat(10_000) }));
    const upstream = net.createServer((socket) => {
      socket.once('data', () => {
        socket.write(
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Type: application/json\r\n\r\n',
        );
        socket.write(`${payload.length.toString(16)}\r\n`);
        socket.write(payload);
        socket.end('\r\n0\r\n\r\n');
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    open.push({ close: () => new Promise((r) => upstream.close(() => r())) });
    const port = (upstream.address() as net.AddressInfo).port;
    const sidecar = await sidecarFor({ discovery: { static: { users: [`http://127.0.0.1:${port}`] } } });
    open.push(sidecar);
    const reply = await exchange(
      Number(new URL(sidecar.address).port),
      ['GET / HTTP/1.1\r\nHost: users\r\n\r\n'],
      {
        responses: 1,
        waitMs: 15_000,
      },
    );
    expect(reply.statuses).toEqual([200]);
    const [head, ...rest] = reply.text.split('\r\n\r\n');
    expect(head).toMatch(/\r\ntransfer-encoding: gzip, chunked/i);
    // De-chunk, then gunzip: the client gets the upstream's bytes as they were coded.
    const raw = Buffer.from(rest.join('\r\n\r\n'), 'latin1');
    const chunks: Buffer[] = [];
    for (let at = 0; ; ) {
      const eol = raw.indexOf('\r\n', at);
      const size = Number.parseInt(raw.subarray(at, eol).toString(), 16);
      if (size === 0) break;
      chunks.push(raw.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    expect(JSON.parse(gunzipSync(Buffer.concat(chunks)).toString())).toEqual({ big: 'x'.repeat(10_000) });
  });
});
