/**
 * Property-based fuzzing of the sidecar's ingress (fast-check) over raw sockets: requests built
 * from HTTP's grammar with hostile pieces (smuggling headers, prototype names, absolute-form
 * targets naming a trap address, CR/LF and NUL in values), some then mutated byte by byte
 * (flips, insertions, cuts). For every input:
 *
 * - the sidecar answers or closes the connection within a bound (a cut request is half-closed
 *   by the client after a short wait, so it cannot park on the header timeout);
 * - it forwards only to the services it routes to: a trap server whose address the inputs name
 *   never gets a connection, and every request the `users` upstream receives was addressed to
 *   `users`;
 * - it stays up: a control request after each input is answered 200.
 *
 * Runs: `FUZZ_RUNS` (default 60 here; `npm run fuzz` runs many more).
 */
import { once } from 'node:events';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/sidecar/sidecar.js';
import { Upstream } from '../../testkit/upstream.js';
import { exchange } from '../hostile/wire.js';
import { sidecarFor } from '../support/sidecar.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

let users: Upstream;
let sidecar: Sidecar;
let port: number;
let trap: net.Server;
let trapPort: number;
let trapped = 0;

beforeAll(async () => {
  users = await Upstream.start('users');
  trap = net.createServer((s) => {
    trapped++;
    s.destroy();
  });
  trap.listen(0, '127.0.0.1');
  await once(trap, 'listening');
  trapPort = (trap.address() as net.AddressInfo).port;
  sidecar = await sidecarFor({
    discovery: { static: { users: [users.url] } },
    headersTimeout: 2_000,
    timeout: { total: 2_000, perTry: 1_000 },
  });
  port = Number(new URL(sidecar.address).port);
});

afterAll(async () => {
  await Promise.all([sidecar?.close(), users?.close(), new Promise((r) => trap?.close(r))]);
});

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const nasty = fc.constantFrom('\r\n', '\n', '\r', '\0', ' ', '\t', ':', ',', '\x7f', '\xff');
const fieldValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.tuple(fc.string({ maxLength: 8 }), nasty, fc.string({ maxLength: 8 })).map((p) => p.join('')),
);

const hostValue = () =>
  fc.constantFrom(
    'users',
    'USERS',
    'users:80',
    'orders',
    '__proto__',
    'constructor',
    'toString',
    `127.0.0.1:${trapPort}`,
    'localhost',
    '[::1]',
    '',
    'users, orders',
    'users@evil',
  );

const target = () =>
  fc.oneof(
    fc.constantFrom('/', '/a?b=c', '*', '//x', '/%00', '/../../etc/passwd'),
    fc.constantFrom(
      'http://users/x',
      `http://127.0.0.1:${trapPort}/`,
      'http://__proto__/',
      'http://constructor/x',
      'HTTP://users/x',
      'http:users/x',
      'https://users/',
      `http://u:p@127.0.0.1:${trapPort}/`,
      `users:${trapPort}`,
    ),
    fc.string({ maxLength: 16 }),
  );

const header = () =>
  fc.oneof(
    fc.tuple(fc.constant('Host'), hostValue()),
    fc.tuple(
      fc.constantFrom('Content-Length', 'content-length', 'Content-Length '),
      fc.constantFrom('0', '5', '-1', '1e3', '99999999999999999999', ' 5', '5, 5'),
    ),
    fc.tuple(
      fc.constantFrom('Transfer-Encoding', 'transfer-encoding'),
      fc.constantFrom('chunked', 'gzip, chunked', 'xchunked', 'chunked, identity', ' chunked', 'identity'),
    ),
    fc.tuple(
      fc.constantFrom('Connection', 'Upgrade', 'Expect', 'X-Mesh-Deadline-Ms', 'Idempotency-Key'),
      fieldValue,
    ),
    fc.tuple(fc.constantFrom('Connection'), fc.constantFrom('upgrade', 'close', 'keep-alive, x-a', 'host')),
    fc.tuple(token, fieldValue),
  );

const request = () =>
  fc
    .record({
      method: fc.oneof(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PATCH'),
        token,
      ),
      target: target(),
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 '),
      headers: fc.array(header(), { maxLength: 8 }),
      body: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.constant('5\r\nhello\r\n0\r\n\r\n')),
      eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
    })
    .map(({ method, target, version, headers, body, eol }) =>
      Buffer.from(
        `${method} ${target} ${version}${eol}${headers.map(([n, v]) => `${n}: ${v}${eol}`).join('')}${eol}${body}`,
        'latin1',
      ),
    );

/** Byte-level mutations: flip, insert, cut. */
const mutated = () =>
  fc
    .tuple(
      request(),
      fc.array(
        fc.tuple(fc.constantFrom('flip', 'insert', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([bytes, edits]) => {
      let b = bytes;
      for (const [kind, at, byte] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (kind === 'flip') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i + 1)]);
        else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
        else b = b.subarray(0, i);
      }
      return b;
    });

/** Send one input; the sidecar must answer or close, and forward nothing it should not. */
async function probe(bytes: Buffer): Promise<void> {
  const before = users.received.length;
  // Answered (one response) or closed quickly, or else half-close: the parser then has to decide.
  let reply = await exchange(port, [bytes], { responses: 1, waitMs: 300 });
  if (!reply.closed && reply.statuses.length === 0) {
    reply = await exchange(port, [bytes], { responses: 1, waitMs: 8_000, halfClose: true });
  }
  expect(
    reply.closed || reply.statuses.length > 0,
    `no answer and no close for ${JSON.stringify(bytes.toString('latin1'))}`,
  ).toBe(true);
  expect(trapped).toBe(0);
  for (const r of users.received.slice(before)) {
    const forwardedHost = String(r.headers['x-forwarded-host'] ?? '');
    expect(forwardedHost.replace(/:\d*$/, '').toLowerCase()).toBe('users');
  }
  const control = await exchange(port, ['GET /control HTTP/1.1\r\nHost: users\r\n\r\n'], {
    responses: 1,
    waitMs: 8_000,
  });
  expect(control.statuses).toEqual([200]);
}

describe('ingress, fuzzed over raw sockets', () => {
  it('grammar-built hostile requests', { timeout: 600_000 }, async () => {
    await fc.assert(fc.asyncProperty(request(), probe), { numRuns: RUNS, seed: SEED });
  });

  it('the same, mutated byte by byte', { timeout: 600_000 }, async () => {
    await fc.assert(fc.asyncProperty(mutated(), probe), { numRuns: RUNS, seed: SEED });
  });

  it('the sidecar kept no per-name state for what it refused', () => {
    const report = sidecar.report();
    expect(Object.keys(report.services)).toEqual(['users']);
  });
});
