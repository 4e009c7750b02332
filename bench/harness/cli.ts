/**
 * Command-line handling shared by `npm run demo` (bench/demo.ts) and `npm run bench`
 * (bench/run.ts): flags, the output folder, and the facts about the machine a report must carry
 * (node version, CPU model, cores, load) so figures are never quoted without their context.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { undiciTransportAvailable } from './approaches.js';
import { floorCommand, sidecarCommand } from './build.js';
import { haproxyInstalled, ROOT } from './processes.js';
import { APPROACH_LABELS, type ApproachKind } from './protocol.js';

export interface CommonArgs {
  quick: boolean;
  /** Seconds measured per run (`--duration`). */
  duration: number | undefined;
  concurrency: number | undefined;
  config: string | undefined;
  approaches: ApproachKind[] | undefined;
  /** Folder for report.html and the JSON (`--out`, default bench/results). */
  out: string;
  help: boolean;
}

/** Parse the flags both commands share; exits with the usage on a bad flag. */
export function parseCommon(argv: string[], usage: string): CommonArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', short: 'q' },
        duration: { type: 'string', short: 'd' },
        concurrency: { type: 'string', short: 'c' },
        config: { type: 'string' },
        approaches: { type: 'string' },
        out: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}`);
  }
  const number = (name: string, min: number, max: number) => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number in [${min}, ${max}]`);
    return n;
  };
  let approaches: ApproachKind[] | undefined;
  if (typeof values.approaches === 'string') {
    approaches = values.approaches.split(',').map((a) => a.trim()) as ApproachKind[];
    const unknown = approaches.filter((a) => !(a in APPROACH_LABELS));
    if (unknown.length)
      fail(`unknown approach ${unknown.join(', ')}; known: ${Object.keys(APPROACH_LABELS).join(', ')}`);
  }
  const out = resolve(typeof values.out === 'string' ? values.out : join(ROOT, 'bench', 'results'));
  mkdirSync(out, { recursive: true });
  return {
    quick: values.quick === true,
    duration: number('duration', 0.5, 3600),
    concurrency: number('concurrency', 1, 1024),
    config: typeof values.config === 'string' ? values.config : undefined,
    approaches,
    out,
    help: values.help === true,
  };
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** The command as the user would type it again. */
export function commandLine(script: 'demo' | 'bench', argv: string[]): string {
  return `npm run ${script}${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
}

/** Which optional approaches this machine and this MeshClient can run. */
export function capabilities(): { haproxy: string | undefined; undiciTransport: boolean } {
  let haproxy: string | undefined;
  if (haproxyInstalled()) {
    try {
      const v = execFileSync('haproxy', ['-v'], { encoding: 'utf8' });
      haproxy = /version (\S+)/.exec(v)?.[1] ?? 'installed';
    } catch {
      haproxy = 'installed';
    }
  }
  return { haproxy, undiciTransport: undiciTransportAvailable() };
}

/** Facts about the machine, for every report. */
export function machineFacts(): Array<[string, string]> {
  const cpus = os.cpus();
  const caps = capabilities();
  return [
    ['node', process.version],
    ['cpu', `${cpus[0]?.model ?? 'unknown'} (${cpus.length} cores)`],
    ['os', `${os.type()} ${os.release()} ${os.arch()}`],
    ['memory', `${(os.totalmem() / 1024 ** 3).toFixed(1)} GB`],
    [
      'load average at start',
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    ],
    ['haproxy', caps.haproxy ?? 'not installed'],
    [
      'mesh-sidecar runs as',
      sidecarCommand().mode === 'build'
        ? 'node on a plain-JS build of src/ made at start (bench/harness/build.ts), as deployed'
        : 'node --import tsx on src/ (the JS build failed)',
    ],
    [
      'bare Node proxy runs as',
      floorCommand().mode === 'build'
        ? 'node on a plain-JS build of bench/harness/node-proxy.ts'
        : 'node --import tsx on bench/harness/node-proxy.ts (the JS build failed)',
    ],
    ['clients run as', 'node --import tsx (one fresh process per run)'],
    ['date', new Date().toISOString()],
  ];
}
