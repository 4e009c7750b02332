/**
 * The HTML report: one self-contained file (inline CSS and SVG drawn here; no script, no CDN,
 * nothing fetched) with the comparison table, each approach's latency distribution (an HDR
 * percentile spectrum on a log scale, so the tail is visible), success over time with the
 * scenario's events marked, throughput over time, and the failures by error code.
 */
import type { ApproachResult } from '../harness/orchestrate.js';
import { fmt } from '../harness/stats.js';
import { comparisonRows } from './table.js';
import { verdict } from './verdict.js';

/** What the report says about the run besides the results. */
export interface ReportContext {
  title: string;
  subtitle: string;
  command: string;
  facts: Array<[string, string]>;
  notes: string[];
  /** Where "how to read this report" links: docs/compare.md, relative to the report's folder. */
  guide: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const W = 760;
const H = 300;
const PAD = { left: 64, right: 40, top: 16, bottom: 44 };

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

interface Axis {
  min: number;
  max: number;
  log?: boolean;
  ticks: Array<[number, string]>;
  title: string;
}

function scale(axis: Axis, from: number, to: number): (v: number) => number {
  const f = (v: number) => (axis.log ? Math.log10(Math.max(v, axis.min)) : v);
  const lo = f(axis.min);
  const hi = f(axis.max);
  const span = hi - lo || 1;
  return (v: number) => from + ((f(Math.min(Math.max(v, axis.min), axis.max)) - lo) / span) * (to - from);
}

/** A line chart as an inline SVG element. */
function lineChart(
  series: Series[],
  x: Axis,
  y: Axis,
  markers: Array<{ x: number; label: string }> = [],
): string {
  const sx = scale(x, PAD.left, W - PAD.right);
  const sy = scale(y, H - PAD.bottom, PAD.top);
  const parts: string[] = [];
  parts.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" class="plot"/>`,
  );
  for (const [v, label] of y.ticks) {
    const py = sy(v).toFixed(1);
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${py}" y2="${py}" class="grid"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${py}" class="ytick">${esc(label)}</text>`);
  }
  for (const [v, label] of x.ticks) {
    const px = sx(v).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${H - PAD.bottom + 16}" class="xtick">${esc(label)}</text>`);
  }
  parts.push(`<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 6}" class="axis">${esc(x.title)}</text>`);
  parts.push(
    `<text x="14" y="${(PAD.top + H - PAD.bottom) / 2}" class="axis" transform="rotate(-90 14 ${(PAD.top + H - PAD.bottom) / 2})">${esc(y.title)}</text>`,
  );
  markers.forEach((m, i) => {
    const px = sx(m.x).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="marker"/>`);
    parts.push(
      `<text x="${Number(px) + 4}" y="${PAD.top + 12 + 12 * (i % 4)}" class="mlabel">${esc(m.label)}</text>`,
    );
  });
  // Widest first, each later line narrower on top: lines that lie on each other (every approach at
  // 100% success) show as nested bands instead of the last one hiding the rest.
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points
      .map(([px, py], i) => `${i ? 'L' : 'M'}${sx(px).toFixed(1)},${sy(py).toFixed(1)}`)
      .join('');
    const width = 2 + 2.5 * (series.length - 1 - i);
    parts.push(
      `<path d="${d}" stroke="${s.color}" stroke-width="${width}" class="series"><title>${esc(s.name)}</title></path>`,
    );
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join('')}</svg>`;
}

function legend(series: Series[]): string {
  return `<div class="legend">${series
    .map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`)
    .join('')} <span class="sub">(drawn widest first, so lines that coincide stay visible)</span></div>`;
}

/** Log-scale ticks (1, 2, 5 per decade) between `min` and `max`. */
function logTicks(min: number, max: number, unit: (v: number) => string): Array<[number, string]> {
  const ticks: Array<[number, string]> = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min && v <= max) ticks.push([v, unit(v)]);
    }
  }
  return ticks;
}

function msLabel(v: number): string {
  if (v >= 1000) return `${v / 1000} s`;
  return `${Number(v.toPrecision(3))} ms`;
}

/** Percentile spectrum: x is log10(1 / (1 - p)), so 90, 99, 99.9 ... are evenly spaced. */
function latencyChart(results: readonly ApproachResult[]): string {
  const nines = (p: number) => Math.min(5, -Math.log10(Math.max(1e-5, 1 - p / 100)));
  const series = results.map((r, i) => ({
    name: r.label,
    color: COLORS[i % COLORS.length]!,
    points: r.curve.map(([p, ms]) => [nines(p), ms] as [number, number]),
  }));
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => v > 0);
  const min = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...values, 1))));
  const max = 10 ** Math.ceil(Math.log10(Math.max(...values, 1)));
  const x: Axis = {
    min: 0,
    max: 5,
    ticks: [
      [0, '0%'],
      [1, '90%'],
      [2, '99%'],
      [3, '99.9%'],
      [4, '99.99%'],
      [5, '99.999%'],
    ],
    title: 'percentile (requests at or below the latency)',
  };
  const y: Axis = { min, max, log: true, ticks: logTicks(min, max, msLabel), title: 'latency' };
  return lineChart(series, x, y) + legend(series);
}

function timeAxis(results: readonly ApproachResult[]): Axis {
  const end = Math.max(1, ...results.map((r) => r.windowMs / 1000));
  const step = end > 30 ? 10 : end > 10 ? 2 : end > 4 ? 1 : 0.5;
  const ticks: Array<[number, string]> = [];
  for (let t = 0; t <= end + 1e-9; t += step) ticks.push([t, `${Number(t.toFixed(1))} s`]);
  return { min: 0, max: end, ticks, title: 'time into the measured window' };
}

function markersOf(results: readonly ApproachResult[]) {
  return (results.find((r) => r.events.length > 0)?.events ?? []).map((e) => ({ x: e.t, label: e.label }));
}

/** Buckets inside the window only (the drain's stragglers would distort the rates). */
function windowBuckets(r: ApproachResult) {
  const bucketS = r.timeline.length > 1 ? r.timeline[1]!.t - r.timeline[0]!.t : r.windowMs / 1000;
  return { bucketS, buckets: r.timeline.filter((b) => b.t + bucketS <= r.windowMs / 1000 + 1e-6) };
}

function successChart(results: readonly ApproachResult[]): string {
  const series = results.map((r, i) => {
    const { bucketS, buckets } = windowBuckets(r);
    return {
      name: r.label,
      color: COLORS[i % COLORS.length]!,
      points: buckets
        .filter((b) => b.ok + b.failed > 0)
        .map((b) => [b.t + bucketS / 2, (100 * b.ok) / (b.ok + b.failed)] as [number, number]),
    };
  });
  const lowest = Math.min(100, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const min = lowest >= 90 ? 90 : lowest >= 50 ? 50 : 0;
  const ticks: Array<[number, string]> = [];
  const step = min === 90 ? 2 : 10;
  for (let v = min; v <= 100; v += step) ticks.push([v, `${v}%`]);
  const y: Axis = { min, max: 100, ticks, title: 'success per bucket' };
  return lineChart(series, timeAxis(results), y, markersOf(results)) + legend(series);
}

function throughputChart(results: readonly ApproachResult[]): string {
  const series = results.map((r, i) => {
    const { bucketS, buckets } = windowBuckets(r);
    return {
      name: r.label,
      color: COLORS[i % COLORS.length]!,
      points: buckets.map((b) => [b.t + bucketS / 2, (b.ok + b.failed) / bucketS] as [number, number]),
    };
  });
  const top = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const magnitude = 10 ** Math.floor(Math.log10(top));
  const max = Math.ceil(top / magnitude) * magnitude;
  const ticks: Array<[number, string]> = [];
  for (let v = 0; v <= max; v += max / 5) ticks.push([v, v.toFixed(0)]);
  const y: Axis = { min: 0, max, ticks, title: 'requests per second' };
  return lineChart(series, timeAxis(results), y, markersOf(results)) + legend(series);
}

function errorsTable(results: readonly ApproachResult[]): string {
  const rows = results
    .filter((r) => Object.keys(r.errors).length > 0)
    .map((r) => {
      const list = Object.entries(r.errors)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${esc(code)}: ${n}`)
        .join(', ');
      return `<tr><th>${esc(r.label)}</th><td class="l">${list}</td></tr>`;
    });
  return rows.length ? `<table>${rows.join('')}</table>` : '<p>No request failed.</p>';
}

