/**
 * The published package, as a new user meets it: `npm pack`, installed from the tarball into
 * scratch applications, then used from an ES module, from CommonJS (`require()` of the ES module
 * package: Node >= 20.19; the package itself runs on 20.18), from TypeScript compiled to CommonJS
 * and to ESM, with and without the
 * optional packages (prom-client, pino, consul), and the `mesh-sidecar` bin started the
 * documented ways and stopped with SIGTERM.
 *
 * Two scratch applications share the work: `lean` has only mesh-client (and @types/node for the
 * TypeScript apps), as after `npm install mesh-client`; `full` adds the optional packages.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../testkit/consul-emulator.js';
import { raw } from '../support/sidecar.js';
import { writeApps } from './apps.js';
import {
  alive,
  cleanEnv,
  cleanup,
  installedVersion,
  type LoggingProcess,
  packTarball,
  ROOT,
  run,
  runOk,
  scratchApp,
  startLogging,
  tempDir,
} from './scratch.js';

const work = tempDir('mesh-client-pack-');
let tarball = '';
let lean = '';
let full = '';
let upstream: http.Server;
let upstreamUrl = '';
let consul: ConsulEmulator;
const started: LoggingProcess[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, via: req.headers.via ?? null }));
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  consul = await ConsulEmulator.start();

  tarball = await packTarball(work);
  const types = `@types/node@${installedVersion('@types/node')}`;
  const peers = ['prom-client', 'pino', 'consul'].map((name) => `${name}@${installedVersion(name)}`);
  [lean, full] = await Promise.all([
    scratchApp(work, 'lean', tarball, [types]),
    scratchApp(work, 'full', tarball, [types, ...peers]),
  ]);
  writeApps(lean);
  writeApps(full);
}, 400_000);

afterAll(async () => {
  for (const p of started) p.kill();
  upstream?.close();
  await consul?.close();
  cleanup(work);
});

const node = (dir: string, args: string[], env: Record<string, string> = {}) =>
  runOk(process.execPath, args, { cwd: dir, env: cleanEnv({ UPSTREAM: upstreamUrl, ...env }) });

describe('the tarball', () => {
  it('holds the license, the sources its maps point at, and no tests', async () => {
    const { stdout } = await runOk('tar', ['-tzf', tarball], { cwd: work });
    const files = new Set(stdout.split('\n').filter(Boolean));
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/src/index.ts');
    expect([...files].filter((f) => /\.test\.ts$|\.bench\.ts$|test-helpers/.test(f))).toEqual([]);
    const dir = join(lean, 'node_modules', 'mesh-client');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    // Every source map (of the JavaScript and of the declarations) resolves to a shipped file.
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(100);
    const { dirname, resolve } = await import('node:path');
    for (const map of maps) {
      const { sources } = JSON.parse(
        readFileSync(join(lean, 'node_modules', 'mesh-client', map.slice(8)), 'utf8'),
      );
      for (const source of sources as string[]) {
        const shipped = resolve('/package', dirname(map.slice(8)), source).slice(1);
        expect(files, `${map} -> ${source}`).toContain(shipped);
      }
    }
  });

  it('installs without the optional packages, and declares them as optional peers', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const installed = readdirSync(join(lean, 'node_modules'));
    for (const name of ['prom-client', 'pino', 'consul']) expect(installed).not.toContain(name);
    const pkg = JSON.parse(readFileSync(join(lean, 'node_modules', 'mesh-client', 'package.json'), 'utf8'));
    for (const name of ['prom-client', 'pino', 'consul']) {
      expect(pkg.peerDependencies[name]).toBeDefined();
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
      expect(pkg.dependencies[name]).toBeUndefined();
    }
    // ES modules work from 20.18; require() of one needs 20.19 (README says so).
    expect(pkg.engines.node).toBe('>=20.18');
  });
});

describe('consumers', () => {
  it('an ES module imports it', async () => {
    const { stdout } = await node(lean, ['esm.mjs']);
    expect(JSON.parse(stdout)).toEqual({ kind: 'esm', data: { path: '/users/42', via: null } });
  });

  it('a CommonJS module requires it', async () => {
    const { stdout, stderr } = await node(lean, ['cjs.cjs']);
    expect(JSON.parse(stdout)).toEqual({
      kind: 'cjs',
      data: { path: '/users/42', via: null },
      isMeshError: 'function',
    });
    expect(stderr).not.toMatch(/ERR_REQUIRE_ESM|ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  // Compiled to CommonJS without the optional packages, to ESM with them and every declaration checked.
  it.each([
    ['ts-cjs', 'lean'],
    ['ts-esm', 'full'],
  ])('TypeScript compiled by tsc (%s, %s install) compiles and runs', async (app, install) => {
    const dir = join(install === 'lean' ? lean : full, app);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await runOk(process.execPath, [tsc, '-p', dir], { cwd: dir });
    const { stdout } = await node(dir, ['out/app.js'], { KIND: app });
    expect(JSON.parse(stdout)).toEqual({ kind: app, data: { path: '/users/42', via: null } });
  });
});

describe('optional packages', () => {
  it('absent: the library loads; what needs one says which package to install', async () => {
    const { stdout } = await node(lean, ['absent.mjs']);
    const out = JSON.parse(stdout) as Record<string, string>;
    expect(out.consul).toBe(
      'MESH_BAD_OPTIONS: options.discovery.consul: needs the package "consul" (Consul discovery, ' +
        'registration and the control plane), which is not installed: npm install consul',
    );
    expect(out.register).toMatch(
      /^MESH_BAD_OPTIONS: register\(\): needs the package "consul".*npm install consul$/,
    );
    expect(out.metrics).toMatch(
      /^MESH_BAD_OPTIONS: options\.telemetry\.metrics\.registry: needs the package "prom-client".*npm install prom-client$/,
    );
    expect(out.sidecar).toMatch(/needs the package "prom-client".*npm install prom-client$/);
  });

  it('absent: the mesh-sidecar bin exits 2 naming both packages', async () => {
    const file = join(lean, 'mesh.json');
    writeFileSync(file, JSON.stringify({ discovery: { static: { users: [upstreamUrl] } } }));
    const result = await run(join(lean, 'node_modules', '.bin', 'mesh-sidecar'), ['--config', file], {
      cwd: lean,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'mesh-sidecar: needs the packages pino and prom-client: npm install pino prom-client',
    );
  });

  it('present: metrics in the application registry, Consul discovery and registration', async () => {
    const { stdout } = await node(full, ['present.mjs'], { CONSUL_PORT: String(consul.port) });
    expect(JSON.parse(stdout)).toEqual({ data: { path: '/users/42', via: null }, counted: true });
  });
});

/** A sidecar config on free ports. */
function sidecarConfig(name: string): string {
  const file = join(full, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      discovery: { static: { users: [upstreamUrl] } },
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
    }),
  );
  return file;
}

