/**
 * The demo report opens with its verdict in words, keeps coinciding lines visible, and links its
 * guide. Results shaped as a `--quick` demo run produces them (figures from one such run).
 */
import { describe, expect, it } from 'vitest';
import type { ApproachResult } from '../bench/harness/orchestrate.js';
import { renderReport } from '../bench/report/html.js';
import { verdict } from '../bench/report/verdict.js';

function result(
  label: string,
  approach: string,
  successRate: number,
  p99: number,
  throughput: number,
  errors: Record<string, number> = {},
): ApproachResult {
  const failed = Object.values(errors).reduce((a, b) => a + b, 0);
  const requests = 1000;
  return {
    label,
    approach,
    successRate,
    throughput,
    requests,
    ok: requests - failed,
    failed,
    errors,
    windowMs: 4000,
    latency: { p50: p99 / 4, p90: p99 / 2, p99, p999: p99, max: p99, mean: p99 / 3 },
    curve: [
      [50, p99 / 4],
      [99, p99],
    ],
    timeline: [0, 1, 2, 3].map((t) => ({ t, ok: 250 - failed / 4, failed: failed / 4 })),
    events: [{ t: 2, label: 'd dies' }],
  } as unknown as ApproachResult;
}

const RESULTS = [
  result('bare axios', 'bare-axios', 0.9487, 264.7, 600.5, {
    'HTTP 503': 24,
    ECONNREFUSED: 22,
    ECONNRESET: 1,
  }),
  result('fat client', 'fat-client', 1, 21.7, 2366.8),
  result('mesh-sidecar', 'mesh-sidecar', 1, 344.8, 313.7),
];

describe('the verdict', () => {
  it('says who won on what, by how much, and what failed', () => {
    expect(verdict(RESULTS)).toEqual([
      'Success: fat client, mesh-sidecar tied at 100.0% of requests (bare axios 94.9%).',
      'Tail latency: fat client had the lowest p99, 21.7 ms (bare axios 265 ms, 12.2x lower).',
      'Throughput: fat client was highest, 2367 req/s (bare axios 601 req/s, 3.9x higher).',
      'Failures: bare axios failed 47 of 1000 requests, mostly HTTP 503 (24).',
    ]);
  });

  it('opens the HTML report, with a link to the guide and every success line visible', () => {
    const html = renderReport(RESULTS, {
      title: 't',
      subtitle: 's',
      command: 'npm run demo',
      facts: [],
      notes: [],
      guide: '../../docs/compare.md',
    });
    expect(html.indexOf('<h2>Verdict</h2>')).toBeLessThan(html.indexOf('<h2>Side by side</h2>'));
    expect(html).toContain('<li>Tail latency: fat client had the lowest p99, 21.7 ms');
    expect(html).toContain('<a href="../../docs/compare.md">How to read this report</a>');
    // Lines drawn widest first: two approaches at 100% do not hide each other.
    const widths = [...html.matchAll(/stroke-width="([\d.]+)" class="series"><title>([^<]+)</g)].map((m) => [
      m[2],
      Number(m[1]),
    ]);
    const success = widths.slice(3, 6);
    expect(success.map(([name]) => name)).toEqual(['bare axios', 'fat client', 'mesh-sidecar']);
    expect(new Set(success.map(([, w]) => w)).size).toBe(3);
  });
});