/** The whole report as one HTML document. */
export function renderReport(results: readonly ApproachResult[], ctx: ReportContext): string {
  const { header, rows } = comparisonRows(results);
  const table = `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
  const facts = ctx.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td class="l">${esc(v)}</td></tr>`).join('');
  const notes = ctx.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(ctx.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:0}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:4px}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{text-align:left;font-weight:600}td.l{text-align:left;white-space:normal}
svg{display:block;max-width:100%;height:auto}.plot{fill:#fafafa;stroke:#ccc}.grid{stroke:#e4e4e4}
.marker{stroke:#999;stroke-dasharray:4 3}.mlabel{font-size:11px;fill:#555}
.series{fill:none;stroke-linejoin:round}.verdict li{margin:3px 0}.xtick{font-size:11px;text-anchor:middle;fill:#555}
.ytick{font-size:11px;text-anchor:end;dominant-baseline:middle;fill:#555}.axis{font-size:12px;text-anchor:middle;fill:#333}
.legend span{margin-right:16px;white-space:nowrap}.legend i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
</style></head><body>
<h1>${esc(ctx.title)}</h1><p class="sub">${esc(ctx.subtitle)}</p>
<h2>Verdict</h2><ul class="verdict">${verdict(results)
    .map((line) => `<li>${esc(line)}</li>`)
    .join('')}</ul>
<p><a href="${esc(ctx.guide)}">How to read this report</a> (docs/compare.md).</p>
<h2>Side by side</h2>${table}
<h2>Latency distribution</h2><p>Every request the caller made, failures included, as an HDR percentile spectrum: read a curve left to right from the median to the tail. Lower is better; a curve that shoots up at 99% means one request in a hundred was slow.</p>${latencyChart(results)}
<h2>Success over time</h2><p>Share of requests that succeeded, per time bucket; dashed lines mark what happened to the fleet.</p>${successChart(results)}
<h2>Throughput over time</h2>${throughputChart(results)}
<h2>Failures</h2>${errorsTable(results)}
<h2>Run</h2><table>${facts}<tr><th>command</th><td class="l"><code>${esc(ctx.command)}</code></td></tr></table>
<ul>${notes}</ul>
<p><a href="${esc(ctx.guide)}">How to read this report: docs/compare.md</a>. Figures: ${esc(fmt.int(results.length))} approaches, one after another, each with a fresh fleet and a fresh client process.</p>
</body></html>
`;
}
