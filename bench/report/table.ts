/**
 * The side-by-side table: one column per approach, one row per figure, as plain text for the
 * terminal and as markdown for docs/benchmarks.md. {@link TABLE_ROWS} is the single list of
 * what the table shows and how each figure is formatted; the HTML report uses it too.
 */
import type { ApproachResult } from '../harness/orchestrate.js';
import { fmt } from '../harness/stats.js';

/** One row of the table: a name, a one-line meaning (for docs), and the formatted cell. */
export interface TableRow {
  name: string;
  meaning: string;
  cell(r: ApproachResult): string;
}

function topError(r: ApproachResult): string {
  const entries = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return '-';
  const [code, count] = entries[0]!;
  return `${code} x${count}`;
}

function totalCpu(r: ApproachResult): number {
  return r.clientCpuUsPerRequest + (r.sidecarCpuUsPerRequest ?? 0);
}

export const TABLE_ROWS: TableRow[] = [
  {
    name: 'throughput',
    meaning: 'requests completed per second in the window',
    cell: (r) => fmt.rps(r.throughput),
  },
  {
    name: 'p50',
    meaning: 'median latency as the caller saw it (failures included)',
    cell: (r) => fmt.ms(r.latency.p50),
  },
  { name: 'p90', meaning: '90th percentile latency', cell: (r) => fmt.ms(r.latency.p90) },
  { name: 'p99', meaning: '99th percentile latency', cell: (r) => fmt.ms(r.latency.p99) },
  { name: 'max', meaning: 'slowest request', cell: (r) => fmt.ms(r.latency.max) },
  { name: 'success', meaning: 'share of requests that got a 2xx/3xx', cell: (r) => fmt.pct(r.successRate) },
  { name: 'requests', meaning: 'requests started in the window', cell: (r) => fmt.int(r.requests) },
  {
    name: 'retries',
    meaning: 'retries made by whoever delivers (fat client, mesh-sidecar, HAProxy); bare clients make none',
    cell: (r) => fmt.int(r.retries),
  },
  {
    name: 'upstream req/req',
    meaning: 'requests the fleet received per client request (load amplification)',
    cell: (r) => (r.amplification === undefined ? '-' : r.amplification.toFixed(2)),
  },
  {
    name: 'client CPU/req',
    meaning: 'client process CPU (user+system, process.cpuUsage) per request',
    cell: (r) => fmt.us(r.clientCpuUsPerRequest),
  },
  {
    name: 'sidecar CPU/req',
    meaning: 'sidecar process CPU (from /proc via pidusage) per request',
    cell: (r) => fmt.us(r.sidecarCpuUsPerRequest),
  },
  { name: 'total CPU/req', meaning: 'client + sidecar CPU per request', cell: (r) => fmt.us(totalCpu(r)) },
  {
    name: 'client RSS',
    meaning: 'peak resident memory of the client process',
    cell: (r) => fmt.mb(r.clientRssMb),
  },
  {
    name: 'sidecar RSS',
    meaning: 'peak resident memory of the sidecar process',
    cell: (r) => fmt.mb(r.sidecarRssMb),
  },
  { name: 'top error', meaning: 'the most frequent failure and its count', cell: topError },
];

/** Plain-text table, columns padded to their widest cell. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Markdown table; the first column left-aligned, the others right-aligned. */
export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replaceAll('|', '\\|');
  const head = `| ${header.map(esc).join(' | ')} |`;
  const align = `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  return [head, align, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** The comparison table: a row per figure, a column per approach. */
export function comparisonRows(results: readonly ApproachResult[]): { header: string[]; rows: string[][] } {
  return {
    header: ['', ...results.map((r) => r.label)],
    rows: TABLE_ROWS.map((row) => [row.name, ...results.map((r) => row.cell(r))]),
  };
}

/** The comparison table as terminal text. */
export function renderComparison(results: readonly ApproachResult[]): string {
  const { header, rows } = comparisonRows(results);
  return textTable(header, rows);
}
