/**
 * `npm run demo`: the same traffic through each way of delivering it, one after another, on a
 * small fleet on loopback where things go wrong mid-run; then a side-by-side table and an HTML
 * report. About a minute by default; `--quick` takes seconds (the smoke test uses it).
 *
 * Approaches: bare axios (no mesh), the fat client (MeshClient in process), mesh-sidecar (the
 * CLI as a separate process, the client in `mode: 'sidecar'`), the bare Node proxy (the floor:
 * the least a Node proxy does, ./harness/node-proxy.ts, reached the same way), HAProxy as the
 * sidecar (when installed), and the fat client over undici when MeshClient offers
 * `transport: 'undici'`.
 * Each gets a fresh fleet and a fresh client process. With `--config` the traffic goes to your
 * own services instead (see docs/compare.md).
 */
import { writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilities, commandLine, fail, machineFacts, parseCommon } from './harness/cli.js';
import { type ApproachResult, runApproach } from './harness/orchestrate.js';
import { releaseUsage } from './harness/processes.js';
import { Progress } from './harness/progress.js';
import { APPROACH_LABELS, type ApproachKind } from './harness/protocol.js';
import { renderReport } from './report/html.js';
import { renderComparison } from './report/table.js';
import { verdict } from './report/verdict.js';
import { loadConfig, resolveUrls, type ServicesConfig } from './scenarios/config.js';
import { DEFAULT_MIX, DEMO_SCENARIO, demoPolicy, type Policy, SERVICE } from './scenarios/scenarios.js';

const USAGE = `Usage: npm run demo -- [options]

Drives the same traffic through bare axios, the fat client, mesh-sidecar, a bare Node proxy (the
floor) and HAProxy (when installed), one after another, then prints a side-by-side table and
writes an HTML report.

Options:
  -q, --quick              a few seconds in all (smoke test)
  -d, --duration <s>       seconds measured per approach (default 10)
  -c, --concurrency <n>    requests in flight (default 16)
      --approaches <list>  comma-separated: ${Object.keys(APPROACH_LABELS).join(', ')}
      --config <file>      drive your own services (see bench/scenarios/services.example.json)
  -o, --out <dir>          where report.html and demo.json go (default bench/results)
  -h, --help               this help`;

const argv = process.argv.slice(2);
const args = parseCommon(argv, USAGE);
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const started = performance.now();
const caps = capabilities();
// Read now: the load average at the start, and the sidecar's JS build made before any run.
const machine = machineFacts();
let config: ServicesConfig | undefined;
try {
  config = args.config ? loadConfig(args.config) : undefined;
} catch (err) {
  fail((err as Error).message);
}
const durationMs = 1000 * (args.duration ?? config?.duration ?? (args.quick ? 1.5 : 10));
const warmupMs = args.quick ? 300 : 1_500;
const concurrency = args.concurrency ?? config?.concurrency ?? 16;
const service = config?.service ?? SERVICE;
const policy: Policy = config
  ? {
      options: config.mesh,
      timeoutMs:
        config.timeoutMs ??
        ((config.mesh.timeout as { total?: number } | undefined)?.total || undefined) ??
        15_000,
    }
  : demoPolicy();
const notes: string[] = [];

const wanted: ApproachKind[] = args.approaches ??
  config?.approaches ?? [
    'bare-axios',
    'fat-client',
    'fat-client-undici',
    'mesh-sidecar',
    'node-proxy',
    'haproxy',
  ];
const explicit = args.approaches !== undefined || config?.approaches !== undefined;
const approaches = wanted.filter((a) => {
  if (a === 'haproxy' && !caps.haproxy) {
    notes.push('HAProxy is not installed: the HAProxy sidecar was skipped (apt-get install haproxy).');
    return false;
  }
  if (a === 'fat-client-undici' && !caps.undiciTransport) {
    if (explicit)
      notes.push("This MeshClient does not accept transport: 'undici' yet: that approach was skipped.");
    return false;
  }
  return true;
});

const progress = new Progress();
progress.heading(
  config
    ? `mesh-client demo: ${service} from ${args.config}, ${concurrency} in flight, ${durationMs / 1000} s per approach`
    : `mesh-client demo: ${DEMO_SCENARIO.title}; ${concurrency} in flight, ${durationMs / 1000} s per approach`,
);
for (const note of notes) progress.say(`note: ${note}`);

let configUrls: string[] | undefined;
if (config) {
  try {
    configUrls = await resolveUrls(config);
  } catch (err) {
    fail(`cannot resolve ${service}: ${(err as Error).message}`);
  }
}

const results: ApproachResult[] = [];
for (const approach of approaches) {
  const label = APPROACH_LABELS[approach];
  try {
    const result = await runApproach({
      label,
      approach,
      service,
      policy,
      load: { concurrency, durationMs, warmupMs, requests: config?.requests ?? DEFAULT_MIX },
      scenario: config ? undefined : DEMO_SCENARIO,
      target: configUrls ? { urls: configUrls, discovery: config?.discovery } : undefined,
      proxyWarmupMs: args.quick ? 300 : 2_500,
      line: progress.begin(label),
    });
    results.push(result);
  } catch (err) {
    notes.push(`${label} failed: ${(err as Error).message}`);
  }
}
releaseUsage();

if (results.length === 0) fail('no approach produced a result');
progress.heading('Side by side');
process.stdout.write(`${renderComparison(results)}\n`);
progress.heading('Verdict');
process.stdout.write(`${verdict(results).join('\n')}\n`);

const command = commandLine('demo', argv);
const facts: Array<[string, string]> = [
  ['workload', config ? `${service} from ${args.config}` : DEMO_SCENARIO.description],
  ['concurrency', `${concurrency} requests in flight (closed loop)`],
  ['measured', `${durationMs / 1000} s per approach after ${warmupMs / 1000} s of warm-up`],
  ['policy', JSON.stringify(policy.options)],
  ['caller timeout', `${policy.timeoutMs} ms`],
  ...machine,
];
const html = renderReport(results, {
  title: 'mesh-client: fat client vs sidecar vs no mesh',
  subtitle: config ? `Your services (${service})` : DEMO_SCENARIO.title,
  command,
  facts,
  guide: relative(resolve(args.out), fileURLToPath(new URL('../docs/compare.md', import.meta.url))),
  notes: [
    ...notes,
    'Approaches ran one after another (never concurrently), each with a fresh fleet and a fresh client process.',
    'The fleet runs in the orchestrating process; client CPU is the driver process, sidecar CPU the sidecar process, both read from the OS.',
  ],
});
const reportPath = join(args.out, 'report.html');
writeFileSync(reportPath, html);
writeFileSync(
  join(args.out, 'demo.json'),
  `${JSON.stringify({ command, facts: Object.fromEntries(facts), notes, results }, null, 2)}\n`,
);
const shown = relative(process.cwd(), reportPath) || reportPath;
process.stdout.write(`\n${notes.map((n) => `note: ${n}\n`).join('')}`);
process.stdout.write(
  `report: ${shown.startsWith('..') ? reportPath : shown}  (${((performance.now() - started) / 1000).toFixed(0)} s in all)\n`,
);
process.exit(0);
