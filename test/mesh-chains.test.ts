/**
 * The three-hop chains of the mesh, on real mutual TLS with authorization:
 *
 * - fat client -> inbound sidecar -> app: `new MeshClient({ tls })` joins the mesh directly, on
 *   both transports, with the same verification as a sidecar;
 * - app -> outbound sidecar -> inbound sidecar -> app: the app hands its request to its sidecar
 *   (a `MeshClient` in `mode: 'sidecar'`), which dials the destination's inbound.
 *
 * And the lifecycle: closing everything leaves no handle (the process exits by itself).
 */

import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAxiosError } from 'axios';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { MeshClient } from '../src/client/client.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { runExitChild } from './support/exit-child.js';
import { destination, meshEndpoint, outbound } from './support/mesh.js';
import { type MeshPki, meshPki, tlsOf } from './support/mesh-pki.js';
import { sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();
let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

function client(options: ConstructorParameters<typeof MeshClient>[0]): MeshClient {
  const mesh = new MeshClient(options);
  open.push(mesh);
  return mesh;
}

describe.each(['axios', 'undici'] as const)(
  'fat client -> inbound sidecar -> app (%s transport)',
  (transport) => {
    it('mutual TLS both ways, the caller authorized by its identity', async () => {
      const users = await destination(open, pki.users, {
        authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
      });
      const web = client({
        transport,
        tls: tlsOf(pki.web),
        discovery: { static: { users: [meshEndpoint(users)] } },
      });
      const res = await web.service('users').get('/users/1');
      expect(res.status).toBe(200);
      expect(res.data).toMatchObject({ url: '/users/1' });
      expect(users.app.received[0]!.headers['x-forwarded-client-cert']).toContain(`URI=${pki.web.id}`);

      const billing = client({
        transport,
        tls: tlsOf(pki.billing),
        discovery: { static: { users: [meshEndpoint(users)] } },
      });
      const denied = await billing
        .service('users')
        .get('/users/1')
        .catch((e: unknown) => e);
      expect(isAxiosError(denied) && denied.response?.status).toBe(403);
      expect(isAxiosError(denied) && denied.response?.headers['x-mesh-error']).toBe('MESH_FORBIDDEN');
      expect(users.app.count).toBe(1);
    });

    it('an endpoint with another identity is refused with MESH_PEER_IDENTITY; another CA with MESH_PEER_UNTRUSTED', async () => {
      const billing = await destination(open, pki.billing);
      const forged = await destination(open, pki.forgedUsers);
      for (const [dest, code] of [
        [billing, 'MESH_PEER_IDENTITY'],
        [forged, 'MESH_PEER_UNTRUSTED'],
      ] as const) {
        const web = client({
          transport,
          tls: tlsOf(pki.web),
          retry: false,
          discovery: { static: { users: [meshEndpoint(dest)] } },
        });
        const error = await web
          .service('users')
          .get('/x')
          .catch((e: unknown) => e);
        expect(isMeshError(error, code), String(error)).toBe(true);
        expect((error as Error).message).toContain('"users"');
        expect(dest.app.count).toBe(0);
      }
    });

    it('a POST refused in the handshake goes to another endpoint: nothing was sent', async () => {
      const billing = await destination(open, pki.billing);
      const users = await destination(open, pki.users);
      const web = client({
        transport,
        tls: tlsOf(pki.web),
        loadBalancer: 'round-robin',
        circuitBreaker: false,
        discovery: { static: { users: [meshEndpoint(billing), meshEndpoint(users)] } },
      });
      for (let i = 0; i < 4; i++)
        expect((await web.service('users').post('/orders', { n: i })).status).toBe(200);
      expect(users.app.count).toBe(4);
      expect(billing.app.count).toBe(0);
    });

    it('Consul Connect-shaped and Istio-shaped identities alike: the expected one is configurable', async () => {
      const billing = await destination(open, pki.billing);
      const web = client({
        transport,
        tls: tlsOf(pki.web),
        discovery: { static: { billing: [meshEndpoint(billing)] } },
      });
      // The default expectation of `billing` covers Istio's shape (its service account).
      expect((await web.service('billing').get('/x')).status).toBe(200);
    });
  },
);

describe('app -> outbound sidecar -> inbound sidecar -> app', () => {
  it('the app hands its request to its sidecar; mutual TLS and authorization between the sidecars', async () => {
    const users = await destination(open, pki.users, {
      authorization: {
        rules: [
          { action: 'allow', from: [pki.web.id], methods: ['GET'] },
          { action: 'deny', paths: ['/internal'] },
        ],
      },
    });
    const sidecar = await outbound(open, pki.web, [meshEndpoint(users)]);
    const app = client({ mode: 'sidecar', sidecar: { url: sidecar.address, fallback: 'none' } });
    const res = await app.service('users').get('/users/7');
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ url: '/users/7' });
    const headers = users.app.received[0]!.headers;
    expect(headers['x-forwarded-client-cert']).toContain(`URI=${pki.web.id}`);
    expect(String(headers.via)).toContain('mesh-sidecar');
    for (const [method, path] of [
      ['POST', '/users'],
      ['GET', '/internal/x'],
    ] as const) {
      const denied = await app
        .service('users')
        .request({ method, url: path })
        .catch((e: unknown) => e);
      expect(isAxiosError(denied) && denied.response?.status, `${method} ${path}`).toBe(403);
    }
    expect(users.app.count).toBe(1);
  });
});

