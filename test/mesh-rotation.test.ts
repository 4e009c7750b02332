/**
 * Certificates that rotate, on real mutual TLS: files re-read when they change (written one after
 * another as SPIRE's helper does, or swapped as a Kubernetes secret volume does), with a poll on
 * the mesh's clock when the file system says nothing; Consul Connect's CA rotating its root and
 * renewing leaves. Under load, no request fails; requests in flight across a rotation finish; new
 * connections present the new certificate.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import type { EventSink } from '../src/core/events.js';
import { colonHex } from '../src/identity/certificate.js';
import { FileSource } from '../src/identity/files.js';
import type { IdentityEvents, TlsErrorEvent, TlsRotatedEvent } from '../src/identity/source.js';
import type { Sidecar } from '../src/sidecar/sidecar.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { consulId } from '../testkit/pki.js';
import { destination, meshEndpoint, outbound, tlsRequest } from './support/mesh.js';
import { type MeshPki, meshPki, type Workload } from './support/mesh-pki.js';
import { raw } from './support/sidecar.js';

const open = closeAfterEach();
let pki: MeshPki;
const dirs: string[] = [];
beforeAll(async () => {
  pki = await meshPki();
});
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-rotation-'));
  dirs.push(dir);
  return dir;
}

/** Write a file the way a careful writer does: a temporary file renamed over the old one. */
function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A workload's files, as SPIRE's helper leaves them: one directory, three files. */
function files(dir: string, w: Workload): { cert: string; key: string; ca: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
  writeAtomic(paths.ca, w.ca);
  writeAtomic(paths.key, w.key);
  writeAtomic(paths.cert, w.cert);
  return paths;
}

/** Replace the certificate, then the key: in between, the pair does not match. */
function rotateFiles(paths: { cert: string; key: string }, w: Workload): void {
  writeAtomic(paths.cert, w.cert);
  writeAtomic(paths.key, w.key);
}

