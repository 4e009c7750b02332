/**
 * The axios compatibility suite: every case in ./cases against plain axios, the mesh on the
 * default transport and the mesh on `transport: 'undici'`, on real loopback servers. A full run
 * rewrites MATRIX.md beside this file.
 *
 * Cases marked `pending` for a target (a known gap, with its cause) run as expected failures,
 * so the suite stays green while it documents them and turns red when one starts passing;
 * AXIOS_COMPAT_STRICT=1 runs them as ordinary tests.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CASES } from './cases/index.js';
import { describeResult, Run, TARGETS } from './support/harness.js';
import { Matrix } from './support/matrix.js';
import { Servers } from './support/servers.js';

const STRICT = process.env.AXIOS_COMPAT_STRICT === '1';
const matrix = new Matrix(CASES);
let servers: Servers;
let seq = 0;

beforeAll(async () => {
  servers = await Servers.start();
});

afterAll(async () => {
  await servers?.close();
  if (matrix.complete) matrix.write(fileURLToPath(new URL('./MATRIX.md', import.meta.url)));
});

for (const c of CASES) {
  describe(c.id, () => {
    for (const target of TARGETS) {
      const pending = target === 'axios' ? undefined : c.pending?.[target];
      const test = pending && !STRICT ? it.fails : it;
      test(
        target,
        async () => {
          const run = new Run(c, target, servers, seq++);
          const result = await run.run(c, (c.timeoutMs ?? 15_000) - 3000);
          const expectation = target !== 'axios' && c.mesh ? c.mesh : c.expect;
          let failure: unknown;
          try {
            await expectation.check(result, run.ctx);
          } catch (err) {
            failure = err;
          }
          const why = failure === undefined ? '' : ` (${firstLine(failure)})`;
          matrix.record(c.id, target, {
            pass: failure === undefined,
            observed: describeResult(result) + why,
            pending,
          });
          await run.close();
          if (failure !== undefined) throw failure;
        },
        c.timeoutMs ?? 15_000,
      );
    }
  });
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .slice(0, 120);
}
