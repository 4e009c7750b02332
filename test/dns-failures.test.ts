/**
 * DNS discovery when answers go wrong, against a real DNS server (BIND's named): NXDOMAIN blips,
 * empty answers and their grace period, the server killed (refused), frozen (timeouts) and back, a
 * first resolution that fails; then close(), shared watches and option checks. Time is a ManualClock.
 */

import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DnsDiscovery, type DnsOptions } from '../src/discovery/dns/discovery.js';
import { isMeshError, type MeshError } from '../src/errors/mesh-error.js';
import type { DnsRecord } from '../testkit/dns-server.js';
import { A, ObservedClock, USERS, useDnsFixture } from './support/dns-discovery.js';
import { runExitChild } from './support/exit-child.js';

const t = useDnsFixture();

describe('DNS discovery: empty answers, NXDOMAIN and resolver failures', () => {
  it('keeps the last set through an NXDOMAIN blip, reporting it', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2'), A(USERS, '127.0.0.3')]);
    const { rec, sub } = t.watch(t.discovery({ emptyGracePeriod: 3_000 }));
    await sub.ready;
    await t.server.setRecords([]);
    await t.refresh(5_000);
    expect(rec.errors).toHaveLength(1);
    expect(isMeshError(rec.errors[0], 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(rec.errors[0]!.message).toMatch(/does not exist \(NXDOMAIN\); keeping the last 2 endpoint\(s\)/);
    // The name is back before the grace ran out (a suspect is asked again every minRefresh).
    await t.server.setRecords([A(USERS, '127.0.0.2'), A(USERS, '127.0.0.3')]);
    expect(t.stillWaitingAfter(999)).toBe(true);
    await t.refresh(1);
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    await t.refresh(5_000);
    // The set never emptied: the next update is the next real change.
    expect(rec.updates.map((u) => u.length)).toEqual([2, 1]);
    expect(rec.errors).toHaveLength(1);
  });

  it('keeps the old set for 10 s by default before it takes an empty answer', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    const { rec, sub } = t.watch(t.discovery());
    await sub.ready;
    await t.server.setRecords([]);
    await t.refresh(5_000);
    for (let second = 1; second < 10; second++) await t.refresh(1_000);
    expect(rec.updates).toHaveLength(1);
    expect(rec.errors.at(-1)!.message).toContain('for up to 1000 ms more');
    await t.refresh(1_000);
    expect(rec.latest).toEqual([]);
  });

  it('takes an empty answer (NXDOMAIN, or no records) only once emptyGracePeriod has passed', async () => {
    const noAddress: DnsRecord = { name: USERS, type: 'TXT', text: 'no ready pods' };
    for (const emptied of [[], [noAddress]]) {
      t.clock = new ObservedClock();
      await t.server.setRecords([A(USERS, '127.0.0.2')]);
      const d = t.discovery({ emptyGracePeriod: 3_000 });
      const { rec, sub } = t.watch(d);
      await sub.ready;
      await t.server.setRecords(emptied);
      await t.refresh(5_000);
      for (const left of [2_000, 1_000]) {
        await t.refresh(1_000);
        expect(rec.errors.at(-1)!.message).toContain(`for up to ${left} ms more`);
        expect(rec.updates).toHaveLength(1);
      }
      await t.refresh(1_000);
      expect(rec.latest).toEqual([]);
      expect(rec.errors[0]!.message).toMatch(
        emptied.length ? /has no records; keeping/ : /NXDOMAIN\); keeping/,
      );
      await d.close();
    }
  });

  it('rejects ready with MESH_DISCOVERY_UNAVAILABLE on a first NXDOMAIN, then recovers by itself', async () => {
    await t.server.setRecords([]);
    const d = t.discovery();
    const { rec, sub } = t.watch(d);
    const error = (await sub.ready.catch((e: unknown) => e)) as MeshError;
    expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(error.message).toMatch(/users\.default\.svc\.cluster\.local does not exist \(NXDOMAIN\)/);
    // A later subscriber hears the same at once.
    const late = d.subscribe('users', () => {});
    expect(isMeshError(await late.ready.catch((e: unknown) => e), 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    late.close();
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    await t.refresh(1_000);
    expect(rec.urls).toEqual(['http://127.0.0.2:80']);
  });

  it('keeps the last set while the server is down, backs off, and follows the zone once it is back', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2'), A(USERS, '127.0.0.3')]);
    const { rec, sub } = t.watch(t.discovery({ minRefresh: 1_000, maxRefresh: 6_000 }));
    await sub.ready;
    await t.server.kill();
    await t.refresh(5_000);
    // Refused at once on loopback; retried after 1, 2, 4, then 6 s (the cap) and 6 s.
    for (const [attempt, delay] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 6_000],
      [5, 6_000],
    ] as const) {
      expect(rec.errors).toHaveLength(attempt);
      expect(rec.errors.at(-1)!.message).toMatch(new RegExp(`\\(attempt ${attempt}\\): .*ECONNREFUSED`));
      expect(t.stillWaitingAfter(delay - 1)).toBe(true);
      await t.refresh(1);
    }
    expect(rec.updates).toHaveLength(1);
    expect(rec.urls).toEqual(['http://127.0.0.2:80', 'http://127.0.0.3:80']);
    await t.server.restart();
    await t.server.setRecords([A(USERS, '127.0.0.3')]);
    await t.refresh(6_000);
    expect(rec.urls).toEqual(['http://127.0.0.3:80']);
    expect(rec.errors).toHaveLength(6);
  });

  it('treats a server that stops answering (frozen) as a failure: timeouts, the set kept', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    const { rec, sub } = t.watch(t.discovery({ timeout: 150, tries: 1 }));
    await sub.ready;
    await t.server.pause();
    await t.refresh(5_000);
    expect(rec.errors.map((e) => e.message)).toEqual([expect.stringMatching(/ETIMEOUT/)]);
    expect(rec.updates).toHaveLength(1);
    t.server.resume();
    await t.server.setRecords([A(USERS, '127.0.0.4')]);
    // Thawed, named first answers the queries queued while it was stopped: on a loaded machine a
    // retry may still miss the 150 ms timeout, and the next comes after the doubled backoff.
    for (let miss = 0; miss < 5 && rec.urls?.[0] !== 'http://127.0.0.4:80'; miss++) {
      await t.refresh(1_000 * 2 ** miss);
    }
    expect(rec.urls).toEqual(['http://127.0.0.4:80']);
  });

  it('rejects ready with MESH_DISCOVERY_UNAVAILABLE when the first resolution fails', async () => {
    await t.server.kill();
    const { rec, sub } = t.watch(t.discovery());
    const error = (await sub.ready.catch((e: unknown) => e)) as MeshError;
    expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(error.message).toMatch(/resolving users\.default\.svc\.cluster\.local \(A\) .* ECONNREFUSED/);
    expect(rec.errors).toEqual([error]);
  });
});

