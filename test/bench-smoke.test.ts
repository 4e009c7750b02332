/**
 * `npm run demo -- --quick` and `npm run bench -- --quick` end to end, in a child process as a
 * user runs them: the demo must print the side-by-side table (the floor proxy among the
 * approaches) and write a self-contained HTML report and the JSON behind it; the bench must
 * measure the floor beside mesh-sidecar, the proxies' memory, start-up and scaling, and render
 * them into the markdown report. Only the structure is checked, never speed: this runs on
 * loaded CI machines.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type BenchReport, keepSections, renderMarkdown } from '../bench/report/markdown.js';
import { haproxyInstalled } from '../testkit/haproxy.js';

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
    for (const approach of ['bare axios', 'fat client', 'mesh-sidecar', 'bare Node proxy (floor)'])
      expect(header).toContain(approach);
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
      expect.arrayContaining(['bare axios', 'fat client', 'mesh-sidecar', 'bare Node proxy (floor)']),
    );
    for (const r of json.results) {
      expect(r.requests).toBeGreaterThan(0);
      expect(r.latency.p50).toBeGreaterThan(0);
      expect(r.timeline.length).toBeGreaterThan(0);
    }
  }, 150_000);
});

describe('npm run bench -- --quick (overhead, startup and scaling parts)', () => {
  it('measures the floor proxy beside mesh-sidecar and renders the proxy sections', async () => {
    const dir = join(out, 'bench');
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        '--quick',
        '--no-docs',
        '--parts',
        'overhead,startup,scaling',
        '--out',
        dir,
      ],
      { cwd: root, timeout: 300_000, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 },
    );
    const report = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchReport;
    const proxies = haproxyInstalled()
      ? ['mesh-sidecar', 'node-proxy', 'haproxy']
      : ['mesh-sidecar', 'node-proxy'];

    // The floor runs in the overhead part at both concurrencies, its CPU read like the others'.
    for (const c of [1, 32]) {
      const floor = report.overhead.find((o) => o.concurrency === c && o.result.approach === 'node-proxy');
      expect(floor?.result.requests).toBeGreaterThan(0);
      expect(floor?.result.successRate).toBeGreaterThanOrEqual(0.99);
      expect(floor?.result.sidecarCpuUsPerRequest).toBeGreaterThanOrEqual(0);
      expect(floor?.result.sidecarRssMb).toBeGreaterThan(0);
    }
    expect(report.memory?.map((m) => m.approach)).toEqual(proxies);
    for (const m of report.memory ?? []) {
      for (const mb of [m.idleMb, m.warmMb, m.endMb, m.peakMb]) expect(mb).toBeGreaterThan(0);
    }
    expect(report.startup?.map((s) => s.approach)).toEqual(proxies);
    for (const s of report.startup ?? []) {
      expect(s.readyMs).toBeGreaterThan(0);
      expect(s.pollAttempts).toBeGreaterThanOrEqual(1);
      expect(s.perSecond).toHaveLength(report.settings.startup!.seconds);
      expect(s.firstSecond).toBeGreaterThan(0);
      expect(s.steadyRps).toBeGreaterThan(0);
    }
    const scaling = report.scaling!;
    expect(scaling.concurrency).toBe(64);
    const settings = scaling.rows.map((r) => `${r.approach}: ${r.setting}`);
    if (scaling.sidecarWorkers) expect(settings).toContain('mesh-sidecar: 2 workers');
    else expect(scaling.notes.join('\n')).toMatch(/2 workers: not measured/);
    if (haproxyInstalled())
      expect(settings).toEqual(expect.arrayContaining(['haproxy: nbthread 1', 'haproxy: nbthread 2']));
    for (const r of scaling.rows) {
      expect(r.rounds).toBeGreaterThan(0);
      expect(r.throughput).toBeGreaterThan(0);
    }

    const targets = report.targets.map((t) => t.target);
    for (const target of [
      /mesh-sidecar CPU per request <= 1.3x the bare Node proxy's \(concurrency 1\)/,
      /mesh-sidecar CPU per request <= 1.3x the bare Node proxy's \(concurrency 32\)/,
      /mesh-sidecar throughput >= 80% of the bare Node proxy's \(concurrency 32\)/,
      /mesh-sidecar RSS <= the bare Node proxy's \+ 20 MB/,
      /mesh-sidecar RSS flat under load/,
      /fat client >= 95% of bare throughput .*concurrency 32/,
      /mesh decision cost <= 5 µs/,
    ]) {
      expect(targets.some((t) => target.test(t))).toBe(true);
    }
    // Measured in this run: a verdict, not n/a (the micro part did not run: that one is n/a).
    for (const t of report.targets.filter((t) => /bare Node proxy/.test(t.target)))
      expect(typeof t.pass).toBe('boolean');
    expect(report.targets.find((t) => /decision cost <= 5/.test(t.target))?.pass).toBeUndefined();

    const md = renderMarkdown(report);
    for (const heading of ['### Proxy memory', '## Startup and warm-up', '## Scaling over cores'])
      expect(md).toContain(`\n${heading}\n`);
    expect(md).toMatch(/^\| bare Node proxy \(floor\) \| 32 \|/m);
    expect(md).toMatch(/^\| mesh-sidecar \| \d+ ms \| \d+ ms \|/m);
    expect(md).toContain('"workers": N');
  }, 330_000);
});

describe('keepSections', () => {
  it('carries over what other commands wrote, into its slot or else at the end', () => {
    const previous = [
      '# old',
      '<!-- simulation:start -->\nsim table $& $1\n<!-- simulation:end -->',
      '<!-- soak:start -->\n## Soak\nsoak table\n<!-- soak:end -->',
      '<!-- mtls:start -->\n## mTLS\nhandshake\n<!-- mtls:end -->',
      '<!-- other:start -->\nkept anyway\n<!-- other:end -->',
    ].join('\n');
    const fresh =
      '# new\n<!-- simulation:start -->\n<!-- simulation:end -->\nmiddle\n<!-- soak:start -->\n<!-- soak:end -->\n<!-- mtls:start -->\n<!-- mtls:end -->\n';
    const merged = keepSections(fresh, previous);
    expect(merged).toContain('# new');
    expect(merged).not.toContain('# old');
    expect(merged).toContain('<!-- simulation:start -->\nsim table $& $1\n<!-- simulation:end -->\nmiddle');
    expect(merged).toContain('## Soak\nsoak table');
    expect(merged).toContain('## mTLS\nhandshake');
    expect(merged.trimEnd().endsWith('<!-- other:start -->\nkept anyway\n<!-- other:end -->')).toBe(true);
  });
});
