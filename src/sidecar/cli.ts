#!/usr/bin/env node
/**
 * `mesh-sidecar --config mesh.json`: run the mesh as a sidecar proxy. The config file is the
 * options object `MeshClient` takes, plus `listen`, `admin`, `retryBufferBytes` and
 * `drainTimeout`; it is validated by the same schema, so a bad value names its path. The path
 * may also come from `MESH_SIDECAR_CONFIG`. SIGTERM (or SIGINT) drains and exits 0.
 *
 * Logs are JSON lines on stdout, by pino (level from `MESH_LOG_LEVEL`, default `info`): the
 * sidecar's own lifecycle (`listening`, `draining`, `stopped`) and the mesh's events (breakers,
 * discovery errors, fallbacks). pino's `redact` censors credentials and the mesh redacts what it
 * hands over, so no token, Authorization or Cookie value reaches a line. pino and prom-client
 * are optional peer dependencies of the library (a fat client needs neither), and the sidecar's
 * own: without them it exits 2 saying what to install.
 *
 * Started through a package manager (`npx mesh-sidecar`, `npm run sidecar`), the sidecar's parent
 * is a shell under npm, and a SIGTERM to npm ends npm and that shell but not this process. So
 * then (npm, pnpm and yarn set `npm_lifecycle_event`) it watches its parent: when `process.ppid`
 * changes, the wrapper is gone and the process was handed to init, and it drains and exits as on
 * SIGTERM. Started directly (the bin, `exec` in a script, a container's command) it does not:
 * a supervisor or `nohup` may legitimately outlive.
 *
 * With `workers` above 1 this process is the primary: it validates the config once, forks the
 * workers (this same file, `MESH_SIDECAR_WORKER` naming each one's index), serves admin, and
 * logs `listening` once every worker listens (see `workers/`). Without it nothing of that runs:
 * one process, as before.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type * as Pino from 'pino';
import { isMeshError } from '../errors/mesh-error.js';
import { errorFields, PINO_REDACT_PATHS, REDACTED } from '../telemetry/logger.js';
import { exposureWarnings } from './exposure.js';
import { parseSidecarConfig, type SidecarConfig } from './options.js';
import type { Sidecar } from './sidecar.js';
import { WORKER_ENV } from './workers/messages.js';
import { Primary } from './workers/primary.js';

const USAGE = `Usage: mesh-sidecar --config <file.json>

Runs the mesh-client request pipeline (discovery, balancing, breakers, retries, timeouts) as an
HTTP proxy. Send requests in absolute form, as any client with a proxy set does
(http_proxy=http://127.0.0.1:15001 curl http://users/users/42: curl reads only the lowercase
http_proxy), or with the service in Host (curl -H 'Host: users' http://127.0.0.1:15001/users/42).

Options:
  -c, --config <file>  JSON config: MeshClient options plus listen, admin, retryBufferBytes,
                       drainTimeout, workers, ... (default: $MESH_SIDECAR_CONFIG)
  -h, --help           show this help
  -v, --version        show the version

Environment:
  MESH_LOG_LEVEL       log level: trace, debug, info, warn, error, fatal, silent (default: info)

Needs the packages pino and prom-client beside mesh-client (npm install pino prom-client).
Run it directly or with exec in containers; started through npx or npm run, it exits when
its parent goes away.

Admin endpoints (default 127.0.0.1:15000): /healthz, /ready, /stats, /metrics`;

function fail(message: string): never {
  process.stderr.write(`mesh-sidecar: ${message}\n`);
  process.exit(2);
}

let args: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
const options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;
try {
  args = parseArgs({ options, allowPositionals: false }).values;
} catch (err) {
  fail(`${(err as Error).message}\n\n${USAGE}`);
}

if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (args.version) {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}

// A worker forked by this sidecar's primary gets its configuration from the primary, not the file.
const workerEnv = cluster.isWorker ? process.env[WORKER_ENV] : undefined;
const workerIndex = workerEnv === undefined ? undefined : Number(workerEnv);

const file = args.config ?? process.env.MESH_SIDECAR_CONFIG ?? '';
if (!file && workerIndex === undefined)
  fail(`no config: pass --config <file> or set MESH_SIDECAR_CONFIG\n\n${USAGE}`);

let raw: unknown;
try {
  if (workerIndex === undefined) raw = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  fail(`${file}: ${(err as Error).message}`);
}

// The sidecar's own dependencies, optional for the library: both named at once when missing.
const missing = ['pino', 'prom-client'].filter((name) => {
  try {
    createRequire(import.meta.url).resolve(name);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  fail(
    `needs the package${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}: npm install ${missing.join(' ')}`,
  );
}
/** Under a package manager's wrapper, how often (ms) the parent is checked (see the header). */
const PARENT_CHECK_MS = 1000;

