/**
 * Hostile input over raw sockets: request smuggling shapes, oversize and ambiguous requests,
 * prototype names, CONNECT. For each, what mesh-sidecar answers and exactly what its upstream
 * received (byte for byte: nothing at all where nothing may be forwarded). Where HAProxy is
 * installed, the same bytes go through it too, and the suite prints the side-by-side table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/sidecar/sidecar.js';
import { haproxyInstalled } from '../../testkit/haproxy.js';
import { sidecarFor } from '../support/sidecar.js';
import { CASES } from './cases.js';
import { HostileHAProxy } from './haproxy.js';
import { exchange, RecordingUpstream } from './wire.js';

let users: RecordingUpstream;
let orders: RecordingUpstream;
let sidecar: Sidecar;
let port: number;

beforeAll(async () => {
  [users, orders] = await Promise.all([RecordingUpstream.start(), RecordingUpstream.start()]);
  sidecar = await sidecarFor({
    discovery: { static: { users: [users.url], orders: [orders.url] } },
    timeout: { propagate: false },
  });
  port = Number(new URL(sidecar.address).port);
});

afterAll(async () => {
  await Promise.all([sidecar?.close(), users?.close(), orders?.close()]);
});

/** One row of the side-by-side table. */
interface Row {
  name: string;
  mesh: string;
  meshForwarded: number;
  haproxy?: string;
  haproxyForwarded?: number;
}
const rows: Row[] = [];

describe('mesh-sidecar against hostile bytes', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      users.reset();
      orders.reset();
      const reply = await exchange(port, [c.bytes], { responses: c.statuses.length, waitMs: 5_000 });
      expect(reply.statuses).toEqual(c.statuses);
      expect(users.bytes).toBe(c.upstream(users.port));
      expect(orders.bytes).toBe('');
      rows.push({ name: c.name, mesh: reply.statuses.join(',') || 'closed', meshForwarded: users.requests });
      for (const refused of reply.statuses.filter((s) => s >= 400)) {
        expect(reply.text).toContain(`HTTP/1.1 ${refused} `);
      }
      if (c.statuses.some((s) => s >= 400)) expect(reply.text).toMatch(/x-mesh-error: MESH_[A-Z_]+/);
    });
  }

  it('refused requests are counted by code, never by the name sent', async () => {
    const report = sidecar.report();
    expect(Object.keys(report.services).sort()).toEqual(['users']);
    expect(report.refused.MESH_UNKNOWN_SERVICE).toBeGreaterThanOrEqual(6);
    expect(report.refused.MESH_BAD_REQUEST).toBeGreaterThan(10);
    expect(JSON.stringify(report)).not.toMatch(/constructor|__proto__|evil/);
  });
});

const withHAProxy = haproxyInstalled() || process.env.CI === 'true';
describe.skipIf(!withHAProxy)('the same bytes through HAProxy', () => {
  let haproxy: HostileHAProxy;
  let hUsers: RecordingUpstream;
  let hOrders: RecordingUpstream;
  beforeAll(async () => {
    [hUsers, hOrders] = await Promise.all([RecordingUpstream.start(), RecordingUpstream.start()]);
    haproxy = await HostileHAProxy.start(
      { users: hUsers.url, orders: hOrders.url },
      { httpRequestMs: 10_000, keepAliveMs: 5_000 },
    );
  });
  afterAll(async () => {
    await Promise.all([haproxy?.close(), hUsers?.close(), hOrders?.close()]);
    printTable();
  });

  it('answers each hostile input (recorded for the table)', async () => {
    for (const c of CASES) {
      hUsers.reset();
      hOrders.reset();
      const reply = await exchange(haproxy.port, [c.bytes], { responses: c.statuses.length, waitMs: 3_000 });
      const row = rows.find((r) => r.name === c.name);
      if (row) {
        row.haproxy = reply.statuses.join(',') || 'closed';
        row.haproxyForwarded = hUsers.requests + hOrders.requests;
      }
    }
    // A comparison, not a test of HAProxy; but it must have run: the control GET went through it.
    expect(rows.find((r) => r.name === 'plain GET (control)')?.haproxy).toBe('200');
  });
});

function printTable(): void {
  const lines = [
    '| input | mesh-sidecar | forwarded | HAProxy 2.6 | forwarded |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.mesh} | ${r.meshForwarded} | ${r.haproxy ?? '-'} | ${r.haproxyForwarded ?? '-'} |`,
    ),
  ];
  console.log(
    `\nhostile inputs, side by side (requests the upstream parsed under "forwarded"):\n${lines.join('\n')}\n`,
  );
}
