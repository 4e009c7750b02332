/**
 * The API reference builds: typedoc (with `treatWarningsAsErrors`) fails on a public name that
 * points at a type it cannot document, on a broken `{@link}`, and on a guide it cannot render, so
 * the reference and the guides linked from it cannot rot unnoticed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'mesh-api-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('typedoc builds the reference without a warning, with the guides as pages', {
  timeout: 120_000,
}, async () => {
  const typedoc = join(ROOT, 'node_modules', '.bin', 'typedoc');
  const { stdout } = await promisify(execFile)(typedoc, ['--out', out], { cwd: ROOT });
  expect(stdout).not.toContain('[warning]');
  expect(readdirSync(join(out, 'documents'))).toEqual(
    expect.arrayContaining(['architecture.html', 'sidecar.html']),
  );
});