describe('mesh-sidecar started the documented ways, stopped with SIGTERM', () => {
  // npx does not pass SIGTERM on: its sidecar drains because its parent went away.
  const ways: Array<[string, (config: string) => [string, string[]], Record<string, string>]> = [
    [
      'the bin directly',
      (c) => [join(full, 'node_modules', '.bin', 'mesh-sidecar'), ['--config', c]],
      { signal: 'SIGTERM' },
    ],
    [
      'exec in a shell script',
      (c) => ['sh', ['-c', `exec ./node_modules/.bin/mesh-sidecar --config ${c}`]],
      { signal: 'SIGTERM' },
    ],
    [
      'npx mesh-sidecar',
      (c) => ['npx', ['--no-install', 'mesh-sidecar', '--config', c]],
      { reason: 'parent exited' },
    ],
  ];
  it.each(ways)('%s: the sidecar drains and is gone', async (way, command, why) => {
    const [cmd, args] = command(sidecarConfig(way.replace(/\W+/g, '-')));
    const p = startLogging(cmd, args, { cwd: full });
    started.push(p);
    const listening = await p.line('listening');
    const pid = listening.pid as number;
    const reply = await raw(listening.listen as string, '/users/7', { headers: { host: 'users' } });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ path: '/users/7', via: '1.1 mesh-sidecar' });

    p.child.kill('SIGTERM');
    await p.closed;
    expect(await p.line('draining')).toMatchObject(why);
    expect(p.lines.map((l) => l.msg)).toContain('stopped');
    expect(alive(pid), `${way}: sidecar ${pid} still running\n${p.stderr()}`).toBe(false);
  });
});
