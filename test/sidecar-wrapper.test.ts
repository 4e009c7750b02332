/**
 * `npm run sidecar` in a clone, the way the README documents it for development: npm starts a
 * shell that starts the sidecar, and a SIGTERM to npm ends npm and the shell only. The sidecar
 * must notice that its parent is gone, drain and exit, instead of serving on under init. (The
 * published bin started through npx, directly and with exec: test/packaging/package.test.ts.)
 */

import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alive, cleanup, type LoggingProcess, ROOT, startLogging, tempDir } from './packaging/scratch.js';
import { raw } from './support/sidecar.js';

const dir = tempDir('mesh-sidecar-wrapper-');
let upstream: http.Server;
let sidecar: LoggingProcess | undefined;

beforeAll(async () => {
  upstream = http.createServer((req, res) => res.end(JSON.stringify({ path: req.url })));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
});

afterAll(() => {
  sidecar?.kill();
  upstream.close();
  cleanup(dir);
});

it('npm run sidecar: SIGTERM to npm drains the sidecar and leaves no process', async () => {
  const { port } = upstream.address() as AddressInfo;
  const config = join(dir, 'mesh.json');
  writeFileSync(
    config,
    JSON.stringify({
      discovery: { static: { users: [`http://127.0.0.1:${port}`] } },
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
    }),
  );
  sidecar = startLogging('npm', ['run', '--silent', 'sidecar', '--', '--config', config], { cwd: ROOT });
  const listening = await sidecar.line('listening');
  const pid = listening.pid as number;
  expect(pid).not.toBe(sidecar.child.pid);
  expect((await raw(listening.listen as string, '/users/1', { headers: { host: 'users' } })).status).toBe(
    200,
  );

  sidecar.child.kill('SIGTERM');
  await sidecar.closed;
  expect(await sidecar.line('draining')).toMatchObject({ reason: 'parent exited' });
  expect(sidecar.lines.map((l) => l.msg)).toContain('stopped');
  expect(alive(pid), sidecar.stderr()).toBe(false);
}, 60_000);
