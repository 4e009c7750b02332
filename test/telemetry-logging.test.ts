/**
 * Logging: silent by default, pino- and console-compatible, and never a secret in a line. The
 * library logger's output and the sidecar's pino output (a real `mesh-sidecar` process) are
 * captured while requests carrying Authorization and Cookie headers flow and a Consul ACL token
 * is configured; none of those values may appear.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AxiosError, AxiosHeaders } from 'axios';
import { type Logger, MeshClient, redact, redactText } from 'mesh-client';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { errorFields, PINO_REDACT_PATHS, REDACTED } from '../src/telemetry/logger.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';
import { raw } from './support/sidecar.js';

const SECRETS = ['SECRET-BEARER-abc123', 'SECRET-COOKIE-def456', 'SECRET-CONSUL-ghi789', 'SECRET-PASS-jkl'];
const headers = { authorization: `Bearer ${SECRETS[0]}`, cookie: `session=${SECRETS[1]}` };

const open = closeAfterEach();

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

/** A Logger keeping every line as pino would print it. */
function captureLogger(): Logger & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg?: string) =>
    lines.push({ level, ...fields, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('redaction helpers', () => {
  it('redact() censors secret-named keys at any depth and scrubs secrets out of text', () => {
    const out = redact({
      service: 'users',
      headers: { ...headers, 'x-consul-token': SECRETS[2], accept: 'application/json' },
      nested: [{ password: SECRETS[3] }],
      url: `http://u:${SECRETS[3]}@h/x?access_token=${SECRETS[2]}&page=2`,
      note: `sent Authorization: Bearer ${SECRETS[0]}`,
    });
    expect(out).toMatchObject({
      service: 'users',
      headers: {
        authorization: REDACTED,
        cookie: REDACTED,
        'x-consul-token': REDACTED,
        accept: 'application/json',
      },
      nested: [{ password: REDACTED }],
    });
    expectNoSecret(JSON.stringify(out));
    expect((out as { url: string }).url).toContain('page=2');
    expect(redactText(`cookie=${SECRETS[1]}; Path=/`)).toBe(`cookie=${REDACTED}; Path=/`);
  });

  it('errors are logged as type, code and message, never with their request config', () => {
    const config = { headers: new AxiosHeaders(headers), url: '/x' };
    const error = new AxiosError('Request failed with status code 401', 'ERR_BAD_REQUEST', config as never);
    const out = JSON.stringify(redact({ error }));
    expectNoSecret(out);
    expect(errorFields(error)).toEqual({
      type: 'AxiosError',
      code: 'ERR_BAD_REQUEST',
      message: 'Request failed with status code 401',
    });
  });

  it("pino with the sidecar's redact paths censors credentials", () => {
    let text = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        text += String(chunk);
        done();
      },
    });
    const logger = pino({ redact: { paths: PINO_REDACT_PATHS, censor: REDACTED } }, sink);
    logger.info({ req: { headers }, headers, token: SECRETS[2], consul: { token: SECRETS[2] } }, 'x');
    expectNoSecret(text);
    expect(text).toContain(REDACTED);
  });
});

describe('the library logger', () => {
  it('is silent by default: no console output from a failing mesh', async () => {
    const bad = await Upstream.start('bad', { kind: 'status', status: 503 });
    open.push(bad);
    const writes: unknown[] = [];
    const original = { log: console.log, warn: console.warn, error: console.error, info: console.info };
    console.log = console.warn = console.error = console.info = (...args: unknown[]) => writes.push(args);
    try {
      const mesh = new MeshClient({ discovery: { static: { users: [bad.url] } } });
      open.push(mesh);
      await mesh.service('users').get('/x', { validateStatus: null });
    } finally {
      Object.assign(console, original);
    }
    expect(writes).toEqual([]);
  });

  it('logs breakers, retries and discovery errors without a header value or token', async () => {
    const bad = await Upstream.start('bad', { kind: 'status', status: 503 });
    const ok = await Upstream.start('ok');
    open.push(bad, ok);
    const logger = captureLogger();
    const mesh = new MeshClient({
      discovery: { static: { users: [bad.url, ok.url] } },
      loadBalancer: 'round-robin',
      retry: { attempts: 2, budget: false },
      circuitBreaker: { volumeThreshold: 2, resetTimeout: 60_000 },
      axios: { headers },
      logger,
    });
    open.push(mesh);
    const opened = new Promise((resolve) => mesh.once('circuit-open', resolve));
    for (let i = 0; i < 10 && bad.count < 2; i++) await mesh.service('users').get('/x', { headers });
    await opened;
    expect(bad.received[0]!.headers.authorization).toBe(headers.authorization);

    const consulLogger = captureLogger();
    const consul = new URL(await closedPortUrl());
    const registry = new MeshClient({
      discovery: {
        consul: {
          host: consul.hostname,
          port: Number(consul.port),
          token: SECRETS[2],
          services: ['users'],
          backoffBase: 10,
          backoffMax: 20,
        },
      },
      logger: consulLogger,
    });
    open.push(registry);
    await expect.poll(() => consulLogger.lines.length).toBeGreaterThanOrEqual(2);

    const messages = new Set([...logger.lines, ...consulLogger.lines].map((l) => `${l.level} ${l.msg}`));
    expect(messages).toEqual(
      new Set(['info endpoints changed', 'debug retrying', 'warn circuit opened', 'warn discovery error']),
    );
    expectNoSecret(JSON.stringify([logger.lines, consulLogger.lines]));
  });

  it('a logger that throws never breaks a request', async () => {
    const ok = await Upstream.start('ok');
    open.push(ok);
    const boom = () => {
      throw new Error('logger down');
    };
    const mesh = new MeshClient({
      discovery: { static: { users: [ok.url] } },
      logger: { debug: boom, info: boom, warn: boom, error: boom },
    });
    open.push(mesh);
    expect((await mesh.service('users').get('/x')).status).toBe(200);
  });
});

describe('mesh-sidecar logs (pino)', () => {
  it('JSON lines with no Authorization, Cookie or Consul token, at debug level', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const consul = new URL(await closedPortUrl());
    const file = join(mkdtempSync(join(tmpdir(), 'mesh-log-')), 'mesh.json');
    writeFileSync(
      file,
      JSON.stringify({
        discovery: {
          consul: {
            host: consul.hostname,
            port: Number(consul.port),
            token: SECRETS[2],
            services: ['users'],
            backoffBase: 10,
            backoffMax: 20,
            initialTimeout: 200,
          },
        },
        listen: '127.0.0.1:0',
        admin: '127.0.0.1:0',
      }),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/cli.ts', '-c', file], {
      cwd: root,
      env: { ...process.env, MESH_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += String(c);
    });
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(JSON.parse(line));
      for (const w of waiters.splice(0)) w();
    });
    const seen = (msg: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const check = () => {
          const line = lines.find((l) => l.msg === msg);
          if (line) resolve(line);
          else waiters.push(check);
        };
        check();
      });
    try {
      const { listen } = (await seen('listening')) as { listen: string };
      await seen('discovery error');
      const res = await raw(listen, '/users/1', { headers: { host: 'users', ...headers } });
      expect(res.status).toBe(503);
      child.kill('SIGTERM');
      await seen('stopped');
      await exited;
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(lines.every((l) => typeof l.level === 'string' && typeof l.time === 'string')).toBe(true);
    expect(lines.find((l) => l.msg === 'discovery error')).toMatchObject({
      level: 'warn',
      name: 'mesh-sidecar',
      service: 'users',
    });
    expectNoSecret(JSON.stringify(lines) + stderr);
  });
});
