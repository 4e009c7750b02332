/**
 * Mutual TLS between sidecars, on real TLS over loopback: what passes, and what each failure looks
 * like to a caller (wrong CA, expired, another identity, no client certificate, plaintext), with
 * the classification that lets a request refused in the handshake go to another endpoint, and one
 * handshake per connection, not per request.
 */
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { noEvents } from '../src/core/events.js';
import { isMeshError } from '../src/errors/mesh-error.js';
import { MeshTls } from '../src/identity/connect.js';
import { buildMaterial } from '../src/identity/material.js';
import { InlineSource } from '../src/identity/source.js';
import { workloadPatterns } from '../src/identity/spiffe.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { consulId } from '../testkit/pki.js';
import { destination, meshEndpoint, outbound, tlsRequest } from './support/mesh.js';
import { type MeshPki, meshPki, TD, type Workload } from './support/mesh-pki.js';
import { raw } from './support/sidecar.js';

const open = closeAfterEach();
let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

const get = (sidecar: { address: string }, path = '/x', options: Parameters<typeof raw>[2] = {}) =>
  raw(sidecar.address, path, { ...options, headers: { host: 'users', ...options.headers } });

/** The dialing side alone, as `w`. */
function dialer(w: Workload): MeshTls {
  const m = buildMaterial({ cert: w.cert, key: w.key, ca: w.ca });
  if (typeof m === 'string') throw new Error(m);
  const tls = new MeshTls(new InlineSource(m, systemClock, noEvents()), {
    clock: systemClock,
    sessionCacheSize: 100,
    connectTimeout: 5_000,
  });
  open.push(tls);
  return tls;
}

/** One dial to `port` expecting `users`: the refusal, or whether the session was resumed. */
function dial(tls: MeshTls, port: number): Promise<{ error?: Error; resumed?: boolean }> {
  const expectation = { service: 'users', key: 'test', patterns: () => workloadPatterns(TD, 'users') };
  return new Promise((resolve) => {
    tls.connect('127.0.0.1', port, expectation, (error, socket) => {
      if (error) return resolve({ error });
      // The socket is the test's now: a reset after it is done with it is no failure.
      (socket as Socket).on('error', () => undefined);
      const resumed = (socket as TLSSocket).isSessionReused();
      const done = () => {
        (socket as Socket).end();
        resolve({ resumed });
      };
      // TLS 1.3 sends the session ticket after a full handshake: close once it arrived.
      if (resumed) done();
      else (socket as Socket).once('session', done);
    });
  });
}

function causeCode(error: Error | undefined): string | undefined {
  return (error?.cause as NodeJS.ErrnoException | undefined)?.code;
}

