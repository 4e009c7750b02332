/**
 * mesh-sidecar's config file, hostile or careless: `null` (or any non-object) is refused instead
 * of starting on defaults; an IP literal that is no address fails validation naming `listen`; a
 * listener off loopback starts, with a warning naming the option.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isMeshError } from 'mesh-client';
import { afterEach, describe, expect, it } from 'vitest';
import { exposureWarnings } from '../../src/sidecar/exposure.js';
import { parseSidecarConfig } from '../../src/sidecar/options.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = ['--import', 'tsx', 'src/sidecar/cli.ts'];
const dir = mkdtempSync(join(tmpdir(), 'mesh-hostile-cli-'));
const run = promisify(execFile);

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function exitOf(file: string): Promise<{ code: number; stderr: string }> {
  return run(process.execPath, [...cli, '-c', file], { cwd: root }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('config values that are not a config', () => {
  it('null, an array, a number: exit 2 naming options', async () => {
    for (const [name, text, got] of [
      ['null.json', 'null', 'null'],
      ['array.json', '[]', 'array'],
      ['number.json', '42', 'number'],
    ]) {
      const { code, stderr } = await exitOf(configFile(name!, text!));
      expect(code).toBe(2);
      expect(stderr).toContain(`MESH_BAD_OPTIONS: options: expected an object, received ${got}`);
    }
  });

  it('from code: undefined is the defaults, null is refused', () => {
    expect(parseSidecarConfig(undefined).listen).toEqual({ host: '127.0.0.1', port: 15001 });
    expect(() => parseSidecarConfig(null)).toThrow(/options: expected an object, received null/);
  });
});

describe('listen and admin addresses', () => {
  it('an IP literal out of range fails validation naming the option', async () => {
    const { code, stderr } = await exitOf(
      configFile('ip.json', JSON.stringify({ listen: '256.1.1.1:25041' })),
    );
    expect(code).toBe(2);
    expect(stderr).toContain('options.listen: not an IP address');
    for (const bad of ['1.2.3:80', '[::zz]:80', '999.0.0.1:1']) {
      try {
        parseSidecarConfig({ admin: bad });
        expect.unreachable(`${bad} accepted`);
      } catch (err) {
        expect(isMeshError(err, 'MESH_BAD_OPTIONS') && err.message).toContain('options.admin:');
      }
    }
    expect(parseSidecarConfig({ listen: '[::1]:0', admin: 'localhost:0' }).listen.host).toBe('::1');
  });

  it('a port already taken: start() fails naming the listener, and leaves nothing open', async () => {
    const first = await new Sidecar({ listen: '127.0.0.1:0', admin: '127.0.0.1:0' }).start();
    const taken = new URL(first.address).port;
    const second = new Sidecar({ listen: `127.0.0.1:${taken}`, admin: '127.0.0.1:0' });
    await expect(second.start()).rejects.toThrow(`options.listen (127.0.0.1:${taken}): listen EADDRINUSE`);
    await first.close();
  });

  it('a listener off loopback starts with a warning naming the option', async () => {
    expect(exposureWarnings(parseSidecarConfig({}))).toEqual([]);
    expect(exposureWarnings(parseSidecarConfig({ listen: '0.0.0.0:1', admin: '[::]:2' }))).toEqual([
      expect.stringContaining('options.listen is 0.0.0.0:1, not loopback'),
      expect.stringContaining('options.admin is [::]:2, not loopback'),
    ]);
    const file = configFile('open.json', JSON.stringify({ listen: '0.0.0.0:0', admin: '127.0.0.1:0' }));
    const child = spawn(process.execPath, [...cli, '-c', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout! });
    const warning = await new Promise<Record<string, string>>((resolve) => {
      lines.on('line', (line) => {
        const m = JSON.parse(line) as Record<string, string>;
        if (m.msg === 'listener not on loopback') resolve(m);
      });
    });
    expect(warning.level).toBe('warn');
    expect(warning.warning).toMatch(/^options\.listen is 0\.0\.0\.0:\d+, not loopback/);
  });
});
