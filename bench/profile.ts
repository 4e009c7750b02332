/**
 * `npm run bench:profile`: where a proxy's CPU goes per request, from V8's CPU profiler, for
 * mesh-sidecar and for the bare Node proxy (the floor) under the same load, side by side; and the
 * same for the fat client against bare axios.
 *
 * Each proxy runs as its own process on its JS build (as the bench runs them) with `--cpu-prof`,
 * in front of one loopback upstream, and gets a closed loop of GETs from an undici pool in this
 * process (warm-up first, then the measured requests). On SIGINT the proxy writes its profile;
 * every sample is put in one bucket by the code it was in (the proxy's own code by folder, Node's
 * HTTP stack, undici, the garbage collector, the socket writes and reads...), and the table shows
 * microseconds per request of each bucket for both proxies and their difference: what the mesh's
 * policy costs on top of Node, and what Node itself costs.
 *
 * The clients run in their own process too (./harness/client-load.ts on its JS build): bare axios
 * and the fat client (library defaults, axios's http adapter), each sending the same GETs in a
 * closed loop to the upstream, profiled over the measured requests only.
 *
 * The sampled time is wall time on the JS thread while it was not idle, so a busy machine inflates
 * the syscall rows (a descheduled write still counts); the rest compares well across runs. The
 * result is written into docs/benchmarks.md between the `profile` markers.
 * `PROFILE_REQUESTS` (default 60,000), `PROFILE_CONCURRENCY` (32) scale it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { Upstream } from '../testkit/upstream.js';
import { clientLoadCommand, floorCommand, sidecarCommand } from './harness/build.js';
import { markdownTable } from './report/table.js';

const REQUESTS = Number(process.env.PROFILE_REQUESTS ?? 60_000);
const CONCURRENCY = Number(process.env.PROFILE_CONCURRENCY ?? 32);
const WARMUP = Math.min(20_000, Math.ceil(REQUESTS / 3));
/** The clients' concurrency: 1, where a client's own cost shows most in its throughput. */
const CLIENT_CONCURRENCY = Number(process.env.PROFILE_CLIENT_CONCURRENCY ?? 1);
const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

/** The buckets, first match wins: by function name for V8's own entries, else by script URL. */
const BUCKETS: Array<[string, (fn: string, url: string) => boolean]> = [
  ['garbage collector', (fn) => fn === '(garbage collector)'],
  [
    'socket writes (writev, write*String)',
    (fn, url) => url === '' && /^(writev|write\w*String|writeBuffer)$/.test(fn),
  ],
  ['socket reads, other native', (_fn, url) => url === ''],
  ['mesh: sidecar ingress (src/sidecar)', (_fn, url) => url.includes('/src/sidecar/')],
  ['mesh: client edge (src/client)', (_fn, url) => url.includes('/src/client/')],
  ['mesh: transport (src/transport)', (_fn, url) => url.includes('/src/transport/')],
  [
    'mesh: telemetry (src/telemetry, prom-client, OpenTelemetry)',
    (_fn, url) => /\/src\/telemetry\/|node_modules\/(prom-client|@opentelemetry)\//.test(url),
  ],
  ['mesh: pipeline stages (src/*)', (_fn, url) => url.includes('/src/')],
  ['undici (upstream client)', (_fn, url) => url.includes('node_modules/undici/')],
  ['axios', (_fn, url) => url.includes('node_modules/axios/')],
  [
    "axios's http adapter helpers (follow-redirects, proxy-from-env)",
    (_fn, url) => /node_modules\/(follow-redirects|proxy-from-env)\//.test(url),
  ],
  ['the load loop', (_fn, url) => url.includes('client-load')],
  ['the floor proxy itself', (_fn, url) => url.includes('node-proxy')],
  ['node:http (parser, server, response)', (_fn, url) => /^node:_http|^node:http/.test(url)],
  [
    'streams, events, timers, microtasks',
    (_fn, url) => /^node:(internal\/)?(streams|events|timers|process)/.test(url),
  ],
  ['other (Node internals, libraries)', () => true],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** µs per request by bucket, idle excluded. */
function buckets(file: string, requests: number): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const bucketOf = new Map<number, string | undefined>();
  for (const node of profile.nodes) {
    const { functionName: fn, url } = node.callFrame;
    bucketOf.set(
      node.id,
      fn === '(idle)' || fn === '(program)' ? undefined : BUCKETS.find(([, m]) => m(fn, url))![0],
    );
  }
  const out = new Map<string, number>(BUCKETS.map(([name]) => [name, 0]));
  for (let i = 0; i < profile.samples.length; i++) {
    const bucket = bucketOf.get(profile.samples[i]!);
    if (bucket) out.set(bucket, out.get(bucket)! + (profile.timeDeltas[i] ?? 0) / requests);
  }
  return out;
}

/** Start a proxy with `--cpu-prof`; resolves once it prints its listening line. */
async function startProxy(args: string[], dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [`--cpu-prof`, `--cpu-prof-dir=${dir}`, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`proxy exited (${code}) before listening`)));
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { msg?: string; listen?: string };
        if (m.msg === 'listening' && m.listen) resolve(m.listen);
      } catch {
        // not a log line
      }
    });
  });
  return { child, url };
}

