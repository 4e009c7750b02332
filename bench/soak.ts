/**
 * `npm run soak`: a long run through each position, checking that nothing accumulates.
 *
 * 1,000,000 GETs (`SOAK_REQUESTS`) at concurrency 32 go through the fat client (`MeshClient`,
 * library defaults, in this process) and then through mesh-sidecar (its own process, driven by
 * an undici pool), over a fleet of three loopback upstreams in a third process. Failures are
 * injected along the way: 503 bursts, resets, slowness, each on one endpoint at a time, so the
 * mesh retries and ejects while a healthy endpoint remains. Each position is bounded in time
 * (`SOAK_SECONDS`, default 1,200 s): a run that would exceed it stops early and says so.
 *
 * Every 5% of the requests, the measured process takes a full GC and reports its heap, RSS and
 * active resources. The result: the heap slope after warm-up (least squares, MB per 100,000
 * requests), RSS, and the resources left once the position is closed compared with before it
 * was opened (a leaked socket or timer shows there). It is written into docs/benchmarks.md
 * between the `soak` markers, with a text chart of the heap.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MeshClient } from 'mesh-client';
import { Pool } from 'undici';
import type { Behaviour } from '../testkit/upstream.js';
import { type Sample, sample, settled, type ToChild } from './harness/soak-sample.js';

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 1_000_000);
const MAX_MS = Number(process.env.SOAK_SECONDS ?? 1_200) * 1000;
const CONCURRENCY = 32;
const SAMPLES = 20;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = `${ROOT}docs/benchmarks.md`;

/** Failures injected at fractions of the run: [from, to, endpoint, behaviour]. */
const FAULTS: Array<[number, number, number, Behaviour]> = [
  [0.1, 0.15, 0, { kind: 'status', status: 503 }],
  [0.25, 0.3, 1, { kind: 'reset' }],
  [0.4, 0.45, 2, { kind: 'slow', ms: 30 }],
  [0.55, 0.6, 0, { kind: 'reset' }],
  [0.7, 0.75, 1, { kind: 'status', status: 503 }],
  [0.85, 0.9, 2, { kind: 'reset' }],
];

function child(role: string, ...args: string[]): ChildProcess {
  return fork(`${ROOT}bench/harness/soak-child.ts`, [role, ...args], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask<T>(proc: ChildProcess, message: ToChild, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        proc.off('message', on);
        resolve(m as T);
      }
    };
    proc.on('message', on);
    proc.send(message);
  });
}

async function ready<T>(proc: ChildProcess): Promise<T> {
  const [m] = (await once(proc, 'message')) as [T];
  return m;
}

interface Point {
  requests: number;
  heapMb: number;
  rssMb: number;
}

interface PositionResult {
  name: string;
  requests: number;
  failed: number;
  seconds: number;
  stoppedEarly: boolean;
  points: Point[];
  slopeMbPer100k: number;
  /** Resource types whose count is higher after close than before open. */
  leaked: Record<string, number>;
}