describe('DNS discovery: lifecycle and options', () => {
  it('close() cancels the query in flight and every timer; nothing is heard afterwards', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    const d = t.discovery({ timeout: 5_000, tries: 10 });
    const first = t.watch(d);
    await first.sub.ready;
    await t.server.pause();
    t.clock.advance(5_000); // the refresh now waits on a frozen server: 10 tries of 5 s
    const pending = t.watch(d, 'other');
    // Were the queries not cancelled, close() would wait out their tries (past the test's timeout).
    await d.close();
    expect(t.clock.pending).toBe(0);
    expect(isMeshError(await pending.sub.ready.catch((e: unknown) => e), 'MESH_CLOSED')).toBe(true);
    expect(first.rec.updates).toHaveLength(1);
    expect(pending.rec.updates).toEqual([]);
    expect([...first.rec.errors, ...pending.rec.errors]).toEqual([]);
    expect(() => d.subscribe('users', () => {})).toThrow(/MESH_CLOSED/);
  });

  it('leaves no handle open: a process that used it and closed it exits on its own', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    // A DNS server that never answers: the child's query to it stays in flight until close().
    const silent = dgram.createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const result = await runExitChild('dns-exit-after-close.ts', [
        t.server.address,
        `127.0.0.1:${silent.address().port}`,
      ]);
      expect(result).toEqual({
        urls: ['http://127.0.0.2:80'],
        outcome: 'MESH_CLOSED',
        resources: [],
      });
    } finally {
      silent.close();
    }
  });

  it('shares one watch between subscribers and stops it when the last one leaves', async () => {
    await t.server.setRecords([A(USERS, '127.0.0.2')]);
    const d = t.discovery();
    const a = t.watch(d);
    const b = t.watch(d);
    await Promise.all([a.sub.ready, b.sub.ready]);
    expect(b.rec.urls).toEqual(['http://127.0.0.2:80']);
    a.sub.close();
    expect(t.clock.pending).toBe(1);
    expect(d.knows('users')).toBe(true);
    b.sub.close();
    expect(t.clock.pending).toBe(0);
    expect(d.knows('users')).toBe(false);
    await d.close();
  });

  it('refuses bad options with MESH_BAD_OPTIONS naming the option', () => {
    const bad: Array<[DnsOptions, RegExp]> = [
      [{ servers: ['dns.example'] }, /dns\.servers\[0\]: "dns\.example": expected an IP address/],
      [{ servers: ['127.0.0.1:70000'] }, /dns\.servers\[0\]: .*port out of range/],
      [{ servers: [] }, /dns\.servers: Too small/],
      [{ name: '{service}.{ns}.svc' }, /dns\.name: unknown placeholder \{ns\}/],
      [{ name: '{service} .svc' }, /dns\.name: label/],
      [{ namespace: 'a.b' }, /dns\.namespace: expected one DNS label/],
      [{ minRefresh: 60_000 }, /dns\.minRefresh: must be at most maxRefresh \(default 30000\)/],
      [{ minRefresh: 5_000, maxRefresh: 1_000 }, /dns\.maxRefresh: must be at least minRefresh \(5000\)/],
      [{ jitter: 2 }, /dns\.jitter: Too big/],
      [{ maxRecords: 0 }, /dns\.maxRecords: Too small/],
      [{ tries: 0 }, /dns\.tries: Too small/],
      [{ timeout: 10_000 }, /dns\.timeout: c-ares waits at most 5000 ms for one try/],
      [{ type: 'MX' as never }, /dns\.type: Invalid option/],
      [{ services: { 'a b': {} } }, /dns\.services\["a b"\]: DNS name "a b\.default.*label/],
      [{ services: { x: { scheme: 'ftp' as never } } }, /dns\.services\.x\.scheme/],
      [{ refresh: 1 } as never, /dns\.refresh: unknown option/],
    ];
    for (const [options, message] of bad) {
      expect(() => new DnsDiscovery(options), JSON.stringify(options)).toThrow(message);
    }
  });

  it('answers a service whose name makes no DNS name with a rejected ready, keeping no watch', async () => {
    const d = t.discovery();
    const sub = d.subscribe('no such/name', () => {});
    const error = (await sub.ready.catch((e: unknown) => e)) as MeshError;
    expect(isMeshError(error, 'MESH_DISCOVERY_UNAVAILABLE')).toBe(true);
    expect(error.message).toMatch(/does not make a DNS name .*map it under dns\.services/);
    expect(d.knows('no such/name')).toBe(false);
    expect(t.clock.pending).toBe(0);
    expect(() => d.target('no such/name')).toThrow(/^MESH_BAD_REQUEST/);
  });
});