async function load(url: string, requests: number): Promise<void> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let left = requests;
  const worker = async () => {
    while (left-- > 0) {
      const res = await pool.request({ path: '/users/42', method: 'GET', headers: { host: 'users' } });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode} from ${url}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pool.close();
}

/** Profile one proxy: its buckets in µs per request. */
async function profile(name: string, args: (upstream: string, dir: string) => string[], upstream: string) {
  const dir = mkdtempSync(join(tmpdir(), `mesh-profile-${name}-`));
  try {
    const { child, url } = await startProxy(args(upstream, dir), dir);
    await load(url, WARMUP);
    await load(url, REQUESTS);
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    await exited;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`${name} wrote no profile`);
    return buckets(join(dir, file), WARMUP + REQUESTS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Profile one client process over its measured requests: its buckets in µs per request. */
async function profileClient(approach: 'bare-axios' | 'fat-client', upstream: string) {
  const dir = mkdtempSync(join(tmpdir(), `mesh-profile-${approach}-`));
  try {
    const file = join(dir, 'client.cpuprofile');
    const child = spawn(
      process.execPath,
      [
        ...clientLoadCommand().args,
        approach,
        upstream,
        String(CLIENT_CONCURRENCY),
        String(WARMUP),
        String(REQUESTS),
        file,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`${approach} exited with ${code}`);
    return buckets(file, REQUESTS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const upstream = await Upstream.start('users', { kind: 'ok' }, { record: false });
const sidecar = sidecarCommand();
const floor = floorCommand();
const results: Array<[string, Map<string, number>]> = [];
try {
  results.push([
    'bare Node proxy (floor)',
    await profile(
      'floor',
      (u) => [...floor.args, JSON.stringify({ listen: '127.0.0.1:0', services: { users: [u] } })],
      upstream.url,
    ),
  ]);
  results.push([
    'mesh-sidecar',
    await profile(
      'sidecar',
      (u, dir) => {
        const config = join(dir, 'mesh.json');
        writeFileSync(
          config,
          JSON.stringify({
            listen: '127.0.0.1:0',
            admin: '127.0.0.1:0',
            discovery: { static: { users: [u] } },
          }),
        );
        return [...sidecar.args, '-c', config];
      },
      upstream.url,
    ),
  ]);
  results.push(['bare axios', await profileClient('bare-axios', upstream.url)]);
  results.push(['fat client', await profileClient('fat-client', upstream.url)]);
} finally {
  await upstream.close();
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(1);
/** Rows of `base` against `other`, bucket by bucket, with the totals last. */
function compare(base: Map<string, number>, other: Map<string, number>): string[][] {
  const rows = BUCKETS.map(([name]) => [name, base.get(name)!, other.get(name)!] as const)
    .filter(([, b, o]) => b >= 0.05 || o >= 0.05)
    .map(([name, b, o]) => [name, b.toFixed(1), o.toFixed(1), signed(o - b)]);
  rows.push([
    'total (not idle)',
    total(base).toFixed(1),
    total(other).toFixed(1),
    signed(total(other) - total(base)),
  ]);
  return rows;
}
const byName = new Map(results);
const proxyRows = compare(byName.get('bare Node proxy (floor)')!, byName.get('mesh-sidecar')!);
const clientRows = compare(byName.get('bare axios')!, byName.get('fat client')!);

const section = [
  '<!-- profile:start -->',
  "## Where the sidecar's time goes",
  '',
  `\`npm run bench:profile\` (${new Date().toISOString().slice(0, 10)}, ${cpus().length} CPUs, Node ${process.versions.node}): V8's CPU profile of each proxy process, ${WARMUP.toLocaleString('en-US')} warm-up and ${REQUESTS.toLocaleString('en-US')} measured GETs at concurrency ${CONCURRENCY} through one proxy to one loopback upstream, every sample put in one bucket by the code it was in, in µs per request (sampled wall time while not idle; the profiler itself adds some).`,
  '',
  markdownTable(['bucket', 'floor µs/req', 'mesh-sidecar µs/req', 'difference'], proxyRows),
  '',
  "## Where the fat client's time goes",
  '',
  `The same, for the client process: bare axios and the fat client (library defaults, axios's http adapter) each sending ${REQUESTS.toLocaleString('en-US')} GETs at concurrency ${CLIENT_CONCURRENCY} to the same upstream, after ${WARMUP.toLocaleString('en-US')} of warm-up, profiled over the measured requests only (node:inspector in the client, ${clientLoadCommand().mode === 'build' ? 'on its JS build' : 'under tsx: the JS build failed'}).`,
  '',
  markdownTable(['bucket', 'bare axios µs/req', 'fat client µs/req', 'difference'], clientRows),
  '<!-- profile:end -->',
].join('\n');

const doc = readFileSync(DOC, 'utf8');
const slot = /<!-- profile:start -->[\s\S]*?<!-- profile:end -->/;
writeFileSync(DOC, slot.test(doc) ? doc.replace(slot, () => section) : `${doc.trimEnd()}\n\n${section}\n`);
process.stdout.write(`${section}\n\nwritten to docs/benchmarks.md\n`);
