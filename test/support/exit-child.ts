/**
 * Runs one of the `*-exit*.ts` scripts beside this file in a fresh Node process and returns the JSON
 * it prints last. Those scripts close what they opened and then report
 * `process.getActiveResourcesInfo()`, so the child must run nothing of its own in the background:
 * tsx's on-disk transform cache does (on first use it walks and prunes its cache directory with
 * callback-based fs requests, which show up as `FSReqCallback` when the directory is large), so the
 * cache is turned off for these children. Transforming without it costs well under a second.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `test/support/<script>` with tsx; resolves to the last line of its stdout, parsed. */
export async function runExitChild<T>(
  script: string,
  args: readonly string[] = [],
  options: { timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<T> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path, ...args], {
    timeout: options.timeout ?? 15_000,
    cwd: ROOT,
    env: { ...process.env, ...options.env, TSX_DISABLE_CACHE: '1' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}
