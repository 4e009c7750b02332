/**
 * The verdict of a comparison run, in words: which approach won on what (success, tail latency,
 * throughput), by how much against the runner-up and the no-mesh baseline, and what failed. The
 * HTML report opens with it and the demo prints it under the table, so a reader knows what the
 * run showed before reading a chart.
 */
import type { ApproachResult } from '../harness/orchestrate.js';
import { fmt } from '../harness/stats.js';

const pct = (rate: number) => `${(100 * rate).toFixed(rate > 0.999 && rate < 1 ? 2 : 1)}%`;
const ms = (v: number) => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`);

/** `a` against `b` as a factor ("3.2x") or, when close, a percentage ("8% less"). */
function ratio(better: number, worse: number, lowerIsBetter: boolean): string {
  if (better <= 0 || worse <= 0) return '';
  const factor = lowerIsBetter ? worse / better : better / worse;
  if (factor >= 1.5) return `${factor.toFixed(1)}x ${lowerIsBetter ? 'lower' : 'higher'}`;
  return `${((factor - 1) * 100).toFixed(0)}% ${lowerIsBetter ? 'lower' : 'higher'}`;
}

/** The best result by `key`, and the runner-up. */
function ranked(
  results: readonly ApproachResult[],
  key: (r: ApproachResult) => number,
  lowerIsBetter: boolean,
) {
  const sorted = [...results].sort((a, b) => (lowerIsBetter ? key(a) - key(b) : key(b) - key(a)));
  return { best: sorted[0]!, next: sorted[1] };
}

/** The verdict, one sentence per line. */
export function verdict(results: readonly ApproachResult[]): string[] {
  if (results.length === 0) return ['No approach produced a result.'];
  const lines: string[] = [];
  const baseline = results.find((r) => r.approach === 'bare-axios');
  const against = (
    best: ApproachResult,
    value: (r: ApproachResult) => number,
    lower: boolean,
    show: (v: number) => string,
  ) => {
    const others = [ranked(results, value, lower).next, baseline].filter(
      (r, i, all): r is ApproachResult => r !== undefined && r !== best && all.indexOf(r) === i,
    );
    return others
      .map(
        (r) =>
          `${r.label} ${show(value(r))}${ratio(value(best), value(r), lower) ? `, ${ratio(value(best), value(r), lower)}` : ''}`,
      )
      .join('; ');
  };

  const success = ranked(results, (r) => r.successRate, false);
  const tied = results.filter((r) => r.successRate === success.best.successRate);
  const successLine =
    tied.length > 1
      ? `Success: ${tied.map((r) => r.label).join(', ')} tied at ${pct(success.best.successRate)} of requests`
      : `Success: ${success.best.label} won with ${pct(success.best.successRate)} of requests succeeding`;
  const successOthers = results
    .filter((r) => !tied.includes(r))
    .map((r) => `${r.label} ${pct(r.successRate)}`)
    .join(', ');
  lines.push(`${successLine}${successOthers ? ` (${successOthers})` : ''}.`);

  const p99 = ranked(results, (r) => r.latency.p99, true);
  const p99Others = against(p99.best, (r) => r.latency.p99, true, ms);
  lines.push(
    `Tail latency: ${p99.best.label} had the lowest p99, ${ms(p99.best.latency.p99)}${p99Others ? ` (${p99Others})` : ''}.`,
  );

  const tput = ranked(results, (r) => r.throughput, false);
  const rps = (v: number) => `${fmt.int(v)} req/s`;
  const tputOthers = against(tput.best, (r) => r.throughput, false, rps);
  lines.push(
    `Throughput: ${tput.best.label} was highest, ${rps(tput.best.throughput)}${tputOthers ? ` (${tputOthers})` : ''}.`,
  );

  const failing = results.filter((r) => r.failed > 0);
  if (failing.length === 0) lines.push('Failures: no approach failed a request.');
  for (const r of failing) {
    const [code, n] = Object.entries(r.errors).sort((a, b) => b[1] - a[1])[0] ?? ['unknown', r.failed];
    lines.push(
      `Failures: ${r.label} failed ${fmt.int(r.failed)} of ${fmt.int(r.requests)} requests, mostly ${code} (${fmt.int(n)}).`,
    );
  }
  return lines;
}