describe('an upgrade through the mesh', () => {
  it('a WebSocket: app -> outbound -> mTLS -> inbound -> app, the caller authorized by its identity', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const seen: http.IncomingHttpHeaders[] = [];
    wss.on('connection', (ws, req) => {
      seen.push(req.headers);
      ws.on('message', (data: RawData) => ws.send(`echo:${data.toString()}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    open.push({
      close: async () => {
        for (const ws of wss.clients) ws.terminate();
        await new Promise((r) => wss.close(r));
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    });
    const app = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const inbound = await sidecarFor({
      tls: tlsOf(pki.users),
      inbound: {
        listen: '127.0.0.1:0',
        app,
        authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
      },
    });
    open.push(inbound);
    const port = new URL(inbound.inboundAddress!).port;
    const endpoints = [meshEndpoint({ url: `http://127.0.0.1:${port}` })];
    const connect = async (w: typeof pki.web) => {
      const sidecar = await outbound(open, w, endpoints);
      const ws = new WebSocket(`${sidecar.address.replace('http', 'ws')}/chat`, {
        headers: { host: 'users' },
      });
      open.push({
        close: async () => {
          if (ws.readyState === WebSocket.CLOSED) return;
          if (ws.readyState !== WebSocket.OPEN) {
            // A handshake answered with a refusal is still "connecting": ending it is an error event.
            ws.on('error', () => undefined);
            ws.terminate();
            return;
          }
          ws.terminate();
          await once(ws, 'close');
        },
      });
      return ws;
    };
    const ws = await connect(pki.web);
    await once(ws, 'open');
    ws.send('hi');
    const [reply] = (await once(ws, 'message')) as [RawData];
    expect(reply.toString()).toBe('echo:hi');
    expect(seen[0]!['x-forwarded-client-cert']).toContain(`URI=${pki.web.id}`);

    const denied = await connect(pki.billing);
    const [, response] = (await once(denied, 'unexpected-response')) as [unknown, http.IncomingMessage];
    expect(response.statusCode).toBe(403);
    expect(response.headers['x-mesh-error']).toBe('MESH_FORBIDDEN');
    response.resume();
    expect(seen).toHaveLength(1);
  });
});

describe('lifecycle', () => {
  it('closing both sidecars (files, Consul CA, intentions) leaves no handle: the process exits on its own', async () => {
    expect(await runExitChild('mesh-exit-after-close.ts', [], { timeout: 30_000 })).toEqual({
      ok: 20,
      resources: [],
    });
  });
});
