/**
 * `npm run bench`: the demo's machinery, scripted. Three parts, all in one run:
 *
 * - overhead: bare axios vs the fat client vs mesh-sidecar vs HAProxy as sidecar (and bare undici,
 *   and the fat client over undici when MeshClient offers it), healthy fleet, concurrency 1 and
 *   32, interleaved rounds; reported as ratios to bare axios plus absolute figures;
 * - resilience: one stalled / dead / 503 endpoint of three, total outage (with and without the
 *   retry budget), registry churn; per approach and per balancer;
 * - micro: balancer pick and the mesh's decision cost per request at 10 / 1,000 / 10,000 endpoints.
 *
 * Writes bench/results/bench.json and docs/benchmarks.md (every target, pass or fail).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { capabilities, commandLine, machineFacts, parseCommon } from './harness/cli.js';
import { Fleet } from './harness/fleet.js';
import { runMicro } from './harness/micro.js';
import { type ApproachResult, type ApproachRun, runApproach } from './harness/orchestrate.js';
import { ROOT, releaseUsage } from './harness/processes.js';
import { Progress } from './harness/progress.js';
import { APPROACH_LABELS, type ApproachKind } from './harness/protocol.js';
import { type ProxyHandle, startProxy, warmProxy } from './harness/proxies.js';
import { evaluateTargets } from './report/analysis.js';
import { keepSections, renderMarkdown } from './report/markdown.js';
import {
  BALANCERS,
  churnScenario,
  DEAD,
  DEFAULT_MIX,
  defaultPolicy,
  FAILING,
  HEALTHY,
  haproxyFor,
  OUTAGE,
  type Policy,
  resiliencePolicy,
  type Scenario,
  SERVICE,
  STALLED,
} from './scenarios/scenarios.js';

const USAGE = `Usage: npm run bench -- [options]

Overhead, resilience and micro benchmarks in one run; writes bench/results/bench.json and
docs/benchmarks.md.

Options:
  -q, --quick          seconds instead of minutes (figures are then rough)
  -d, --duration <s>   seconds measured per resilience run (default 1.5; overhead 2, outage 4)
  -o, --out <dir>      where bench.json goes (default bench/results)
      --no-docs        do not rewrite docs/benchmarks.md
  -h, --help           this help`;

const argv = process.argv.slice(2);
const writeDocs = !argv.includes('--no-docs');
const args = parseCommon(
  argv.filter((a) => a !== '--no-docs'),
  USAGE,
);
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const started = performance.now();
const caps = capabilities();
// Read now: the load average at the start, and the sidecar's JS build made before any run.
const machine = machineFacts();
const quick = args.quick;
const progress = new Progress();
const notes: string[] = [];
const haproxy = caps.haproxy !== undefined;
if (!haproxy) notes.push('HAProxy is not installed: its columns are missing (apt-get install haproxy).');
if (!caps.undiciTransport) {
  notes.push(
    "MeshClient does not accept transport: 'undici' yet, so 'fat client (undici transport)' is not measured; bare undici is, as its future baseline.",
  );
}

interface MeasureOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  shared?: ApproachRun['shared'];
  proxyWarmupMs?: number;
}

async function measure(
  label: string,
  approach: ApproachKind,
  scenario: Scenario,
  policy: Policy,
  o: MeasureOptions,
): Promise<ApproachResult | undefined> {
  try {
    return await runApproach({
      label,
      approach,
      service: SERVICE,
      policy,
      load: {
        concurrency: o.concurrency,
        durationMs: o.durationMs,
        warmupMs: o.warmupMs,
        requests: DEFAULT_MIX,
      },
      scenario,
      shared: o.shared,
      proxyWarmupMs: o.proxyWarmupMs,
      line: progress.begin(label),
    });
  } catch (err) {
    notes.push(`${label} (${scenario.id}) failed: ${(err as Error).message}`);
    return undefined;
  }
}

// --- micro (first, while this process is fresh and nothing else runs) -------------------------
progress.heading('micro: balancer pick and decision cost per request');
const microLine = progress.begin('micro');
const micro = await runMicro(quick, (text) => microLine.status(text));
microLine.done(`${micro.picks.length} pick and ${micro.decisions.length} decision figures`);

// --- overhead ---------------------------------------------------------------------------------
// One healthy fleet, one mesh-sidecar and one HAProxy for every overhead run, warmed up first:
// long-lived, as sidecars are in production. Each run still gets a fresh client process.
const overheadApproaches: ApproachKind[] = [
  'bare-axios',
  'fat-client',
  'bare-undici',
  ...(caps.undiciTransport ? (['fat-client-undici'] as const) : []),
  'mesh-sidecar',
  ...(haproxy ? (['haproxy'] as const) : []),
];
const overheadMs = quick ? 800 : 2_000;
const overheadWarmupMs = quick ? 300 : 1_500;
const proxyWarmupMs = quick ? 500 : 6_000;
const rounds = quick ? 1 : 2;
const overhead: Array<{ concurrency: number; round: number; result: ApproachResult }> = [];
{
  const policy = defaultPolicy();
  const fleet = await Fleet.start(HEALTHY.fleet);
  const proxies: Partial<Record<ApproachKind, ProxyHandle>> = {};
  try {
    progress.heading(
      `overhead: starting and warming mesh-sidecar${haproxy ? ' and HAProxy' : ''} (${proxyWarmupMs / 1000} s each)`,
    );
    const kinds: Array<'mesh-sidecar' | 'haproxy'> = haproxy ? ['mesh-sidecar', 'haproxy'] : ['mesh-sidecar'];
    for (const kind of kinds) {
      const proxy = await startProxy(kind, SERVICE, fleet.urls, policy.options, haproxyFor(policy));
      proxies[kind] = proxy;
      await warmProxy(proxy, SERVICE, DEFAULT_MIX, proxyWarmupMs, 8);
    }
    for (const concurrency of [1, 32]) {
      for (let round = 1; round <= rounds; round++) {
        progress.heading(`overhead: concurrency ${concurrency}, round ${round} of ${rounds}`);
        for (const approach of overheadApproaches) {
          const r = await measure(APPROACH_LABELS[approach], approach, HEALTHY, policy, {
            concurrency,
            durationMs: overheadMs,
            warmupMs: overheadWarmupMs,
            shared: { fleet, proxies },
          });
          if (r) overhead.push({ concurrency, round, result: r });
        }
      }
    }
  } finally {
    for (const proxy of Object.values(proxies)) await proxy.stop().catch(() => undefined);
    await fleet.close();
  }
}

// --- resilience -------------------------------------------------------------------------------
const runMs = 1000 * (args.duration ?? (quick ? 1 : 1.5));
const warmMs = quick ? 300 : 500;
const concurrency = args.concurrency ?? 16;
const resilience: Array<{ scenario: string; title: string; description: string; results: ApproachResult[] }> =
  [];

const outageMs = quick ? runMs : Math.max(runMs, 4_000);

async function scenario(
  s: Scenario,
  runs: Array<[string, ApproachKind, Policy]>,
  durationMs = runMs,
): Promise<void> {
  progress.heading(`resilience: ${s.title}`);
  const results: ApproachResult[] = [];
  for (const [label, approach, policy] of runs) {
    if (approach === 'haproxy' && !haproxy) continue;
    const r = await measure(label, approach, s, policy, {
      concurrency,
      durationMs,
      warmupMs: warmMs,
      proxyWarmupMs: quick ? 0 : 1_000,
    });
    if (r) results.push(r);
  }
  resilience.push({ scenario: s.id, title: s.title, description: s.description, results });
}

// --quick: the default balancer only, so the run takes about a minute.
const balancers = quick ? BALANCERS.slice(0, 1) : BALANCERS;
const perBalancer = (approach: ApproachKind, name: string) =>
  balancers.map((b): [string, ApproachKind, Policy] => [`${name} (${b})`, approach, resiliencePolicy(b)]);
const baselines: Array<[string, ApproachKind, Policy]> = [
  ['bare axios', 'bare-axios', resiliencePolicy()],
  ['HAProxy sidecar', 'haproxy', resiliencePolicy()],
];
await scenario(STALLED, [
  ...baselines,
  ...perBalancer('fat-client', 'fat client'),
  ...perBalancer('mesh-sidecar', 'mesh-sidecar'),
]);
for (const s of [DEAD, FAILING]) {
  await scenario(s, [
    ...baselines,
    ...perBalancer('fat-client', 'fat client'),
    ['mesh-sidecar (peak-ewma)', 'mesh-sidecar', resiliencePolicy('peak-ewma')],
  ]);
}
// Longer: amplification is a steady-state figure (the budget's per-second reserve weighs less).
await scenario(
  OUTAGE,
  [
    ...baselines,
    ['fat client, retry budget', 'fat-client', resiliencePolicy('peak-ewma', true)],
    ['fat client, no budget', 'fat-client', resiliencePolicy('peak-ewma', false)],
    ['mesh-sidecar, retry budget', 'mesh-sidecar', resiliencePolicy('peak-ewma', true)],
    ['mesh-sidecar, no budget', 'mesh-sidecar', resiliencePolicy('peak-ewma', false)],
  ],
  outageMs,
);
await scenario(churnScenario(quick ? 200 : 250), [
  ['bare axios (list updated by hand)', 'bare-axios', resiliencePolicy()],
  ...perBalancer('fat-client', 'fat client'),
]);

releaseUsage();

// --- output -----------------------------------------------------------------------------------
const command = commandLine('bench', argv);
const facts: Array<[string, string]> = [
  ...machine,
  [
    'load average at end',
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  ],
];
const settings = {
  overhead: {
    durationMs: overheadMs,
    warmupMs: overheadWarmupMs,
    proxyWarmupMs,
    rounds,
    concurrency: [1, 32],
    policy: 'library defaults',
  },
  resilience: {
    durationMs: runMs,
    outageMs,
    warmupMs: warmMs,
    concurrency,
    policy: resiliencePolicy().options,
  },
  quick,
};
const targets = evaluateTargets(overhead, resilience, micro);
const elapsedS = (performance.now() - started) / 1000;
const report = {
  command,
  facts: Object.fromEntries(facts),
  settings,
  notes,
  targets,
  overhead,
  resilience,
  micro,
  elapsedS,
};
const jsonPath = join(args.out, 'bench.json');
writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
if (writeDocs) {
  const file = join(ROOT, 'docs', 'benchmarks.md');
  // Sections other commands write (the balancing simulation, the soak) are kept as they were.
  writeFileSync(file, keepSections(renderMarkdown(report), readFileSync(file, 'utf8')));
}

progress.heading('targets');
for (const t of targets)
  progress.say(`${t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.measured}`);
for (const n of notes) progress.say(`note: ${n}`);
progress.say(
  `\n${jsonPath}${writeDocs ? ' and docs/benchmarks.md written' : ''} (${elapsedS.toFixed(0)} s in all)`,
);
process.exit(0);
