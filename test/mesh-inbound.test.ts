/**
 * The mesh with real TLS on loopback: an outbound sidecar dials the destination's inbound sidecar
 * with mutual TLS, the inbound verifies the caller and forwards to the app.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { type MeshPki, meshPki, tlsOf } from './support/mesh-pki.js';
import { raw, sidecarFor } from './support/sidecar.js';

const open = closeAfterEach();
let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

describe('app -> outbound sidecar -> mTLS -> inbound sidecar -> app', () => {
  it('delivers, and the app learns who called', async () => {
    const app = await Upstream.start('users-app');
    open.push(app);
    const inbound = await sidecarFor({
      tls: tlsOf(pki.users),
      inbound: { listen: '127.0.0.1:0', app: app.url },
    });
    open.push(inbound);
    const port = new URL(inbound.inboundAddress!).port;
    const outbound = await sidecarFor({
      tls: tlsOf(pki.web),
      discovery: { static: { users: [{ url: `http://127.0.0.1:${port}`, meta: { 'tls-mode': 'mtls' } }] } },
    });
    open.push(outbound);
    const res = await raw(outbound.address, '/users/1', { headers: { host: 'users' } });
    expect(res.status, res.body).toBe(200);
    expect(app.received[0]!.headers['x-forwarded-client-cert']).toContain(`URI=${pki.web.id}`);
  });
});

describe('draining', () => {
  it('lets a request in flight through the inbound finish, refuses new connections, then closes', async () => {
    const app = await Upstream.start('users-app', { kind: 'held' });
    open.push(app);
    const sidecar = await sidecarFor({
      inbound: { listen: '127.0.0.1:0', app: app.url, mtls: 'off' },
      drainTimeout: 10_000,
    });
    open.push(sidecar);
    const inbound = sidecar.inboundAddress!;
    const inFlight = raw(inbound, '/users/1', { headers: { host: 'users' } });
    await app.receivedAtLeast(1);
    let drained = false;
    const draining = sidecar.drain().then(() => {
      drained = true;
    });
    // New connections are refused at once; the request in flight is still held by the app.
    const refused = await raw(inbound, '/users/2').catch((e: NodeJS.ErrnoException) => e.code);
    expect(refused).toBe('ECONNREFUSED');
    expect(drained).toBe(false);
    app.release();
    expect((await inFlight).status).toBe(200);
    await draining;
    expect(sidecar.report().inbound?.inFlight).toBe(0);
  });
});
