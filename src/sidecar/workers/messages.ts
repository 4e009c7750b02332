/**
 * What the sidecar's primary and its worker processes tell each other over the cluster's IPC
 * channel (JSON). Every message carries `type`, prefixed `mesh-sidecar/`, so it is never taken
 * for another library's message on the same channel.
 */
import type { SidecarStatsReport } from '../sidecar.js';

/** The environment variable that makes the sidecar's CLI a worker, holding its index. */
export const WORKER_ENV = 'MESH_SIDECAR_WORKER';

/** The metrics of one worker's registry, as prom-client's `getMetricsAsJSON()` gives them. */
export type MetricsJson = unknown[];

/** From the primary to a worker. */
export type ToWorker =
  /** The configuration to run (as the primary read and validated it), and the worker count. */
  | { type: 'mesh-sidecar/config'; config: Record<string, unknown>; index: number; count: number }
  /** Answer with the worker's `/stats` report. */
  | { type: 'mesh-sidecar/report'; id: number }
  /** Answer with the worker's metrics. */
  | { type: 'mesh-sidecar/metrics'; id: number }
  /** Stop accepting, finish what is in flight (within `drainTimeout`), exit. */
  | { type: 'mesh-sidecar/drain' };

/** From a worker to the primary. */
export type FromWorker =
  /** The worker listens for messages: send it the configuration. */
  | { type: 'mesh-sidecar/hello' }
  /** The worker's listeners are open (the proxy's address is the one the primary shares). */
  | { type: 'mesh-sidecar/listening'; listen: string; inbound?: string | undefined }
  /** The worker drains (it was signalled itself): it is not ready any more. */
  | { type: 'mesh-sidecar/draining' }
  /** The worker could not start (the message says why, naming the option); it exits 2. */
  | { type: 'mesh-sidecar/failed'; message: string }
  | { type: 'mesh-sidecar/report'; id: number; report: SidecarStatsReport }
  | { type: 'mesh-sidecar/metrics'; id: number; metrics?: MetricsJson; error?: string };

/** Whether `message` is one of ours (the channel may carry others'). */
export function isMeshMessage<T extends { type: string }>(message: unknown): message is T {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('mesh-sidecar/')
  );
}
