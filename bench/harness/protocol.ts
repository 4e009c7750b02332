/**
 * What the orchestrator (the `npm run demo` / `npm run bench` process, which also hosts the
 * upstream fleet) and a load driver (a child process, one per run, so each approach gets a fresh
 * process whose CPU and memory are its own) say to each other over the IPC channel, and the
 * shapes of a run's specification and result. Everything here is plain JSON.
 */

/** The ways a request can be delivered, compared side by side. */
export type ApproachKind =
  | 'bare-axios'
  | 'bare-undici'
  | 'fat-client'
  | 'fat-client-undici'
  | 'mesh-sidecar'
  | 'node-proxy'
  | 'haproxy';

/** Human names for the approaches, as the table and the report show them. */
export const APPROACH_LABELS: Record<ApproachKind, string> = {
  'bare-axios': 'bare axios',
  'bare-undici': 'bare undici',
  'fat-client': 'fat client',
  'fat-client-undici': 'fat client (undici transport)',
  'mesh-sidecar': 'mesh-sidecar',
  'node-proxy': 'bare Node proxy (floor)',
  haproxy: 'HAProxy sidecar',
};

/** One kind of request in the mix; `{i}` in the path or a header value is a running counter, `{rand}` a random 0-9999. */
export interface RequestTemplate {
  method: string;
  path: string;
  /** Relative share of the mix. */
  weight: number;
  /** JSON body, sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** Everything a driver needs for one run. */
export interface RunSpec {
  approach: ApproachKind;
  /** The logical service every request goes to. */
  service: string;
  /** Endpoint URLs, for the approaches that pick endpoints themselves. */
  urls: string[];
  /** The fat client's discovery option (JSON); static over `urls` when absent. */
  discovery?: Record<string, unknown>;
  /** Where the sidecar listens (mesh-sidecar, node-proxy, haproxy). */
  sidecarUrl?: string;
  /** MeshClient policy options (JSON) for the fat client. */
  policy: Record<string, unknown>;
  /** Caller-side timeout (ms) of one request, for every approach. */
  timeoutMs: number;
  /** Requests kept in flight (closed loop). */
  concurrency: number;
  /** Traffic before the measured window (connections, JIT), not recorded. */
  warmupMs: number;
  /** Length of the measured window. */
  durationMs: number;
  /** Width of a success-over-time bucket. */
  bucketMs: number;
  /** How often the driver reports progress. */
  progressMs: number;
  requests: RequestTemplate[];
  /** Hard bound on requests issued, whatever the clock says. */
  maxRequests: number;
}

/** Latency figures in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Outcomes of the requests that finished within one bucket of the window. */
export interface TimelineBucket {
  /** Bucket start, seconds from the window start. */
  t: number;
  ok: number;
  failed: number;
}

/** What a driver measured: only requests started inside the measured window. */
export interface DriverResult {
  requests: number;
  ok: number;
  failed: number;
  /** Requests that also finished inside the window (the throughput numerator). */
  completedInWindow: number;
  windowMs: number;
  /** Requests per second completed inside the window. */
  throughput: number;
  /** ok / requests. */
  successRate: number;
  /** Caller-observed latency of every request, failures included. */
  latency: LatencySummary;
  /** `[percentile, ms]` points of the latency distribution (HDR percentile spectrum). */
  curve: Array<[number, number]>;
  timeline: TimelineBucket[];
  /** Failures by error code (`HTTP 503`, `ECONNREFUSED`, `MESH_TIMEOUT`, ...). */
  errors: Record<string, number>;
  /** Retries the client itself made (fat client), when it can tell. */
  clientRetries: number | undefined;
  /** Client process CPU (user + system) over the window, ms. */
  clientCpuMs: number;
  /** Peak resident set size of the client process, MB. */
  clientRssMb: number;
  /** The HDR histogram (µs), compressed base64, for re-analysis. */
  histogram: string;
}

/** Orchestrator to driver. */
export type ToDriver =
  | { type: 'run'; spec: RunSpec }
  /** Registry churn: the fat client's discovery (or bare axios's list) becomes `urls`. */
  | { type: 'endpoints'; urls: string[] };

/** Driver to orchestrator. */
export type FromDriver =
  /** Loaded and listening for a run (sent once, at start). */
  | { type: 'ready' }
  | { type: 'phase'; phase: 'measure' | 'drain' }
  | {
      type: 'progress';
      phase: 'warmup' | 'measure' | 'drain';
      /** ms since the window started (0 during warm-up). */
      elapsedMs: number;
      requests: number;
      ok: number;
      failed: number;
    }
  | { type: 'result'; result: DriverResult }
  | { type: 'error'; message: string };
