/**
 * mesh-sidecar as a process, the way it is deployed: the CLI's help, version and config errors,
 * and SIGTERM draining in-flight requests before exiting 0.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Upstream } from '../testkit/upstream.js';
import { raw } from './support/sidecar.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = ['--import', 'tsx', 'src/sidecar/cli.ts'];
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mesh-sidecar-'));

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

async function fails(args: string[], env: Record<string, string> = {}) {
  const err = await run(process.execPath, [...cli, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err).toBeDefined();
  return err!;
}

const children: ChildProcess[] = [];
const upstreams: Upstream[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

describe('mesh-sidecar CLI', () => {
  it('--help and --version', async () => {
    const help = await run(process.execPath, [...cli, '--help'], { cwd: root });
    expect(help.stdout).toContain('Usage: mesh-sidecar --config');
    const version = await run(process.execPath, [...cli, '--version'], { cwd: root });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad config exits non-zero naming the option path', async () => {
    const file = configFile('bad.json', { retry: { attempts: 0 }, listen: '127.0.0.1:0' });
    const err = await fails(['--config', file]);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('MESH_BAD_OPTIONS: options.retry.attempts:');
    const listen = await fails(['-c', configFile('listen.json', { listen: 'nowhere' })]);
    expect(listen.stderr).toContain('options.listen:');
  });

  it('invalid JSON, a missing file and no config at all are clear errors', async () => {
    expect((await fails(['-c', configFile('broken.json', '{ nope')])).stderr).toMatch(/broken\.json: .*JSON/);
    expect((await fails(['-c', join(dir, 'missing.json')])).stderr).toContain('missing.json');
    expect((await fails([], { MESH_SIDECAR_CONFIG: '' })).stderr).toContain('no config');
  });

  it('takes the config path from MESH_SIDECAR_CONFIG', async () => {
    const file = configFile('env-bad.json', { timeout: { perTry: -1 } });
    expect((await fails([], { MESH_SIDECAR_CONFIG: file })).stderr).toContain('options.timeout.perTry:');
  });
});

describe('SIGTERM', () => {
  it('stops accepting, drains in-flight requests, then exits 0', async () => {
    const up = await Upstream.start('held', { kind: 'held' });
    upstreams.push(up);
    const file = configFile('drain.json', {
      discovery: { static: { users: [up.url] } },
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      drainTimeout: 10_000,
    });
    const child = spawn(process.execPath, [...cli, '-c', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout! });
    const messages: Array<Record<string, string>> = [];
    const next = (msg: string) =>
      new Promise<Record<string, string>>((resolve) => {
        const seen = messages.find((m) => m.msg === msg);
        if (seen) return resolve(seen);
        lines.on('line', (line) => {
          const m = JSON.parse(line) as Record<string, string>;
          if (m.msg === msg) resolve(m);
        });
      });
    lines.on('line', (line) => messages.push(JSON.parse(line)));
    const { listen, admin } = await next('listening');

    const inflight = raw(listen!, '/slow', { headers: { host: 'users' } });
    await up.receivedAtLeast(1);
    child.kill('SIGTERM');
    await next('draining');
    expect((await raw(admin!, '/ready')).status).toBe(503);
    await expect(raw(listen!, '/new', { headers: { host: 'users' } })).rejects.toThrow(/ECONNREFUSED/);
    up.release();
    expect((await inflight).status).toBe(200);
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(up.count).toBe(1);
  });
});
