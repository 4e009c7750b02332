/**
 * WebSocket (and any `Upgrade`) through mesh-sidecar, with the `ws` package on both ends: the
 * handshake goes through discovery, balancing and retries; once upgraded the bytes are spliced
 * and never retried; a declined upgrade is passed back; tunnels end with the sidecar and at
 * their idle timeout.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { closedPortUrl } from '../../testkit/upstream.js';
import { sidecarFor } from '../support/sidecar.js';
import { exchange } from './wire.js';

const open = closeAfterEach();

/** A real ws server that echoes, counts connections and keeps the handshake headers it saw. */
async function wsUpstream(name: string, options: { decline?: number } = {}) {
  const server = http.createServer();
  const wss = new WebSocketServer({
    server,
    verifyClient: options.decline ? (_info, cb) => cb(false, options.decline) : undefined,
  });
  const handshakes: http.IncomingHttpHeaders[] = [];
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws, req) => {
    handshakes.push(req.headers);
    sockets.add(ws);
    ws.on('message', (data: RawData) => ws.send(`${name}:${data.toString()}`));
    ws.on('close', () => sockets.delete(ws));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const up = {
    url,
    handshakes,
    sockets,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      await new Promise((r) => wss.close(r));
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  open.push(up);
  return up;
}

async function sidecarWith(services: Record<string, string[]>, options: Record<string, unknown> = {}) {
  const sidecar = await sidecarFor({
    discovery: { static: services },
    loadBalancer: 'round-robin',
    ...options,
  });
  open.push(sidecar);
  return sidecar;
}

/** A ws client through the sidecar, the service in Host; resolves once open. */
async function connect(sidecarUrl: string, service: string, path = '/chat'): Promise<WebSocket> {
  const ws = new WebSocket(`${sidecarUrl.replace('http', 'ws')}${path}`, { headers: { host: service } });
  open.push({
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.terminate();
      await once(ws, 'close');
    },
  });
  await once(ws, 'open');
  return ws;
}

async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  ws.send(text);
  const [data] = (await once(ws, 'message')) as [RawData];
  return data.toString();
}

describe('WebSocket through the sidecar', () => {
  it('upgrades and carries messages both ways; the handshake records the hop', async () => {
    const up = await wsUpstream('a');
    const sidecar = await sidecarWith({ users: [up.url] });
    const ws = await connect(sidecar.address, 'users');
    expect(await roundTrip(ws, 'hello')).toBe('a:hello');
    expect(await roundTrip(ws, 'x'.repeat(100_000))).toBe(`a:${'x'.repeat(100_000)}`);
    expect(up.handshakes[0]).toMatchObject({
      via: '1.1 mesh-sidecar',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': 'users',
      upgrade: 'websocket',
    });
    expect(sidecar.report().services.users).toMatchObject({ requests: 1, responses: { '1xx': 1 } });
  });

  it('balances handshakes over the endpoints', async () => {
    const [a, b] = await Promise.all([wsUpstream('a'), wsUpstream('b')]);
    const sidecar = await sidecarWith({ users: [a.url, b.url] });
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++)
      answers.add((await roundTrip(await connect(sidecar.address, 'users'), 'q')).split(':')[0]!);
    expect(answers).toEqual(new Set(['a', 'b']));
    expect([a.handshakes.length, b.handshakes.length]).toEqual([2, 2]);
  });

  it('retries a handshake on another endpoint when the first refuses the connection', async () => {
    const live = await wsUpstream('live');
    const sidecar = await sidecarWith({ users: [await closedPortUrl(), live.url] });
    for (let i = 0; i < 3; i++)
      expect(await roundTrip(await connect(sidecar.address, 'users'), 'r')).toBe('live:r');
    expect(live.handshakes).toHaveLength(3);
  });

  it('once upgraded, an upstream that drops the tunnel is not retried: the client sees the close', async () => {
    const [a, b] = await Promise.all([wsUpstream('a'), wsUpstream('b')]);
    const sidecar = await sidecarWith({ users: [a.url, b.url] });
    const ws = await connect(sidecar.address, 'users');
    await roundTrip(ws, 'first');
    const closed = once(ws, 'close');
    for (const s of [...a.sockets, ...b.sockets]) s.terminate();
    await closed;
    expect(a.handshakes.length + b.handshakes.length).toBe(1);
  });

  it('an upstream that declines the upgrade: its status reaches the client, then the connection closes', async () => {
    const up = await wsUpstream('no', { decline: 403 });
    const sidecar = await sidecarWith({ users: [up.url] }, { retry: false });
    const ws = new WebSocket(`${sidecar.address.replace('http', 'ws')}/chat`, { headers: { host: 'users' } });
    ws.on('error', () => undefined);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];
    expect(res.statusCode).toBe(403);
    expect(res.headers.via).toBe('1.1 mesh-sidecar');
    res.resume();
    ws.terminate();
  });

  it('refuses an upgrade for an unknown service with 404, and one with a body with 501', async () => {
    const up = await wsUpstream('a');
    const sidecar = await sidecarWith({ users: [up.url] });
    const port = Number(new URL(sidecar.address).port);
    const handshake = (host: string, extra = '') =>
      `GET /chat HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
    const unknown = await exchange(port, [handshake('evil')], { waitMs: 15_000 });
    expect([unknown.statuses, unknown.closed]).toEqual([[404], true]);
    const body = await exchange(port, [`${handshake('users', 'Content-Length: 2\r\n')}hi`], {
      waitMs: 15_000,
    });
    expect([body.statuses, body.closed]).toEqual([[501], true]);
    const proto = await exchange(port, [handshake('__proto__')], { waitMs: 15_000 });
    expect(proto.statuses).toEqual([404]);
    expect(up.handshakes).toHaveLength(0);
  });

  it('tunnels end when the sidecar closes', async () => {
    const up = await wsUpstream('a');
    const sidecar = await sidecarWith({ users: [up.url] });
    const ws = await connect(sidecar.address, 'users');
    await roundTrip(ws, 'x');
    const closed = once(ws, 'close');
    await sidecar.close();
    await closed;
  });

  it('a tunnel with no byte either way for tunnelIdleTimeout is closed', async () => {
    const up = await wsUpstream('a');
    const sidecar = await sidecarWith({ users: [up.url] }, { tunnelIdleTimeout: 300 });
    const ws = await connect(sidecar.address, 'users');
    await roundTrip(ws, 'x');
    const upstreamSide = once([...up.sockets][0]!, 'close');
    await Promise.all([once(ws, 'close'), upstreamSide]);
    // Both ends were closed by the sidecar; its own count drops as its side of the socket closes.
    while (sidecar.report().connections.open > 0) await new Promise((r) => setImmediate(r));
  });
});
