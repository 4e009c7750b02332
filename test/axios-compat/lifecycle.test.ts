/**
 * The connections the undici transport opens for a caller's agent (its TLS options need an
 * undici Agent of their own) are the mesh's to release: close() closes them, and an app that
 * makes a new agent per request does not accumulate open pools.
 */
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { MeshClient } from 'mesh-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { makePki, type Pki } from './support/tls.js';

const open = closeAfterEach();
let pki: Pki;

beforeAll(async () => {
  pki = await makePki();
});

/** An HTTPS server that counts the connections it sees close. */
async function tlsServer() {
  const sockets = new Set<Socket>();
  let closed = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = https.createServer(pki.server, (_req, res) => res.end('ok'));
  // Idle connections stay open on both sides unless the client closes them (undici follows the
  // server's Keep-Alive hint, which would otherwise close them after a few seconds).
  server.keepAliveTimeout = 120_000;
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed++;
      for (const w of waiters.filter((w) => closed >= w.n)) w.resolve();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  open.push({
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get open() {
      return sockets.size;
    },
    /** Resolves once `n` connections have closed in all. */
    closedAtLeast: (n: number) =>
      closed >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

describe('undici transport: connections made for callers’ agents', () => {
  it('close() closes them', async () => {
    const server = await tlsServer();
    const mesh = new MeshClient({ discovery: { static: { svc: [server.url] } }, transport: 'undici' });
    const agent = new https.Agent({ ca: pki.server.cert, keepAlive: true });
    const res = await mesh.service('svc').get('/', { httpsAgent: agent });
    expect(res.data).toBe('ok');
    expect(server.open).toBe(1);
    await mesh.close();
    await server.closedAtLeast(1);
    expect(server.open).toBe(0);
    agent.destroy();
  });

  it('stay bounded when every request brings a new agent', async () => {
    const server = await tlsServer();
    const mesh = new MeshClient({ discovery: { static: { svc: [server.url] } }, transport: 'undici' });
    open.push(mesh);
    const agents: https.Agent[] = [];
    for (let i = 0; i < 40; i++) {
      const agent = new https.Agent({ ca: pki.server.cert, keepAlive: true });
      agents.push(agent);
      await mesh.service('svc').get('/', { httpsAgent: agent });
    }
    // At most 32 pools are kept: the 8 least recently used were closed, with their connections.
    await server.closedAtLeast(8);
    expect(server.open).toBeLessThanOrEqual(32);
    for (const agent of agents) agent.destroy();
  });
});
