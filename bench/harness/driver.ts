/**
 * The load driver: a child process that runs one approach's client under load and reports back
 * over IPC (see ./protocol). One process per run, so the client's CPU (`process.cpuUsage`) and
 * memory (RSS) are its own and nothing from an earlier approach (heap, sockets, JIT state) leaks
 * into the next. It exits when the orchestrator goes away.
 *
 * Started by ./processes (`spawnDriver`); not meant to be run by hand.
 */
import { createClient } from './approaches.js';
import { drive } from './load.js';
import type { FromDriver, RunSpec, ToDriver } from './protocol.js';

function send(message: FromDriver): void {
  process.send?.(message);
}

let client: ReturnType<typeof createClient> | undefined;
let running = false;

async function run(spec: RunSpec): Promise<void> {
  running = true;
  client = createClient(spec);
  const c = client;
  let cpuAtOpen = process.cpuUsage();
  let cpu = process.cpuUsage(cpuAtOpen);
  let retriesAtOpen = 0;
  let retries: number | undefined;
  let peakRss = process.memoryUsage().rss;
  const recorder = await drive(spec, c.send, {
    onPhase(phase) {
      if (phase === 'measure') {
        cpuAtOpen = process.cpuUsage();
        retriesAtOpen = c.retries() ?? 0;
      } else {
        cpu = process.cpuUsage(cpuAtOpen);
        const total = c.retries();
        retries = total === undefined ? undefined : total - retriesAtOpen;
      }
      send({ type: 'phase', phase });
    },
    onProgress(phase, elapsedMs, r) {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      send({ type: 'progress', phase, elapsedMs, requests: r.requests, ok: r.ok, failed: r.failed });
    },
  });
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const windowMs = Number.isFinite(recorder.windowMs) ? recorder.windowMs : spec.durationMs;
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  send({
    type: 'result',
    result: {
      requests: recorder.requests,
      ok: recorder.ok,
      failed: recorder.failed,
      completedInWindow: recorder.completedInWindow,
      windowMs,
      throughput: recorder.completedInWindow / (windowMs / 1000),
      successRate: recorder.requests === 0 ? 0 : recorder.ok / recorder.requests,
      latency: recorder.latency,
      curve: recorder.curve,
      timeline: recorder.timeline,
      errors: recorder.errors,
      clientRetries: retries,
      clientCpuMs,
      clientRssMb: peakRss / 1024 / 1024,
      histogram: recorder.encode(),
    },
  });
  await c.close();
}

process.on('message', (message: ToDriver) => {
  if (message.type === 'run' && !running) {
    run(message.spec).catch((err: unknown) => {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    });
  } else if (message.type === 'endpoints') {
    client?.setEndpoints(message.urls);
  }
});

// The orchestrator went away (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
