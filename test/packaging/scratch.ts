/**
 * The package as a user gets it: `npm pack` of a staging copy of the repository (so the
 * checkout's own `dist/` is left alone), installed from the tarball into scratch applications in
 * a temporary directory, far from the repository's node_modules.
 *
 * Installs prefer npm's cache (`--prefer-offline`: the exact versions the repository already
 * installed are there after `npm ci`), and fall back to the registry for what the cache lacks, so
 * they run on a fresh CI machine too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The environment a user's shell would have: none of the npm variables `npm test` sets. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'NODE_OPTIONS' && !key.startsWith('VITEST')) env[key] = value;
  }
  return { ...env, ...extra };
}

/** What a finished command printed, and how it ended. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `command` to its end (bounded by `timeoutMs`, then killed) and collect its output. */
export async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Run a command that must succeed; its output is in the error when it does not. */
export async function runOk(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`.slice(0, 8000),
    );
  }
  return result;
}

/** The version of `name` the repository installed (so the scratch install finds it in the cache). */
export function installedVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
  return pkg.version as string;
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * `npm pack` the package from a staging copy: the files a publish would see, built by the
 * package's own `prepare` script, with the repository's node_modules linked in for the compiler.
 */
export async function packTarball(work: string): Promise<string> {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of [
    'package.json',
    'LICENSE',
    'README.md',
    'CHANGELOG.md',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    cpSync(join(ROOT, entry), join(stage, entry));
  }
  cpSync(join(ROOT, 'src'), join(stage, 'src'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
  // The staging copy is no workspace root: the bench workspace is not copied.
  const pkg = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'));
  delete pkg.workspaces;
  writeFileSync(join(stage, 'package.json'), JSON.stringify(pkg, null, 2));
  const out = join(work, 'tarball');
  mkdirSync(out);
  const { stdout } = await runOk('npm', ['pack', '--json', '--pack-destination', out], {
    cwd: stage,
    timeoutMs: 180_000,
  });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string }>;
  return join(out, info!.filename);
}

/** A scratch application with the tarball (and `extra` packages) installed from npm's cache first. */
export async function scratchApp(work: string, name: string, tarball: string, extra: string[] = []) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  await runOk(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...extra],
    { cwd: dir, timeoutMs: 180_000 },
  );
  return dir;
}

/** Remove a temporary directory. */
export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A started process whose JSON log lines are read as they come. */
export interface LoggingProcess {
  child: ChildProcess;
  /** Kill the wrapper and the process that logged (its `pid`), should a test fail half-way. */
  kill(): void;
  /** Resolves with the first line whose `msg` is `msg` (seen already, or to come). */
  line(msg: string): Promise<Record<string, unknown>>;
  /** Every line so far. */
  lines: Array<Record<string, unknown>>;
  /** Resolves when every holder of its stdout (the process and whatever it started) has exited. */
  closed: Promise<void>;
  stderr(): string;
}

/** Start a process that logs JSON lines on stdout (mesh-sidecar, directly or through a wrapper). */
export function startLogging(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): LoggingProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<{ msg: string; resolve: (line: Record<string, unknown>) => void }> = [];
  let err = '';
  let rest = '';
  child.stderr!.on('data', (d: Buffer) => (err += d));
  child.stdout!.on('data', (d: Buffer) => {
    rest += d;
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const text = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      for (const w of waiting.filter((w) => w.msg === line.msg)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const closed = new Promise<void>((resolve) => child.stdout!.on('close', () => resolve()));
  return {
    child,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const pid of new Set(lines.map((l) => l.pid))) {
        if (typeof pid === 'number' && alive(pid)) process.kill(pid, 'SIGKILL');
      }
    },
    lines,
    closed,
    stderr: () => err,
    line: (msg) =>
      new Promise((resolve) => {
        const seen = lines.find((l) => l.msg === msg);
        if (seen) resolve(seen);
        else waiting.push({ msg, resolve });
      }),
  };
}

/** True while `pid` is a live process (a zombie, exited but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
