/**
 * Load shaping: a closed loop of `concurrency` workers, each sending its next request as soon as
 * the previous one settled (what wrk and autocannon do). A warm-up phase opens connections and
 * lets the JIT settle and is not recorded; then a measured window of fixed length; then the
 * requests started in the window are allowed to finish (bounded by the caller's timeout), so a
 * stalled request counts at its real latency instead of vanishing.
 *
 * Each request is drawn from a weighted mix of {@link RequestTemplate}s.
 */
import type { RequestTemplate, RunSpec } from './protocol.js';
import { Recorder } from './stats.js';

/** One request, ready to send. */
export interface PreparedRequest {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string> | undefined;
  /** Key for ring-hash balancing: the path, so one user keeps going to one endpoint. */
  hashKey: string;
}

/** How a request ended: ok (2xx/3xx), or failed with a code. */
export interface Outcome {
  ok: boolean;
  code?: string;
}

/** Sends one request; never rejects. */
export type Sender = (request: PreparedRequest) => Promise<Outcome>;

export type Phase = 'warmup' | 'measure' | 'drain';

export interface LoadHooks {
  /** The phase changed (called at the very moment, so CPU readings can be taken). */
  onPhase(phase: 'measure' | 'drain'): void;
  /** Every `progressMs`. */
  onProgress(phase: Phase, elapsedMs: number, recorder: Recorder): void;
}

/** A weighted request mix with O(log n) draws. */
export class RequestMix {
  readonly #templates: RequestTemplate[];
  readonly #cumulative: number[] = [];
  #counter = 0;

  constructor(templates: readonly RequestTemplate[]) {
    if (templates.length === 0) throw new Error('the request mix is empty');
    this.#templates = [...templates];
    let total = 0;
    for (const t of templates) {
      if (!(t.weight > 0)) throw new Error(`weight of ${t.method} ${t.path} must be > 0`);
      total += t.weight;
      this.#cumulative.push(total);
    }
  }

  next(random: () => number = Math.random): PreparedRequest {
    const total = this.#cumulative.at(-1)!;
    const x = random() * total;
    let lo = 0;
    let hi = this.#cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    const t = this.#templates[lo]!;
    const i = String(this.#counter++);
    const rand = String((random() * 10_000) | 0);
    const fill = (s: string) => (s.includes('{') ? s.replaceAll('{i}', i).replaceAll('{rand}', rand) : s);
    const path = fill(t.path);
    const headers = t.headers && Object.fromEntries(Object.entries(t.headers).map(([k, v]) => [k, fill(v)]));
    return { method: t.method.toUpperCase(), path, body: t.body, headers, hashKey: path };
  }
}

/** Run warm-up, window and drain; resolves with what the window recorded. */
export async function drive(spec: RunSpec, send: Sender, hooks: LoadHooks): Promise<Recorder> {
  const recorder = new Recorder(spec.bucketMs);
  const mix = new RequestMix(spec.requests);
  let phase: Phase = spec.warmupMs > 0 ? 'warmup' : 'measure';
  let issued = 0;
  let windowStart = 0;

  const openWindow = () => {
    windowStart = performance.now();
    recorder.open(windowStart);
    phase = 'measure';
    hooks.onPhase('measure');
    closeTimer = setTimeout(closeWindow, spec.durationMs);
  };
  const closeWindow = () => {
    recorder.close(performance.now());
    phase = 'drain';
    hooks.onPhase('drain');
  };
  let closeTimer: NodeJS.Timeout | undefined;
  const openTimer = phase === 'warmup' ? setTimeout(openWindow, spec.warmupMs) : undefined;
  if (phase === 'measure') openWindow();
  const ticker = setInterval(() => {
    hooks.onProgress(phase, phase === 'warmup' ? 0 : performance.now() - windowStart, recorder);
  }, spec.progressMs);

  const worker = async () => {
    // Bounded by the window (phase turns to 'drain') and by maxRequests.
    while (phase !== 'drain' && issued < spec.maxRequests) {
      const measured = phase === 'measure';
      const request = mix.next();
      issued++;
      const started = performance.now();
      const outcome = await send(request);
      if (measured) recorder.record(started, performance.now(), outcome.ok, outcome.code);
    }
  };

  try {
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
  } finally {
    clearTimeout(openTimer);
    clearTimeout(closeTimer);
    clearInterval(ticker);
  }
  if ((phase as Phase) !== 'drain') closeWindow(); // stopped by maxRequests
  hooks.onProgress('drain', performance.now() - windowStart, recorder);
  return recorder;
}
