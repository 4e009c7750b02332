/**
 * Micro benchmarks, no network: what one balancer pick costs, and what the mesh's own decision
 * work costs per request (the whole pipeline: deadline, retry with its budget, balance, breaker,
 * per-try timeout), at 10, 1,000 and 10,000 endpoints.
 *
 * Decision cost: the pipeline `Mesh.runtime()` + `pipeline()` build for a service (exactly what
 * MeshClient and mesh-sidecar run) over a transport that resolves at once with `{ status: 200 }`,
 * called one request after another; the same loop calling the transport alone is subtracted, so
 * the figure is the mesh's own work (the `Call` object the client builds is in both loops).
 * Each figure is the median of several timed batches after a warm-up.
 */
import { createBalancer } from '../src/balance/index.js';
import type { Call, Reply } from '../src/core/call.js';
import { systemClock } from '../src/core/clock.js';
import type { EndpointInfo } from '../src/core/endpoint.js';
import { EndpointPool } from '../src/core/pool.js';
import { Mesh } from '../src/mesh.js';
import { parseOptions } from '../src/options.js';
import { pipeline } from '../src/pipeline.js';
import { BALANCERS, type Balancer } from './scenarios.js';
import { median } from './stats.js';

export const SIZES = [10, 1_000, 10_000];

export interface PickFigure {
  balancer: Balancer;
  endpoints: number;
  nsPerPick: number;
}

export interface DecisionFigure {
  balancer: Balancer;
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

const KEYS = Array.from({ length: 1024 }, (_, i) => `user-${i}`);

function infos(n: number): EndpointInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    url: `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`,
  }));
}

function call(i: number, signal: AbortSignal, deadline: number): Call {
  return {
    service: 'svc',
    method: 'GET',
    path: '/users/1',
    hashKey: KEYS[i & 1023],
    idempotent: true,
    replayable: true,
    request: undefined,
    signal,
    deadline,
    attempt: 0,
    tried: [],
    endpoint: undefined,
  };
}

/** ns per pick: median of `batches` batches of `perBatch` picks, after a warm-up. */
function timePicks(balancer: Balancer, n: number, batches: number, perBatch: number): number {
  const pool = new EndpointPool('svc', systemClock, 30);
  pool.update(infos(n));
  const picker = createBalancer(
    { policy: balancer, decay: 10_000, initialRtt: 30, failurePenalty: 1_000 },
    { clock: systemClock, random: Math.random },
  );
  const signal = new AbortController().signal;
  const calls = KEYS.map((_, i) => call(i, signal, Number.POSITIVE_INFINITY));
  let sink = 0;
  for (let i = 0; i < perBatch; i++) sink += picker.pick(pool, calls[i & 1023]!)!.inFlight;
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) sink += picker.pick(pool, calls[i & 1023]!)!.inFlight;
    samples.push(Number(process.hrtime.bigint() - t0) / perBatch);
  }
  if (sink < 0) throw new Error('unreachable');
  return median(samples);
}

/** µs per request through the pipeline and through the transport alone. */
async function timeDecisions(balancer: Balancer, n: number, batches: number, perBatch: number) {
  const urls = infos(n);
  const mesh = new Mesh(parseOptions({ discovery: { static: { svc: urls } }, loadBalancer: balancer }));
  try {
    const runtime = mesh.runtime('svc');
    const instant = async (): Promise<Reply> => ({ status: 200 });
    const handler = pipeline(runtime)(instant);
    const clock = mesh.clock;
    const total = 15_000;
    const loop = async (fn: (c: Call) => Promise<Reply>, count: number) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const reply = await fn(call(i, mesh.shutdown, clock.now() + total));
        if (reply.status !== 200) throw new Error(`status ${reply.status}`);
      }
      return Number(process.hrtime.bigint() - t0) / count / 1000;
    };
    // Warm-up: JIT, and with many endpoints the lazily created breakers of most of them.
    await loop(handler, Math.max(perBatch, Math.min(n * 3, 40_000)));
    await loop(instant, perBatch);
    const gross: number[] = [];
    const base: number[] = [];
    for (let b = 0; b < batches; b++) {
      base.push(await loop(instant, perBatch));
      gross.push(await loop(handler, perBatch));
    }
    const grossUs = median(gross);
    const baselineUs = median(base);
    return { grossUs, baselineUs, usPerRequest: grossUs - baselineUs };
  } finally {
    await mesh.close();
  }
}

/** Every pick and decision figure; `quick` uses fewer, shorter batches. */
export async function runMicro(
  quick: boolean,
  onProgress: (text: string) => void = () => undefined,
): Promise<MicroResults> {
  const picks: PickFigure[] = [];
  const decisions: DecisionFigure[] = [];
  const pickBatches = quick ? 3 : 7;
  const pickCount = quick ? 50_000 : 200_000;
  const decisionBatches = quick ? 3 : 5;
  const decisionCount = quick ? 5_000 : 20_000;
  for (const balancer of BALANCERS) {
    for (const endpoints of SIZES) {
      onProgress(`pick ${balancer} @ ${endpoints}`);
      picks.push({ balancer, endpoints, nsPerPick: timePicks(balancer, endpoints, pickBatches, pickCount) });
    }
  }
  for (const balancer of BALANCERS) {
    for (const endpoints of SIZES) {
      onProgress(`decision ${balancer} @ ${endpoints}`);
      const figure = await timeDecisions(balancer, endpoints, decisionBatches, decisionCount);
      decisions.push({ balancer, endpoints, ...figure });
    }
  }
  return { picks, decisions };
}
