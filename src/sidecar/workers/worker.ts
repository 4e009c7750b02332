/**
 * One worker process of a sidecar that runs several (`workers`): the CLI forked by the primary
 * with its index in `MESH_SIDECAR_WORKER`. It asks the primary for the configuration (the one the
 * primary validated, so a restarted worker runs what its siblings run even if the file changed),
 * builds a {@link Sidecar} in the worker role (its share of the limits, no admin listener) and
 * listens: node:cluster hands its `listen` to the primary, so every worker shares the primary's
 * one socket per address (port 0 included: the primary binds it once, every worker gets it).
 *
 * It answers the primary's questions (`/stats` report, metrics) and drains on the primary's word,
 * on SIGTERM or SIGINT (a service manager may signal the whole process group), or when the
 * primary is gone (the IPC channel closes): then no worker outlives its primary, and what was in
 * flight still finishes within `drainTimeout`.
 */
import cluster from 'node:cluster';
import { errorFields } from '../../telemetry/logger.js';
import type { Logger } from '../../telemetry/options.js';
import { Sidecar } from '../sidecar.js';
import { type FromWorker, isMeshMessage, type ToWorker } from './messages.js';

/** After draining, how long (ms) the process may take to end by itself before it exits anyway. */
const EXIT_GRACE_MS = 2_000;

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

/**
 * Run this process as worker `index`, logging through `logger` (bound to the index: every line
 * says which worker). Resolves once the worker listens (or has stopped); the process exits when
 * it has drained.
 */
export async function runWorker(index: number, logger: Logger): Promise<void> {
  // Without this, node:cluster exits a worker at once when its primary's channel closes
  // (`exitedAfterDisconnect` unset means "unexpected"), cutting requests in flight; the
  // 'disconnect' listener below drains it instead.
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  let sidecar: Sidecar | undefined;
  let stopping = false;
  const stop = (why: Record<string, unknown>) => {
    if (stopping) return;
    stopping = true;
    // Told before the line is logged: whoever reads the line asks a primary that knows.
    send({ type: 'mesh-sidecar/draining' });
    logger.info(why, 'worker draining');
    const done = (code: number) => {
      process.exitCode = code;
      if (process.connected) process.disconnect();
      // Whatever still holds the event loop (a peer's socket), the worker is done.
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    };
    if (!sidecar) {
      done(0);
      return;
    }
    sidecar.drain().then(
      () => {
        logger.info({}, 'worker stopped');
        done(0);
      },
      (err: unknown) => {
        logger.error({ error: errorFields(err) }, 'worker drain failed');
        done(1);
      },
    );
  };
  const fail = (message: string) => {
    // The primary says it (once, for the first worker that fails) and stops the others. A send
    // is asynchronous: the process ends once the message is on its way.
    if (process.connected) process.send?.({ type: 'mesh-sidecar/failed', message }, () => process.exit(2));
    else process.exit(2);
  };

  const config = new Promise<Extract<ToWorker, { type: 'mesh-sidecar/config' }>>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isMeshMessage<ToWorker>(message)) return;
      switch (message.type) {
        case 'mesh-sidecar/config':
          resolve(message);
          return;
        case 'mesh-sidecar/drain':
          stop({ reason: 'primary' });
          return;
        case 'mesh-sidecar/report':
          answerReport(sidecar, message.id, logger);
          return;
        case 'mesh-sidecar/metrics':
          answerMetrics(sidecar, message.id);
          return;
      }
    });
  });
  process.on('disconnect', () => stop({ reason: 'primary gone' }));
  process.on('SIGTERM', () => stop({ signal: 'SIGTERM' }));
  process.on('SIGINT', () => stop({ signal: 'SIGINT' }));
  send({ type: 'mesh-sidecar/hello' });

  const { config: raw, count } = await config;
  if (stopping) return;
  let started: Sidecar;
  try {
    started = new Sidecar({ ...raw, logger }, { index, count });
  } catch (err) {
    fail((err as Error).message);
    return;
  }
  sidecar = started;
  try {
    await started.start();
  } catch (err) {
    fail(`cannot listen: ${(err as Error).message}`);
    return;
  }
  if (stopping) return;
  const inbound = started.inboundAddress;
  send({ type: 'mesh-sidecar/listening', listen: started.address, inbound });
  logger.info({ listen: started.address, ...(inbound ? { inbound } : {}) }, 'worker listening');
}

/** Send the primary this worker's `/stats` report (none when it has none: the primary lists it so). */
function answerReport(sidecar: Sidecar | undefined, id: number, logger: Logger): void {
  if (!sidecar) return;
  let report: ReturnType<Sidecar['report']>;
  try {
    report = sidecar.report();
  } catch (err) {
    // The primary lists this worker as not answering; the reason is here.
    logger.error({ error: errorFields(err) }, 'worker report failed');
    return;
  }
  send({ type: 'mesh-sidecar/report', id, report });
}

/** Send the primary this worker's metrics (prom-client's JSON form, which it aggregates). */
function answerMetrics(sidecar: Sidecar | undefined, id: number): void {
  if (!sidecar) {
    send({ type: 'mesh-sidecar/metrics', id, error: 'not started' });
    return;
  }
  sidecar.registry.getMetricsAsJSON().then(
    (metrics) => send({ type: 'mesh-sidecar/metrics', id, metrics }),
    (error: unknown) => send({ type: 'mesh-sidecar/metrics', id, error: (error as Error).message }),
  );
}
