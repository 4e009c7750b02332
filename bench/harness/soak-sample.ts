/** What the soak and its child processes share: the IPC messages and the heap sample. */
import type { Behaviour } from '../../testkit/upstream.js';

/** Messages from the soak to a child. */
export type ToChild =
  | { cmd: 'behaviour'; index: number; behaviour: Behaviour }
  | { cmd: 'sample' }
  | { cmd: 'close' };

/** A heap and handle sample of a process. */
export interface Sample {
  heapUsed: number;
  rss: number;
  /** Active resources by type (`process.getActiveResourcesInfo()`). */
  resources: Record<string, number>;
}

/** The sample of this process, after a full GC. */
export function sample(): Sample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  return { heapUsed, rss, resources };
}

/**
 * Wait (at most `ms`) until the active resources are no more than `baseline`'s: closed sockets
 * and cleared timers leave the list a few loop turns after `close()` resolves (a socket ended
 * gracefully waits for its peer's FIN). What is still there after the wait is a leak.
 */
export async function settled(baseline: Sample, ms = 3_000): Promise<Sample> {
  const until = Date.now() + ms;
  for (;;) {
    const now = sample();
    const extra = Object.entries(now.resources).some(([t, n]) => n > (baseline.resources[t] ?? 0));
    if (!extra || Date.now() > until) return now;
    await new Promise((r) => setTimeout(r, 20));
  }
}
