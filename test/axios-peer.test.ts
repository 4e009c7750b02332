/**
 * axios is a peer dependency: the mesh uses the app's own axios, so the instances it hands out,
 * the errors it throws and the defaults the app sets are that copy's. Checked as an app would see
 * it: the built package installed in a fixture app whose `axios` is another version than the one
 * this repository develops with (the oldest of the supported range, installed here under an npm
 * alias), laid out as npm lays out a peer (no copy of axios under mesh-client), run in a process
 * of its own.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
// Inside the repository's node_modules, so the package's other dependencies resolve from there.
const fixture = `${root}node_modules/.cache/axios-peer-${process.pid}`;
const oldest = JSON.parse(readFileSync(`${root}node_modules/axios-oldest/package.json`, 'utf8')).version;

describe('the package declares axios as a peer', () => {
  it('a peer (and a devDependency), not a dependency of its own', () => {
    expect(pkg.dependencies.axios).toBeUndefined();
    expect(pkg.peerDependencies.axios).toMatch(/^>=\d+\.\d+\.\d+ <2$/);
    expect(pkg.devDependencies.axios).toBeDefined();
  });

  it("the version tested here is the range's floor", () => {
    const floor = /^>=(\S+)/.exec(pkg.peerDependencies.axios)![1];
    expect(pkg.devDependencies['axios-oldest']).toBe(`npm:axios@${floor}`);
    expect(oldest).toBe(floor);
  });
});

describe("an app with its own axios (the range's oldest)", () => {
  beforeAll(async () => {
    const installed = `${fixture}/node_modules/mesh-client`;
    mkdirSync(installed, { recursive: true });
    await run(`${root}node_modules/.bin/tsc`, [
      '-p',
      `${root}tsconfig.build.json`,
      '--outDir',
      `${installed}/dist`,
    ]);
    cpSync(`${root}package.json`, `${installed}/package.json`);
    symlinkSync(`${root}node_modules/axios-oldest`, `${fixture}/node_modules/axios`, 'dir');
    cpSync(`${root}test/support/peer-app.mjs`, `${fixture}/app.mjs`);
  }, 180_000);

  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it('gets its own classes, version and defaults through the mesh, on both transports', async () => {
    expect(oldest).not.toBe(axios.VERSION);
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: fixture, timeout: 60_000 });
    const seen = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(seen.version).toBe(oldest);
    for (const transport of ['axios', 'undici']) {
      expect(seen.transports[transport], transport).toEqual({
        redirected: { ok: true },
        // The mesh's requests are made by the app's axios, with the app's defaults.
        request: { agent: `axios/${oldest}`, app: 'mine' },
        status: { instanceOf: true, code: 'ERR_BAD_REQUEST' },
        timeout: { instanceOf: true, code: 'ECONNABORTED', cause: 'MESH_TIMEOUT' },
        cancel: { instanceOf: true, message: 'stop' },
      });
    }
  }, 90_000);
});