/** Counts a sidecar's TLS events and waits for the next ones. */
function tlsEvents(sidecar: Sidecar) {
  const rotated: TlsRotatedEvent[] = [];
  const errors: TlsErrorEvent[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  sidecar.mesh.events.on('tls-rotated', (e) => {
    rotated.push(e);
    wake();
  });
  sidecar.mesh.events.on('tls-error', (e) => {
    errors.push(e);
    wake();
  });
  return {
    rotated,
    errors,
    async until(condition: () => boolean) {
      while (!condition()) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

/** Requests through `sidecar` from `workers` loops until stopped; counts successes and failures. */
function load(sidecar: Sidecar, workers = 4) {
  let running = true;
  const result = { ok: 0, failed: [] as string[] };
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const res = await raw(sidecar.address, '/x', { headers: { host: 'users' } });
        if (res.status === 200) result.ok++;
        else result.failed.push(`${res.status} ${res.headers['x-mesh-error'] ?? ''}`);
      } catch (error) {
        result.failed.push((error as Error).message);
      }
    }
  });
  return {
    result,
    /** Resolves once `n` more requests succeeded. */
    async more(n: number) {
      const target = result.ok + n;
      while (result.ok < target && result.failed.length === 0) await new Promise((r) => setImmediate(r));
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

/** The serial of a workload's certificate, as the sidecar reports it. */
const serialOf = (w: Workload) => colonHex(new X509Certificate(w.cert).serialNumber);
const inForce = (s: Sidecar) => s.report().tls?.serial;

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

describe('files', () => {
  it('rotation under load on both sides: no failed request, in-flight ones finish, new connections use the new certificates', async () => {
    const root = tempDir();
    const usersFiles = files(join(root, 'users'), pki.users);
    const webFiles = files(join(root, 'web'), pki.web);
    const users = await destination(open, { ...pki.users, ...usersFiles });
    const web = await outbound(open, { ...pki.web, ...webFiles }, [meshEndpoint(users)]);
    const usersEvents = tlsEvents(users.sidecar);
    const webEvents = tlsEvents(web);

    const traffic = load(web);
    let usersLeaf = pki.users;
    let webLeaf = pki.web;
    for (let round = 1; round <= 3; round++) {
      await traffic.more(30);
      usersLeaf = await pki.issue(pki.users.id);
      webLeaf = await pki.issue(pki.web.id);
      rotateFiles(usersFiles, usersLeaf);
      rotateFiles(webFiles, webLeaf);
      await usersEvents.until(() => inForce(users.sidecar) === serialOf(usersLeaf));
      await webEvents.until(() => inForce(web) === serialOf(webLeaf));
    }
    await traffic.more(30);
    const result = await traffic.stop();
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThanOrEqual(120);
    expect(usersEvents.rotated.length).toBeGreaterThanOrEqual(3);
    expect(webEvents.rotated.length).toBeGreaterThanOrEqual(3);

    // Requests in flight while the certificates change finish on the connections they started on.
    users.app.behaviour = { kind: 'held' };
    const before = users.app.count;
    const held = Array.from({ length: 8 }, () => raw(web.address, '/held', { headers: { host: 'users' } }));
    await users.app.receivedAtLeast(before + 8);
    const lastUsers = await pki.issue(pki.users.id);
    const lastWeb = await pki.issue(pki.web.id);
    rotateFiles(usersFiles, lastUsers);
    rotateFiles(webFiles, lastWeb);
    await usersEvents.until(() => inForce(users.sidecar) === serialOf(lastUsers));
    await webEvents.until(() => inForce(web) === serialOf(lastWeb));
    users.app.release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual(Array(8).fill(200));
    users.app.behaviour = { kind: 'ok' };

    // Eight requests at once needed connections the pool did not have: those were made with the
    // certificate of the last round (the pool's older connections kept the certificate they were made with).
    const hashes = new Set(
      users.app.received
        .slice(before)
        .map((r) => /Hash=([0-9a-f]+)/.exec(String(r.headers['x-forwarded-client-cert']))?.[1]),
    );
    expect(hashes.has(fingerprint(webLeaf.cert))).toBe(true);
    // A new connection to the inbound meets the inbound's newest certificate.
    const fresh = await tlsRequest(users.port, pki.ca.cert, lastWeb);
    expect('status' in fresh && fresh.status).toBe(200);
    expect(users.app.received.at(-1)!.headers['x-forwarded-client-cert']).toContain(
      `Hash=${fingerprint(lastWeb.cert)}`,
    );
  });

  it('a half-written rotation is refused until it is whole; the last good material stays', async () => {
    const root = tempDir();
    const paths = files(root, pki.users);
    const users = await destination(open, { ...pki.users, ...paths });
    const events = tlsEvents(users.sidecar);
    const next = await pki.issue(pki.users.id);
    writeAtomic(paths.cert, next.cert);
    await events.until(() => events.errors.length > 0);
    expect(events.errors[0]!.error.message).toBe('key: it does not match the certificate');
    expect(inForce(users.sidecar)).toBe(serialOf(pki.users));
    const still = await tlsRequest(users.port, pki.ca.cert, pki.web);
    expect('status' in still && still.status).toBe(200);
    writeAtomic(paths.key, next.key);
    await events.until(() => inForce(users.sidecar) === serialOf(next));
    expect(events.rotated.at(-1)).toMatchObject({ source: 'files', identity: pki.users.id, trustAnchors: 1 });
  });

  it('a Kubernetes secret volume: the ..data symlink swapped at once', async () => {
    const root = tempDir();
    const write = (version: string, w: Workload) => {
      const dir = join(root, version);
      mkdirSync(dir);
      writeFileSync(join(dir, 'tls.crt'), w.cert);
      writeFileSync(join(dir, 'tls.key'), w.key);
      writeFileSync(join(dir, 'ca.crt'), w.ca);
    };
    write('..v1', pki.users);
    symlinkSync('..v1', join(root, '..data'));
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', name), join(root, name));
    const users = await destination(open, {
      ...pki.users,
      cert: join(root, 'tls.crt'),
      key: join(root, 'tls.key'),
      ca: join(root, 'ca.crt'),
    });
    const events = tlsEvents(users.sidecar);
    const next = await pki.issue(pki.users.id);
    write('..v2', next);
    symlinkSync('..v2', join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    await events.until(() => inForce(users.sidecar) === serialOf(next));
    expect(events.errors).toEqual([]);
  });

  it('the poll on the clock notices a change the file system did not report, and close() leaves no timer', async () => {
    const root = tempDir();
    const dir = join(root, 'certs');
    const paths = files(dir, pki.users);
    const clock = new ManualClock();
    const rotated: TlsRotatedEvent[] = [];
    const sink: EventSink<IdentityEvents> = {
      wants: () => true,
      emit: (event, payload) => {
        if (event === 'tls-rotated') rotated.push(payload as TlsRotatedEvent);
      },
    };
    const source = new FileSource(
      { cert: { path: paths.cert }, key: { path: paths.key }, ca: { path: paths.ca } },
      { clock, events: sink, pollInterval: 10_000, expected: undefined },
    );
    try {
      expect(rotated).toHaveLength(1);
      // The watched directory itself is replaced: its watch ends, and says nothing of what follows.
      rmSync(dir, { recursive: true });
      const next = await pki.issue(pki.users.id);
      files(dir, next);
      const changed = () => source.current()!.facts.serial === serialOf(next);
      while (!changed()) {
        clock.advance(10_000);
        await source.reload();
      }
      expect(rotated.length).toBeGreaterThanOrEqual(2);
    } finally {
      await source.close();
    }
    expect(clock.pending).toBe(0);
  });
});

describe('Consul Connect CA', () => {
  const emulators: ConsulEmulator[] = [];
  afterEach(async () => {
    await Promise.all(emulators.splice(0).map((e) => e.close()));
  });

  it('discovery of a Connect-native service, certificates from the CA, a root rotation and renewals under load', async () => {
    const consul = await ConsulEmulator.start();
    emulators.push(consul);
    const agent = {
      host: '127.0.0.1',
      port: consul.port,
      wait: 5_000,
      minWakeupInterval: 10,
      backoffBase: 20,
      backoffMax: 100,
    };
    const users = await destination(open, undefined, {}, { tls: { consul: { service: 'users', ...agent } } });
    await fetch(`http://${consul.address}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Name: 'users',
        ID: 'users-1',
        Address: '127.0.0.1',
        Port: users.port,
        Connect: { Native: true },
        Check: { TTL: '60s', Status: 'passing' },
      }),
    });
    const web = await outbound(open, undefined, [], {
      discovery: {
        consul: {
          host: '127.0.0.1',
          port: consul.port,
          wait: 5_000,
          minWakeupInterval: 10,
          services: ['users'],
        },
      },
      tls: { consul: { service: 'web', ...agent } },
    });
    const usersEvents = tlsEvents(users.sidecar);
    const webEvents = tlsEvents(web);
    const first = await raw(web.address, '/x', { headers: { host: 'users' } });
    expect(first.status, first.body).toBe(200);
    expect(users.app.received[0]!.headers['x-forwarded-client-cert']).toContain(
      `URI=${consulId(consul.connect.trustDomain, 'web')}`,
    );

    const traffic = load(web);
    await traffic.more(30);
    const was = { web: inForce(web), users: inForce(users.sidecar) };
    await consul.connect.rotate();
    // Each side presents a leaf of the new root, which carries the new root cross-signed by the old.
    await usersEvents.until(
      () => inForce(users.sidecar) !== was.users && usersEvents.rotated.at(-1)!.trustAnchors === 2,
    );
    await webEvents.until(() => inForce(web) !== was.web && webEvents.rotated.at(-1)!.trustAnchors === 2);
    await traffic.more(30);
    consul.connect.retire();
    await usersEvents.until(() => usersEvents.rotated.at(-1)!.trustAnchors === 1);
    await webEvents.until(() => webEvents.rotated.at(-1)!.trustAnchors === 1);
    await traffic.more(30);
    const renewed = { web: inForce(web), users: inForce(users.sidecar) };
    await consul.connect.renew('web');
    await consul.connect.renew('users');
    await webEvents.until(() => inForce(web) !== renewed.web);
    await usersEvents.until(() => inForce(users.sidecar) !== renewed.users);
    await traffic.more(30);
    const result = await traffic.stop();
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThanOrEqual(120);
    const last = await raw(web.address, '/x', { headers: { host: 'users' } });
    expect(last.status).toBe(200);
  });
});
