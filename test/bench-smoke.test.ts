/**
 * `npm run demo -- --quick` end to end, in a child process as a user runs it: it must print the
 * side-by-side table and write a self-contained HTML report and the JSON behind it. Only the
 * structure is checked, never speed: this runs on loaded CI machines.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'mesh-demo-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run demo -- --quick', () => {
  it('prints the side-by-side table and writes the report', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/demo.ts', '--quick', '--duration', '1', '--out', out],
      // SIGTERM on timeout: the demo then kills the sidecar, HAProxy and driver processes it started.
      { cwd: root, timeout: 120_000, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 },
    );

    expect(stdout).toContain('Side by side');
    const table = stdout.slice(stdout.indexOf('Side by side'));
    const header = table.split('\n')[1] ?? '';
    for (const approach of ['bare axios', 'fat client', 'mesh-sidecar']) expect(header).toContain(approach);
    for (const row of [
      'throughput',
      'p50',
      'p90',
      'p99',
      'max',
      'success',
      'retries',
      'client CPU/req',
      'sidecar CPU/req',
      'client RSS',
    ]) {
      expect(table).toMatch(new RegExp(`^${row}\\s{2,}\\S`, 'm'));
    }
    expect(stdout).toMatch(/report: .*report\.html/);

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)?.length).toBeGreaterThanOrEqual(3);
    expect(html).toContain('Latency distribution');
    expect(html).toContain('Success over time');
    // Self-contained: nothing to fetch, no script.
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link/);

    const json = JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8')) as {
      results: Array<{ label: string; requests: number; latency: { p50: number }; timeline: unknown[] }>;
    };
    expect(json.results.map((r) => r.label)).toEqual(
      expect.arrayContaining(['bare axios', 'fat client', 'mesh-sidecar']),
    );
    for (const r of json.results) {
      expect(r.requests).toBeGreaterThan(0);
      expect(r.latency.p50).toBeGreaterThan(0);
      expect(r.timeline.length).toBeGreaterThan(0);
    }
  }, 150_000);
});