/** An HTTPS server presenting `w` that is not a mesh sidecar (an expired or foreign workload). */
async function httpsServer(w: { cert: string; key: string }): Promise<number> {
  const server = https.createServer({ cert: w.cert, key: w.key }, (_req, res) => res.end('reached'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return (server.address() as AddressInfo).port;
}

describe('sidecar to sidecar', () => {
  it('verifies both ways; the app learns the caller from the inbound, never from the caller', async () => {
    const users = await destination(open, pki.users);
    const web = await outbound(open, pki.web, [meshEndpoint(users)]);
    const forged = `URI=${consulId(TD, 'admin')}`;
    const res = await get(web, '/users/1', { headers: { 'x-forwarded-client-cert': forged } });
    expect(res.status, res.body).toBe(200);
    const xfcc = String(users.app.received[0]!.headers['x-forwarded-client-cert']);
    expect(xfcc).toMatch(new RegExp(`^By=${pki.users.id};Hash=[0-9a-f]{64};URI=${pki.web.id}$`));
    expect(xfcc).not.toContain('admin');
    expect(web.report().tls).toMatchObject({ identity: pki.web.id, source: 'inline' });
  });

  it('a plaintext endpoint of the same service is still dialed in plaintext (auto mode)', async () => {
    const plain = await destination(open, undefined);
    const web = await outbound(open, pki.web, [plain.url]);
    expect((await get(web)).status).toBe(200);
    expect(plain.app.received[0]!.headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('the inbound keeps its stats under its service, whatever Host callers send', async () => {
    const users = await destination(open, pki.users);
    for (const host of ['users', '10.0.0.7:15006', 'anything.example', 'constructor']) {
      const res = await tlsRequest(users.port, pki.ca.cert, pki.web, '/x', { host });
      expect('status' in res && res.status).toBe(200);
    }
    expect(users.sidecar.inbound!.stats.services()).toEqual(['users']);
    expect(users.sidecar.report().inbound?.stats).toMatchObject({ requests: 4 });
  });

  it("mode 'on' dials every endpoint with mutual TLS, marked or not", async () => {
    const users = await destination(open, pki.users);
    const web = await outbound(open, pki.web, [users.url], { mtls: { mode: 'on' } });
    expect((await get(web)).status).toBe(200);
    expect(users.app.received[0]!.headers['x-forwarded-client-cert']).toContain(pki.web.id);
  });
});

describe('what each refusal looks like', () => {
  it('an endpoint of another CA: 502 MESH_PEER_UNTRUSTED, the request never sent', async () => {
    const forged = await destination(open, pki.forgedUsers);
    const web = await outbound(open, pki.web, [meshEndpoint(forged)], { retry: false });
    const res = await get(web);
    expect(res.status).toBe(502);
    expect(res.headers['x-mesh-error']).toBe('MESH_PEER_UNTRUSTED');
    expect(forged.app.count).toBe(0);
    const refused = await dial(dialer(pki.web), forged.port);
    expect(isMeshError(refused.error, 'MESH_PEER_UNTRUSTED')).toBe(true);
    // The inbound sends its CA with its leaf: OpenSSL reports the foreign root in the chain.
    expect(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']).toContain(
      causeCode(refused.error),
    );
  });

  it('a refused endpoint is skipped, even for a POST, since nothing was sent to it', async () => {
    const forged = await destination(open, pki.forgedUsers);
    const users = await destination(open, pki.users);
    const web = await outbound(open, pki.web, [meshEndpoint(forged), meshEndpoint(users)], {
      loadBalancer: 'round-robin',
      circuitBreaker: false,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await get(web, '/orders', { method: 'POST', body: 'x' })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(users.app.count).toBe(6);
    expect(forged.app.count).toBe(0);
    expect(web.report().tls?.handshakes.refused).toBeGreaterThan(0);
  });

  it('an expired server certificate: MESH_PEER_UNTRUSTED (CERT_HAS_EXPIRED)', async () => {
    const expired = await pki.issue(consulId(TD, 'users'), { from: -7_200_000, to: -3_600_000 });
    const port = await httpsServer(expired);
    const refused = await dial(dialer(pki.web), port);
    expect(isMeshError(refused.error, 'MESH_PEER_UNTRUSTED')).toBe(true);
    expect(causeCode(refused.error)).toBe('CERT_HAS_EXPIRED');
    const web = await outbound(open, pki.web, [meshEndpoint({ url: `http://127.0.0.1:${port}` })], {
      retry: false,
    });
    expect((await get(web)).headers['x-mesh-error']).toBe('MESH_PEER_UNTRUSTED');
  });

  it('another identity than the service may have: 502 MESH_PEER_IDENTITY, unless the policy expects it', async () => {
    const billing = await destination(open, pki.billing);
    const web = await outbound(open, pki.web, [meshEndpoint(billing)], { retry: false });
    const res = await get(web);
    expect(res.status).toBe(502);
    expect(res.headers['x-mesh-error']).toBe('MESH_PEER_IDENTITY');
    expect(billing.app.count).toBe(0);
    const refused = await dial(dialer(pki.web), billing.port);
    expect(refused.error?.message).toBe(
      `MESH_PEER_IDENTITY: an endpoint of "users" presented the identity ${pki.billing.id}; expected ` +
        `spiffe://${TD}/ns/*/dc/*/svc/users or spiffe://${TD}/ns/*/sa/users`,
    );
    const expecting = await outbound(open, pki.web, [meshEndpoint(billing)], {
      services: { users: { mtls: { identity: `spiffe://${TD}/ns/default/sa/billing` } } },
    });
    expect((await get(expecting)).status).toBe(200);
  });

  it('an expired client certificate is refused by the inbound in the handshake', async () => {
    const users = await destination(open, pki.users);
    const outcome = await tlsRequest(users.port, pki.ca.cert, pki.expiredWeb);
    expect('error' in outcome && outcome.error.code).toMatch(/CERTIFICATE_EXPIRED|ECONNRESET/);
    expect(users.app.count).toBe(0);
    // The handshake failure is counted (its code is the one OpenSSL reports, or the reset when the client left first).
    expect(Object.keys(users.sidecar.report().inbound?.refused ?? {})).toHaveLength(1);
  });

  it('a client certificate of another CA is refused by the inbound in the handshake', async () => {
    const users = await destination(open, pki.users);
    const outcome = await tlsRequest(users.port, pki.ca.cert, pki.forgedUsers);
    expect('error' in outcome).toBe(true);
    expect(users.app.count).toBe(0);
  });

  it('no client certificate: strict refuses it in the handshake, permissive serves it without identity', async () => {
    const strict = await destination(open, pki.users);
    const refused = await tlsRequest(strict.port, pki.ca.cert, undefined);
    expect('error' in refused && refused.error.code).toMatch(/CERTIFICATE_REQUIRED|ECONNRESET/);
    expect(strict.app.count).toBe(0);
    const permissive = await destination(open, pki.users, { mtls: 'permissive' });
    const served = await tlsRequest(permissive.port, pki.ca.cert, undefined);
    expect('status' in served && served.status).toBe(200);
    expect(permissive.app.received[0]!.headers['x-forwarded-client-cert']).toBeUndefined();
    const withCert = await tlsRequest(permissive.port, pki.ca.cert, pki.web);
    expect('status' in withCert && withCert.status).toBe(200);
    expect(permissive.app.received[1]!.headers['x-forwarded-client-cert']).toContain(pki.web.id);
  });

  it('a client certificate without a SPIFFE ID: 403 MESH_FORBIDDEN in strict mode', async () => {
    const users = await destination(open, pki.users);
    const outcome = await tlsRequest(users.port, pki.ca.cert, pki.anonymous);
    expect('status' in outcome && outcome.status).toBe(403);
    expect('status' in outcome && outcome.headers['x-mesh-error']).toBe('MESH_FORBIDDEN');
    expect(users.app.count).toBe(0);
  });

  it('plaintext to a strict inbound: 426 MESH_TLS_REQUIRED; to a permissive one: served', async () => {
    const strict = await destination(open, pki.users);
    const res = await raw(strict.url, '/x', {
      method: 'POST',
      headers: { host: 'users' },
      body: 'x'.repeat(50_000),
    });
    expect(res.status).toBe(426);
    expect(res.headers['x-mesh-error']).toBe('MESH_TLS_REQUIRED');
    expect(res.headers.upgrade).toBe('TLS/1.3, TLS/1.2');
    expect(JSON.parse(res.body).message).toContain('mutual TLS only');
    expect(strict.app.count).toBe(0);
    expect(strict.sidecar.report().inbound?.refused).toMatchObject({ MESH_TLS_REQUIRED: 1 });
    const permissive = await destination(open, pki.users, { mtls: 'permissive' });
    const plain = await raw(permissive.url, '/x', {
      method: 'POST',
      headers: { host: 'users' },
      body: 'y'.repeat(50_000),
    });
    expect(plain.status).toBe(200);
    expect(permissive.app.received[0]!.body).toHaveLength(50_000);
  });

  it('a plaintext outbound to a strict inbound reads the refusal, and the request never reached the app', async () => {
    const users = await destination(open, pki.users);
    const web = await outbound(open, undefined, [meshEndpoint(users)], { retry: false });
    const res = await get(web);
    expect(res.status).toBe(426);
    expect(res.headers['x-mesh-error']).toBe('MESH_TLS_REQUIRED');
    expect(users.app.count).toBe(0);
  });
});

describe('cost: a handshake per connection, not per request', () => {
  it('requests on a kept-alive connection make no new handshake', async () => {
    const users = await destination(open, pki.users);
    const web = await outbound(open, pki.web, [meshEndpoint(users)]);
    for (let i = 0; i < 50; i++) expect((await get(web)).status).toBe(200);
    const { full, resumed } = web.report().tls!.handshakes;
    expect(full).toBeGreaterThanOrEqual(1);
    // undici may open a second connection while the first is being returned to its pool.
    expect(full + resumed).toBeLessThanOrEqual(3);
  });

  it('a new connection to a peer seen before resumes its TLS session', async () => {
    const users = await destination(open, pki.users);
    const tls = dialer(pki.web);
    expect(await dial(tls, users.port)).toEqual({ resumed: false });
    expect(await dial(tls, users.port)).toEqual({ resumed: true });
    expect(tls.handshakes).toEqual({ full: 1, resumed: 1, refused: 0 });
  });

  it('a session is not reused for a service expecting another identity (the check is not skipped)', async () => {
    const billing = await destination(open, pki.billing);
    const tls = dialer(pki.web);
    const asBilling = { service: 'billing', key: 'billing', patterns: () => workloadPatterns(TD, 'billing') };
    await new Promise<void>((resolve, reject) =>
      tls.connect('127.0.0.1', billing.port, asBilling, (error, socket) => {
        if (error) return reject(error);
        socket!.on('error', () => undefined);
        socket!.once('session', () => {
          socket!.end();
          resolve();
        });
      }),
    );
    const asUsers = await dial(tls, billing.port);
    expect(isMeshError(asUsers.error, 'MESH_PEER_IDENTITY')).toBe(true);
  });
});
