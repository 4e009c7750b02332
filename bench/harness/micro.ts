/**
 * Micro benchmarks, no network: what one balancer pick costs and what the mesh's own decision
 * costs per request, at 10, 1,000 and 10,000 endpoints. The benchmarks themselves live beside
 * the code they measure (`src/balance/pick.bench.ts`, `src/mesh/decision.bench.ts`) and run
 * under `vitest bench`; this runs them in a child process and reads its JSON report. Each figure
 * is the median iteration time (robust to the odd GC pause), and a decision's cost is the
 * pipeline's median minus the bare transport's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './build.js';

export const SIZES = [10, 1_000, 10_000];
/** Picks per iteration of the pick benchmark. */
const PICKS = 1_024;

export interface PickFigure {
  balancer: string;
  endpoints: number;
  nsPerPick: number;
}

export interface DecisionFigure {
  balancer: string;
  endpoints: number;
  /** Pipeline minus bare transport, µs per request. */
  usPerRequest: number;
  /** Pipeline over the instant transport, µs per request. */
  grossUs: number;
  /** The instant transport alone, µs per request. */
  baselineUs: number;
}

export interface MicroResults {
  picks: PickFigure[];
  decisions: DecisionFigure[];
}

interface BenchJson {
  files: Array<{ groups: Array<{ fullName: string; benchmarks: Array<{ name: string; median: number }> }> }>;
}

const BENCH_FILES = ['src/balance/pick.bench.ts', 'src/mesh/decision.bench.ts'];

/** Every pick and decision figure; `quick` runs each benchmark for a shorter time. */
export async function runMicro(
  quick: boolean,
  onProgress: (text: string) => void = () => undefined,
): Promise<MicroResults> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-micro-'));
  const out = join(dir, 'bench.json');
  try {
    onProgress('vitest bench');
    await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'bench', '--run', '--outputJson', out, ...BENCH_FILES],
      { cwd: ROOT, env: { ...process.env, MESH_BENCH_QUICK: quick ? '1' : '' }, maxBuffer: 64 * 1024 * 1024 },
    );
    return figures(JSON.parse(readFileSync(out, 'utf8')) as BenchJson);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function figures(json: BenchJson): MicroResults {
  const medians = new Map<string, number>();
  for (const file of json.files) {
    for (const group of file.groups) {
      const name = group.fullName.split(' > ').at(-1)!;
      for (const b of group.benchmarks) medians.set(`${name} / ${b.name}`, b.median);
    }
  }
  const ms = (key: string) => {
    const value = medians.get(key);
    if (value === undefined) throw new Error(`vitest bench reported no "${key}"`);
    return value;
  };
  const baselineUs = ms('transport alone / instant transport') * 1000;
  const picks: PickFigure[] = [];
  const decisions: DecisionFigure[] = [];
  for (const key of medians.keys()) {
    const match = /^(pick|decision) (\S+) \/ (\d+) endpoints$/.exec(key);
    if (!match) continue;
    const [, kind, balancer, n] = match as unknown as [string, string, string, string];
    const endpoints = Number(n);
    if (kind === 'pick') picks.push({ balancer, endpoints, nsPerPick: (ms(key) * 1e6) / PICKS });
    else {
      const grossUs = ms(key) * 1000;
      decisions.push({ balancer, endpoints, grossUs, baselineUs, usPerRequest: grossUs - baselineUs });
    }
  }
  return { picks, decisions };
}
