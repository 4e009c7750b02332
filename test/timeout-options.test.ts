/**
 * `timeout.perTry` longer than `timeout.total` never applies (each attempt ends at the deadline
 * first): the mesh says so once, as a `MeshOptionsWarning`, and still accepts the options; only a
 * `perTry` the user set warrants it, so a service that sets only its `total` under the default
 * `perTry` hears nothing.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { MeshClient } from 'mesh-client';
import { afterEach, beforeEach, expect, it } from 'vitest';

let warnings: Array<Error & { code?: string }> = [];
const listen = (w: Error) => warnings.push(w);
beforeEach(() => {
  warnings = [];
  process.on('warning', listen);
});
afterEach(() => {
  process.off('warning', listen);
});

/** Construct and close a client; emitWarning reports on the next tick, before this resolves. */
async function construct(options: ConstructorParameters<typeof MeshClient>[0]): Promise<void> {
  const mesh = new MeshClient({ discovery: { static: { users: ['http://127.0.0.1:9'] } }, ...options });
  mesh.service('users');
  await mesh.close();
  await turn();
}

it('warns once when perTry exceeds total, naming both and the fix', async () => {
  await construct({ timeout: { total: 101, perTry: 5001 } });
  await construct({ timeout: { total: 101, perTry: 5001 } });
  const ours = warnings.filter((w) => w.name === 'MeshOptionsWarning');
  expect(ours).toHaveLength(1);
  expect(ours[0]!.code).toBe('MESH_TIMEOUT_PER_TRY_OVER_TOTAL');
  expect(ours[0]!.message).toBe(
    'timeout.perTry (5001 ms) is longer than timeout.total (101 ms), so it never applies: each attempt ' +
      'ends at the deadline and a hung attempt leaves no time to retry; set timeout.perTry below 101, or to false',
  );
});

it('warns for a service whose own total is below the perTry it inherits', async () => {
  await construct({
    timeout: { total: 10_000, perTry: 5002 },
    services: { users: { timeout: { total: 102 } } },
  });
  expect(warnings.map((w) => w.message)).toContainEqual(
    expect.stringContaining('timeout.perTry (5002 ms) is longer than timeout.total (102 ms)'),
  );
});

it('is quiet for a service total below the default perTry it did not set', async () => {
  await construct({ services: { users: { timeout: { total: 104 } } } });
  await construct({ timeout: { total: 105 } });
  expect(warnings).toEqual([]);
});

it('is quiet when perTry fits in total, or either is off', async () => {
  await construct({ timeout: { total: 1003, perTry: 1003 } });
  await construct({ timeout: { total: false, perTry: 5003 } });
  await construct({ timeout: { total: 103, perTry: false } });
  expect(warnings).toEqual([]);
});
