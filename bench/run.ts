/**
 * `npm run bench`: the demo's machinery, scripted. Five parts, all in one run:
 *
 * - overhead: bare axios vs the fat client vs mesh-sidecar vs the bare Node proxy (the floor) vs
 *   HAProxy as sidecar (and bare undici, and the fat client over undici when MeshClient offers
 *   it), healthy fleet, concurrency 1 and 32, interleaved rounds; reported as ratios to bare
 *   axios plus absolute figures, and each proxy's RSS idle, warmed up and after the runs;
 * - startup: each proxy spawned cold, timed to its first proxied request, then driven at once:
 *   its first second against its steady state;
 * - scaling: concurrency 64 through mesh-sidecar with 1 and 2 workers (when it has the option)
 *   and HAProxy with 1 and 2 threads;
 * - resilience: one stalled / dead / 503 endpoint of three, total outage (with and without the
 *   retry budget), registry churn; per approach and per balancer;
 * - micro: balancer pick and the mesh's decision cost per request at 10 / 1,000 / 10,000 endpoints.
 *
 * Writes bench/results/bench.json and docs/benchmarks.md (every target, pass or fail).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { capabilities, commandLine, fail, machineFacts, parseCommon } from './harness/cli.js';
import { Fleet } from './harness/fleet.js';
import {
  closeMemory,
  type MemoryFigure,
  measureStartup,
  rssMb,
  type StartupFigure,
} from './harness/lifecycle.js';
import { type MicroResults, runMicro } from './harness/micro.js';
import { type ApproachResult, type ApproachRun, runApproach } from './harness/orchestrate.js';
import { ROOT, releaseUsage } from './harness/processes.js';
import { Progress } from './harness/progress.js';
import { APPROACH_LABELS, type ApproachKind } from './harness/protocol.js';
import { type ProxyHandle, type ProxyKind, startProxy, warmProxy } from './harness/proxies.js';
import { measureScaling, type ScalingResult } from './harness/scaling.js';
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

const PARTS = ['micro', 'overhead', 'startup', 'scaling', 'resilience'] as const;

const USAGE = `Usage: npm run bench -- [options]

Micro, overhead, startup, scaling and resilience benchmarks in one run; writes
bench/results/bench.json and docs/benchmarks.md.

Options:
  -q, --quick          seconds instead of minutes (figures are then rough)
  -d, --duration <s>   seconds measured per resilience run (default 1.5; overhead 2, outage 4)
  -o, --out <dir>      where bench.json goes (default bench/results)
      --parts <list>   only these of ${PARTS.join(',')}
                       (with --no-docs; the others show as not measured)
      --no-docs        do not rewrite docs/benchmarks.md
  -h, --help           this help`;

const argv = process.argv.slice(2);
const writeDocs = !argv.includes('--no-docs');
const partsAt = argv.indexOf('--parts');
const partList = partsAt >= 0 ? (argv[partsAt + 1] ?? '').split(',').map((p) => p.trim()) : [...PARTS];
const unknownParts = partList.filter((p) => !(PARTS as readonly string[]).includes(p));
if (unknownParts.length || partList.length === 0)
  fail(`--parts: one or more of ${PARTS.join(', ')}\n\n${USAGE}`);
const parts = new Set(partList);
const args = parseCommon(
  argv.filter((a, i) => a !== '--no-docs' && i !== partsAt && (partsAt < 0 || i !== partsAt + 1)),
  USAGE,
);
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (writeDocs && parts.size < PARTS.length) fail('--parts leaves figures out: use it with --no-docs');

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
let micro: MicroResults = { picks: [], decisions: [] };
if (parts.has('micro')) {
  progress.heading('micro: balancer pick and decision cost per request');
  const microLine = progress.begin('micro');
  micro = await runMicro(quick, (text) => microLine.status(text));
  microLine.done(`${micro.picks.length} pick and ${micro.decisions.length} decision figures`);
}

// --- overhead ---------------------------------------------------------------------------------
// One healthy fleet, one mesh-sidecar, one floor and one HAProxy for every overhead run, warmed
// up first: long-lived, as sidecars are in production. Each run still gets a fresh client process.
const proxyKinds: ProxyKind[] = ['mesh-sidecar', 'node-proxy', ...(haproxy ? (['haproxy'] as const) : [])];
const overheadApproaches: ApproachKind[] = [
  'bare-axios',
  'fat-client',
  'bare-undici',
  ...(caps.undiciTransport ? (['fat-client-undici'] as const) : []),
  ...proxyKinds,
];
const overheadMs = quick ? 800 : 2_000;
const overheadWarmupMs = quick ? 300 : 1_500;
const proxyWarmupMs = quick ? 500 : 6_000;
const rounds = quick ? 1 : 2;
const overhead: Array<{ concurrency: number; round: number; result: ApproachResult }> = [];
const memory: MemoryFigure[] = [];
if (parts.has('overhead')) {
  const policy = defaultPolicy();
  const fleet = await Fleet.start(HEALTHY.fleet);
  const proxies: Partial<Record<ApproachKind, ProxyHandle>> = {};
  try {
    progress.heading(
      `overhead: starting and warming ${proxyKinds.map((k) => APPROACH_LABELS[k]).join(', ')} (${proxyWarmupMs / 1000} s each)`,
    );
    for (const kind of proxyKinds) {
      const proxy = await startProxy(kind, SERVICE, fleet.urls, policy.options, haproxyFor(policy));
      proxies[kind] = proxy;
      const idleMb = await rssMb(proxy);
      await warmProxy(proxy, SERVICE, DEFAULT_MIX, proxyWarmupMs, 8);
      const warmMb = await rssMb(proxy);
      memory.push({
        approach: kind,
        label: APPROACH_LABELS[kind],
        idleMb,
        warmMb,
        endMb: undefined,
        peakMb: undefined,
      });
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
    await closeMemory(memory, proxies, overhead);
  } finally {
    for (const proxy of Object.values(proxies)) await proxy.stop().catch(() => undefined);
    await fleet.close();
  }
}

// --- startup and warm-up ----------------------------------------------------------------------
const startupSeconds = quick ? 3 : 8;
const startupConcurrency = 32;
const startup: StartupFigure[] = [];
if (parts.has('startup')) {
  progress.heading(
    `startup: spawn to first proxied request, then ${startupSeconds} s at concurrency ${startupConcurrency}`,
  );
  const fleet = await Fleet.start(HEALTHY.fleet);
  try {
    for (const kind of proxyKinds) {
      try {
        startup.push(
          await measureStartup(kind, {
            service: SERVICE,
            fleet,
            policy: defaultPolicy(),
            requests: DEFAULT_MIX,
            concurrency: startupConcurrency,
            seconds: startupSeconds,
            line: progress.begin(`${APPROACH_LABELS[kind]} (cold)`),
          }),
        );
      } catch (err) {
        notes.push(`startup of ${APPROACH_LABELS[kind]} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await fleet.close();
  }
}

// --- scaling over cores -----------------------------------------------------------------------
const scalingConcurrency = 64;
let scaling: ScalingResult | undefined;
if (parts.has('scaling')) {
  progress.heading(`scaling: concurrency ${scalingConcurrency}, workers and threads`);
  const policy = defaultPolicy();
  const fleet = await Fleet.start(HEALTHY.fleet);
  try {
    scaling = await measureScaling({
      service: SERVICE,
      fleet,
      policy,
      haproxy,
      concurrency: scalingConcurrency,
      rounds,
      proxyWarmupMs,
      requests: DEFAULT_MIX,
      say: (text) => progress.heading(text),
      measure: (label, approach, proxy) =>
        measure(label, approach, HEALTHY, policy, {
          concurrency: scalingConcurrency,
          durationMs: overheadMs,
          warmupMs: overheadWarmupMs,
          shared: { fleet, proxies: { [approach]: proxy } },
        }),
    });
  } catch (err) {
    notes.push(`scaling failed: ${(err as Error).message}`);
  } finally {
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

if (parts.has('resilience')) {
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
}

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
  startup: { seconds: startupSeconds, concurrency: startupConcurrency },
  scaling: { concurrency: scalingConcurrency, durationMs: overheadMs, rounds },
  parts: [...parts],
  resilience: {
    durationMs: runMs,
    outageMs,
    warmupMs: warmMs,
    concurrency,
    policy: resiliencePolicy().options,
  },
  quick,
};
const targets = evaluateTargets(overhead, resilience, micro, memory);
const elapsedS = (performance.now() - started) / 1000;
const report = {
  command,
  facts: Object.fromEntries(facts),
  settings,
  notes,
  targets,
  overhead,
  memory,
  startup,
  scaling,
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