/** Closed-loop load with fault injection; `measure` is called at every 5%. */
async function soak(
  name: string,
  send: () => Promise<void>,
  fleet: ChildProcess,
  measure: () => Promise<Sample>,
): Promise<Omit<PositionResult, 'leaked' | 'slopeMbPer100k'>> {
  const started = Date.now();
  const points: Point[] = [];
  const step = Math.floor(TOTAL / SAMPLES);
  const marks = new Set(FAULTS.flatMap(([from, to]) => [Math.floor(from * TOTAL), Math.floor(to * TOTAL)]));
  let next = 0;
  let done = 0;
  let failed = 0;
  let stoppedEarly = false;
  let pause: Promise<void> = Promise.resolve();
  const checkpoint = async (n: number) => {
    for (const [from, to, index, behaviour] of FAULTS) {
      if (n === Math.floor(from * TOTAL))
        fleet.send({ cmd: 'behaviour', index, behaviour } satisfies ToChild);
      if (n === Math.floor(to * TOTAL)) {
        fleet.send({ cmd: 'behaviour', index, behaviour: { kind: 'ok' } } satisfies ToChild);
      }
    }
    if (n % step === 0) {
      const s = await measure();
      points.push({ requests: n, heapMb: s.heapUsed / 2 ** 20, rssMb: s.rss / 2 ** 20 });
      const elapsed = (Date.now() - started) / 1000;
      process.stdout.write(
        `${name}: ${n} requests, ${failed} failed, heap ${(s.heapUsed / 2 ** 20).toFixed(1)} MB, ` +
          `rss ${(s.rss / 2 ** 20).toFixed(0)} MB, ${Math.round(n / elapsed)}/s\n`,
      );
    }
  };
  await checkpoint(0);
  const worker = async () => {
    for (;;) {
      if (next >= TOTAL) return;
      if (Date.now() - started > MAX_MS) {
        stoppedEarly = true;
        return;
      }
      next++;
      await pause;
      try {
        await send();
      } catch {
        failed++;
      }
      done++;
      if (done % step === 0 || marks.has(done)) {
        const n = done;
        pause = pause.then(() => checkpoint(n));
        await pause;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pause;
  return { name, requests: done, failed, seconds: (Date.now() - started) / 1000, stoppedEarly, points };
}

/** Least-squares slope of heap (MB) over requests (per 100,000), after the first two samples. */
function slope(points: Point[]): number {
  const p = points.slice(2);
  if (p.length < 2) return Number.NaN;
  const xs = p.map((q) => q.requests / 100_000);
  const ys = p.map((q) => q.heapMb);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}

function leakedOf(before: Sample, after: Sample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(after.resources)) {
    const extra = n - (before.resources[type] ?? 0);
    if (extra > 0) out[type] = extra;
  }
  return out;
}

async function fatClient(fleet: ChildProcess, urls: string[]): Promise<PositionResult> {
  const before = sample();
  const mesh = new MeshClient({ discovery: { static: { users: urls } } });
  const result = await soak(
    'fat client',
    async () => {
      await mesh.request({ service: 'users', url: '/soak' });
    },
    fleet,
    async () => sample(),
  );
  await mesh.close();
  const after = await settled(before);
  return { ...result, slopeMbPer100k: slope(result.points), leaked: leakedOf(before, after) };
}

async function sidecar(fleet: ChildProcess, urls: string[]): Promise<PositionResult> {
  const proc = child(
    'sidecar',
    JSON.stringify({ discovery: { static: { users: urls } }, listen: '127.0.0.1:0', admin: '127.0.0.1:0' }),
  );
  const { address, before } = await ready<{ address: string; before: Sample }>(proc);
  const pool = new Pool(address, { connections: CONCURRENCY });
  const result = await soak(
    'mesh-sidecar',
    async () => {
      const res = await pool.request({ path: '/soak', method: 'GET', headers: { host: 'users' } });
      await res.body.dump();
      if (res.statusCode >= 500) throw new Error(`status ${res.statusCode}`);
    },
    fleet,
    async () => (await ask<{ sample: Sample }>(proc, { cmd: 'sample' }, 'sample')).sample,
  );
  await pool.close();
  const { after } = await ask<{ after: Sample }>(proc, { cmd: 'close' }, 'closed');
  await once(proc, 'exit');
  return { ...result, slopeMbPer100k: slope(result.points), leaked: leakedOf(before, after) };
}

/** A text chart of heap after GC over the run. */
function chart(points: Point[], height = 8): string {
  const ys = points.map((p) => p.heapMb);
  const lo = Math.floor(Math.min(...ys));
  const hi = Math.ceil(Math.max(...ys, lo + 1));
  const rows: string[] = [];
  for (let r = height - 1; r >= 0; r--) {
    const level = lo + ((hi - lo) * (r + 0.5)) / height;
    const label = (lo + ((hi - lo) * (r + 1)) / height).toFixed(1).padStart(6);
    rows.push(`${label} MB | ${ys.map((y) => (y >= level ? '█' : ' ')).join(' ')}`);
  }
  rows.push(`${' '.repeat(9)} +${'-'.repeat(ys.length * 2)}`);
  rows.push(
    `${' '.repeat(11)}0 ... ${points.at(-1)?.requests.toLocaleString('en-US')} requests (one column per 5%)`,
  );
  return rows.join('\n');
}

function markdown(results: PositionResult[]): string {
  const lines = [
    '## Soak',
    '',
    `Generated by \`npm run soak\` (${new Date().toISOString()}, node ${process.version}); run it again to refresh.`,
    `${TOTAL.toLocaleString('en-US')} GETs per position at concurrency ${CONCURRENCY}, library defaults, over three loopback`,
    'upstreams in their own process; one endpoint at a time answers 503, resets connections or is slowed for',
    '5% of the run, six times. Heap is sampled after a forced GC every 5% in the process that holds the',
    'position (the fat client is the soak process itself; mesh-sidecar is its own process).',
    '',
    '| position | requests | failed | time | throughput | heap after GC (first → last) | heap slope after warm-up | RSS (max) | handles left after close |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map((r) => {
      const first = r.points[2] ?? r.points[0]!;
      const last = r.points.at(-1)!;
      const leaked = Object.entries(r.leaked);
      return `| ${r.name} | ${r.requests.toLocaleString('en-US')}${r.stoppedEarly ? ' (time bound hit)' : ''} | ${r.failed} | ${r.seconds.toFixed(0)} s | ${Math.round(r.requests / r.seconds)}/s | ${first.heapMb.toFixed(1)} → ${last.heapMb.toFixed(1)} MB | ${r.slopeMbPer100k >= 0 ? '+' : ''}${r.slopeMbPer100k.toFixed(3)} MB per 100k | ${Math.max(...r.points.map((p) => p.rssMb)).toFixed(0)} MB | ${leaked.length ? leaked.map(([t, n]) => `${n} ${t}`).join(', ') : 'none'} |`;
    }),
    '',
  ];
  for (const r of results) {
    lines.push(`Heap after GC, ${r.name}:`, '', '```', chart(r.points), '```', '');
  }
  return lines.join('\n');
}

function writeDoc(section: string): void {
  const begin = '<!-- soak:start -->';
  const end = '<!-- soak:end -->';
  const text = readFileSync(DOC, 'utf8');
  const block = `${begin}\n${section}${end}\n`;
  const at = text.indexOf(begin);
  const updated =
    at >= 0
      ? text.slice(0, at) + block + text.slice(text.indexOf(end) + end.length + 1)
      : `${text.trimEnd()}\n\n${block}`;
  writeFileSync(DOC, updated);
}

const fleet = child('fleet');
const { urls } = await ready<{ urls: string[] }>(fleet);
const results = [await fatClient(fleet, urls), await sidecar(fleet, urls)];
await ask(fleet, { cmd: 'close' }, 'closed');
const section = markdown(results);
process.stdout.write(`\n${section}\n`);
writeDoc(section);
process.stdout.write(`written to ${DOC}\n`);
