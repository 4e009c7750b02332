/**
 * The axios compatibility suite: every case in ./cases against plain axios, the mesh on the
 * default transport and the mesh on `transport: 'undici'`, on real loopback servers. A full run
 * rewrites MATRIX.md beside this file.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CASES } from './cases/index.js';
import { describeResult, Run, TARGETS } from './support/harness.js';
import { Matrix } from './support/matrix.js';
import { Servers } from './support/servers.js';

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
      it(
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
