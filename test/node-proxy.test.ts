/**
 * The benchmarks' floor proxy (bench/harness/node-proxy.ts), run as the benchmarks run it (its
 * own plain-node process), against real servers on loopback: it streams a body both ways,
 * strips hop-by-hop fields in both directions (RFC 9110 section 7.6.1) and answers 502 when the
 * upstream refuses or the service is unknown. It is the baseline mesh-sidecar is held to, so it
 * must be a correct proxy, not merely a fast one.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProxyProcess } from '../bench/harness/processes.js';

interface Seen {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let upstream: http.Server;
let upstreamUrl: string;
let raw: net.Server;
let rawUrl: string;
let refusedUrl: string;
let proxy: NodeProxyProcess;
const seen: Seen[] = [];
/** Resolves when the upstream has read the first bytes of a request body. */
let firstBytes: () => void = () => undefined;

async function listen(server: net.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (chunks.length === 0) firstBytes();
      chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers: req.headers, body });
      res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-length': String(body.length) });
      res.end(body);
    });
  });
  upstreamUrl = await listen(upstream);
  // Writes its response by hand, so the hop-by-hop fields in it are exactly these.
  raw = net.createServer((socket) => {
    socket.once('data', () => {
      socket.end(
        'HTTP/1.1 200 OK\r\nConnection: x-bar\r\nX-Bar: 1\r\nKeep-Alive: timeout=7\r\n' +
          'Proxy-Connection: keep-alive\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
      );
    });
  });
  rawUrl = await listen(raw);
  // A port that was free a moment ago and now refuses connections.
  const closed = net.createServer();
  refusedUrl = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  proxy = await NodeProxyProcess.start({ users: [upstreamUrl], raw: [rawUrl], gone: [refusedUrl] });
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.close();
  raw?.close();
});

/** One request through the proxy on a raw socket; resolves with the parsed response. */
async function viaSocket(request: string): Promise<{ status: number; headers: string[]; body: string }> {
  const { port } = new URL(proxy.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'end');
  const text = Buffer.concat(chunks).toString('latin1');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...headers] = head.split('\r\n');
  return { status: Number(statusLine.split(' ')[1]), headers: headers.map((h) => h.toLowerCase()), body };
}

describe('the floor proxy (bench/harness/node-proxy.ts)', () => {
  it('streams a request body to the upstream and the response back', async () => {
    seen.length = 0;
    const first = new Promise<void>((resolve) => {
      firstBytes = resolve;
    });
    const { port } = new URL(proxy.url);
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/users?x=1',
      headers: { host: 'users', 'content-type': 'application/octet-stream' },
    });
    const part = Buffer.alloc(64 * 1024, 'a');
    req.write(part);
    // The rest is sent only once the upstream has the first part: a proxy that buffered the
    // whole body before forwarding would never get there.
    await first;
    const rest = Buffer.alloc(192 * 1024, 'b');
    req.end(rest);
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);

    expect(res.statusCode).toBe(201);
    expect(res.headers['x-length']).toBe(String(part.length + rest.length));
    expect(body.equals(Buffer.concat([part, rest]))).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.body.equals(body)).toBe(true);
    expect(seen[0]!.headers.host).toBe('users');
    expect(seen[0]!.headers.via).toBe('1.1 node-proxy');
  });

  it('does not forward hop-by-hop request fields, nor those Connection names', async () => {
    seen.length = 0;
    const res = await viaSocket(
      'GET /users/1 HTTP/1.1\r\nHost: users\r\nConnection: x-foo, close\r\nX-Foo: 1\r\n' +
        'Keep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
        'Via: 1.1 client-proxy\r\nX-End: yes\r\n\r\n',
    );
    expect(res.status).toBe(201);
    const got = seen[0]!.headers;
    expect(got['x-foo']).toBeUndefined();
    expect(got['keep-alive']).toBeUndefined();
    expect(got['proxy-connection']).toBeUndefined();
    expect(got.te).toBeUndefined();
    expect(got.upgrade).toBeUndefined();
    expect(String(got.connection ?? '')).not.toMatch(/x-foo|close/);
    expect(got['x-end']).toBe('yes');
    expect(got.via).toBe('1.1 client-proxy, 1.1 node-proxy');
  });

  it('takes the service from an absolute-form target, as a client with a proxy set sends it', async () => {
    seen.length = 0;
    const res = await viaSocket(
      'GET http://users/users/2 HTTP/1.1\r\nHost: users\r\nConnection: close\r\n\r\n',
    );
    expect(res.status).toBe(201);
    expect(seen).toHaveLength(1);
  });

  it('does not forward hop-by-hop response fields, nor those Connection names', async () => {
    const res = await viaSocket('GET / HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(200);
    expect(res.body).toBe('ok');
    expect(res.headers).toContain('x-kept: yes');
    expect(res.headers.some((h) => h.startsWith('x-bar'))).toBe(false);
    expect(res.headers.some((h) => h.startsWith('proxy-connection'))).toBe(false);
    expect(res.headers).not.toContain('keep-alive: timeout=7');
  });

  it('answers 502 when the upstream refuses the connection', async () => {
    const res = await viaSocket('GET /x HTTP/1.1\r\nHost: gone\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(502);
    expect(res.body).toContain('ECONNREFUSED');
  });

  it('answers 502 for a service it does not know', async () => {
    const res = await viaSocket('GET /x HTTP/1.1\r\nHost: nobody\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(502);
    expect(res.body).toContain('no such service');
  });
});