const { pino } = createRequire(import.meta.url)('pino') as typeof Pino;

let logger: Pino.Logger;
try {
  logger = pino({
    name: 'mesh-sidecar',
    level: process.env.MESH_LOG_LEVEL || 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: PINO_REDACT_PATHS, censor: REDACTED },
  });
} catch (err) {
  fail(`MESH_LOG_LEVEL: ${(err as Error).message}`);
}

if (workerIndex !== undefined) {
  const { runWorker } = await import('./workers/worker.js');
  await runWorker(workerIndex, logger.child({ worker: workerIndex }));
} else {
  const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  const fields = isObject ? (raw as Record<string, unknown>) : undefined;
  // Only a config that asks for workers takes the primary's path: without the key it is one process, as always.
  const config = fields?.workers !== undefined && fields.workers !== 1 ? validated(fields) : undefined;
  if (config && config.workers > 1) await runPrimary(fields!, config);
  else await runOne();
}

/** The config validated up front (the primary does not build a sidecar of its own). */
function validated(fields: Record<string, unknown>): SidecarConfig {
  try {
    return parseSidecarConfig({ ...fields, logger });
  } catch (err) {
    if (isMeshError(err, 'MESH_BAD_OPTIONS')) fail(`${file}: ${err.message}`);
    throw err;
  }
}

/** One process: the proxy and admin listeners in this one. */
async function runOne(): Promise<void> {
  // Loaded here, not at the top: a primary of several workers runs no mesh of its own.
  const { Sidecar } = await import('./sidecar.js');
  let sidecar: Sidecar;
  try {
    // The mesh logs through the same pino logger (the options' `logger`; not expressible in JSON).
    const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
    sidecar = new Sidecar(isObject ? { ...(raw as Record<string, unknown>), logger } : raw);
  } catch (err) {
    if (isMeshError(err, 'MESH_BAD_OPTIONS')) fail(`${file}: ${err.message}`);
    throw err;
  }

  try {
    await sidecar.start();
  } catch (err) {
    fail(`cannot listen: ${(err as Error).message}`);
  }
  logger.info(
    {
      listen: sidecar.address,
      admin: sidecar.adminAddress,
      ...(sidecar.inboundAddress ? { inbound: sidecar.inboundAddress } : {}),
    },
    'listening',
  );
  for (const warning of exposureWarnings(sidecar.config))
    logger.warn({ warning }, 'listener not on loopback');
  drainOnStop(() => sidecar.drain());
}

/** Several workers: this process supervises them and serves admin; they proxy. */
async function runPrimary(fields: Record<string, unknown>, config: SidecarConfig): Promise<void> {
  if (cluster.isWorker) {
    // Another supervisor's cluster worker (pm2's cluster mode) cannot fork workers of its own.
    fail(
      `${file}: MESH_BAD_OPTIONS: options.workers: this process is a node:cluster worker already; run it with "workers": 1 there`,
    );
  }
  const primary = new Primary({ config, raw: fields, logger });
  try {
    await primary.start();
  } catch (err) {
    fail((err as Error).message);
  }
  logger.info(
    {
      listen: primary.address,
      admin: primary.adminAddress,
      ...(primary.inboundAddress ? { inbound: primary.inboundAddress } : {}),
      workers: config.workers,
    },
    'listening',
  );
  for (const warning of exposureWarnings(config)) logger.warn({ warning }, 'listener not on loopback');
  drainOnStop(() => primary.drain());
}

/**
 * On SIGTERM or SIGINT, or when the package manager's wrapper is gone (see the header): log
 * `draining`, drain, log `stopped` and let the process end with status 0.
 */
function drainOnStop(drain: () => Promise<void>): void {
  let stopping = false;
  /** `why` is logged: `{ signal }`, or `{ reason }` when the wrapper went away. */
  const stop = (why: { signal: string } | { reason: string }) => {
    if (stopping) return;
    stopping = true;
    logger.info(why, 'draining');
    drain().then(
      () => {
        logger.info('stopped');
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ error: errorFields(err) }, 'drain failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', () => stop({ signal: 'SIGTERM' }));
  process.on('SIGINT', () => stop({ signal: 'SIGINT' }));

  if (process.env.npm_lifecycle_event !== undefined) {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      stop({ reason: 'parent exited' });
    }, PARENT_CHECK_MS);
    watch.unref();
  }
}
