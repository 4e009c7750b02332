/**
 * The one options schema, shared by `new MeshClient()` and the sidecar's config file.
 *
 * Every policy option is declared once with its default; {@link policyFields} builds both the
 * global form (defaults applied) and the per-service form (no defaults, so an override changes
 * only what it names). A bad value fails with `MESH_BAD_OPTIONS` and the option's path.
 */
import type { CreateAxiosDefaults } from 'axios';
import { z } from 'zod';
import type { Clock } from './core/clock.js';
import type { EndpointInfo } from './core/endpoint.js';
import { type ConsulDiscoveryOptions, consulDiscoverySchema } from './discovery/consul-options.js';
import type { Discovery } from './discovery/discovery.js';
import { MeshError } from './errors.js';
import {
  type Logger,
  loggerSchema,
  type ResolvedTelemetry,
  type TelemetryOptions,
  telemetrySchema,
} from './telemetry/options.js';

/** A load-balancing policy name. */
export type BalancerPolicy = 'peak-ewma' | 'least-request' | 'round-robin' | 'random' | 'ring-hash';

/** Every load-balancing policy name. */
export const BALANCER_POLICIES = [
  'peak-ewma',
  'least-request',
  'round-robin',
  'random',
  'ring-hash',
] as const satisfies readonly BalancerPolicy[];

const positiveMs = z.number().positive().finite();
const percent = z.number().min(0).max(100);

/** Build the policy fields, with defaults (global options) or without (per-service overrides). */
function policyFields(withDefaults: boolean) {
  const d = (schema: z.ZodType, value: unknown): z.ZodType =>
    withDefaults ? schema.prefault(value as never) : schema.optional();

  const loadBalancerObject = z.strictObject({
    policy: d(z.enum(BALANCER_POLICIES), 'peak-ewma').describe('Which balancer picks the endpoint.'),
    decay: d(positiveMs, 10_000).describe('peak-ewma: time constant (ms) of the latency estimate.'),
    initialRtt: d(z.number().min(0).finite(), 30).describe(
      'peak-ewma: latency (ms) assumed for a new endpoint.',
    ),
    failurePenalty: d(z.number().min(0).finite(), 1_000).describe(
      'peak-ewma: latency (ms) recorded for a failed attempt, so failing fast does not look fast.',
    ),
  });

  const budget = z.strictObject({
    ratio: d(z.number().min(0).max(10), 0.2).describe('Retries allowed per request, over the window.'),
    minPerSecond: d(z.number().min(0).finite(), 10).describe('Retries always allowed per second.'),
    window: d(positiveMs, 10_000).describe(
      'Length (ms) of the window requests and retries are counted over.',
    ),
  });

  const retryObject = z.strictObject({
    attempts: d(z.number().int().min(1).max(100), 3).describe(
      'Most attempts per request, the first included.',
    ),
    backoff: d(
      z.strictObject({
        base: d(z.number().min(0).finite(), 25).describe('First backoff cap (ms); doubles each retry.'),
        cap: d(z.number().min(0).finite(), 250).describe('Largest backoff (ms).'),
      }),
      {},
    ).describe('Exponential backoff with full jitter between attempts.'),
    budget: d(z.union([z.literal(false), budget]), {}).describe(
      'Retry budget (Finagle/Linkerd); false disables it.',
    ),
    statuses: d(z.array(z.number().int().min(100).max(599)), [502, 503, 504]).describe(
      'Response statuses that are retried (idempotent methods only).',
    ),
    stacking: d(z.enum(['avoid', 'allow']), 'avoid').describe(
      "'avoid': a reply a mesh layer below already retried (x-mesh-attempts) is not retried again, and its attempts count against the budget.",
    ),
  });

  const breakerObject = z.strictObject({
    errorThresholdPercentage: d(percent, 50).describe(
      'Failure share (%) in the window that opens the breaker.',
    ),
    volumeThreshold: d(z.number().int().min(0), 20).describe('Attempts in the window before it may open.'),
    resetTimeout: d(positiveMs, 1_000).describe('Recovery time (ms) after a first trip; doubles per trip.'),
    maxResetTimeout: d(positiveMs, 60_000).describe('Longest recovery time (ms).'),
    halfOpenTrials: d(z.number().int().min(1).max(1000), 3).describe(
      'Consecutive successful trials that close a half-open breaker.',
    ),
    rollingCountTimeout: d(positiveMs, 10_000).describe('Length (ms) of the statistics window.'),
    rollingCountBuckets: d(z.number().int().min(1).max(1000), 10).describe('Buckets in the window.'),
    maxEjectionPercent: d(percent, 50).describe(
      "Largest share (%) of a service's endpoints skipped for open breakers (at least one); beyond it, breakers are not allowed to open.",
    ),
  });

  const timeoutObject = z.strictObject({
    total: d(z.union([z.literal(false), positiveMs]), 15_000).describe(
      'Deadline (ms) over all attempts and backoffs; false for none.',
    ),
    perTry: d(z.union([z.literal(false), positiveMs]), 5_000).describe(
      'Timeout (ms) of one attempt; false for none.',
    ),
    propagate: d(z.boolean(), true).describe(
      'Send the time left to upstreams in x-mesh-deadline-ms, and (sidecar) honour it when received.',
    ),
  });

  const sidecarObject = z.strictObject({
    url: d(z.url({ protocol: /^https?$/ }), 'http://127.0.0.1:15001').describe('Where the sidecar listens.'),
    fallback: d(z.enum(['direct', 'none']), 'direct').describe(
      "When the sidecar is unreachable: 'direct' delivers in-process, 'none' fails with MESH_SIDECAR_UNREACHABLE.",
    ),
    probeInterval: d(positiveMs, 5_000).describe(
      'How long (ms) to go direct before trying the sidecar again.',
    ),
  });

  return {
    transport: d(z.enum(['axios', 'undici']), 'axios').describe(
      "Fat client only: send with axios's http adapter, or with undici under the same axios API.",
    ),
    mode: d(z.enum(['direct', 'sidecar']), 'direct').describe(
      "'direct': this process runs the mesh; 'sidecar': requests go through the sidecar.",
    ),
    sidecar: d(sidecarObject, {}).describe('The sidecar used in sidecar mode.'),
    loadBalancer: d(z.union([z.enum(BALANCER_POLICIES), loadBalancerObject]), 'peak-ewma').describe(
      'Load balancer: a policy name or an object with its tuning.',
    ),
    retry: d(z.union([z.literal(false), retryObject]), {}).describe('Retry policy; false disables retries.'),
    circuitBreaker: d(z.union([z.literal(false), breakerObject]), {}).describe(
      'Per-endpoint circuit breakers (opossum); false disables them.',
    ),
    timeout: d(timeoutObject, {}).describe('Total deadline and per-try timeout.'),
    axios: d(
      z.record(z.string(), z.unknown()).refine((o) => !('adapter' in o), {
        message: 'the mesh is the adapter; set no adapter',
      }),
      {},
    ).describe('axios defaults (headers, params, ...) for every request to the service.'),
  };
}

const endpointInfoSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  id: z.string().min(1).optional(),
  weight: z.number().positive().finite().optional(),
  tags: z.array(z.string()).optional(),
  meta: z.record(z.string(), z.string()).optional(),
});

const staticSchema = z.record(
  z.string().min(1),
  z.array(z.union([z.url({ protocol: /^https?$/ }), endpointInfoSchema])),
);

const discoverySchema = z.union([
  z.strictObject({ static: staticSchema }),
  z.strictObject({ consul: consulDiscoverySchema }),
  z.custom<Discovery>(
    (v) => typeof v === 'object' && v !== null && typeof (v as Discovery).subscribe === 'function',
    { message: 'expected { static: {...} }, { consul: {...} } or a Discovery object' },
  ),
]);

const global = policyFields(true);
const override = policyFields(false);

const serviceSchema = z.strictObject(override);

/** The options schema (the sidecar's config extends it). */
export const optionsSchema = z.strictObject({
  discovery: discoverySchema.default({ static: {} }).describe('Where endpoints come from.'),
  services: z
    .record(z.string().min(1), serviceSchema)
    .default({})
    .describe('Per-service overrides of any policy.'),
  clock: z
    .custom<Clock>((v) => typeof v === 'object' && v !== null && typeof (v as Clock).now === 'function')
    .optional()
    .describe('Time source (tests inject a ManualClock).'),
  random: z
    .custom<() => number>((v) => typeof v === 'function')
    .optional()
    .describe('Random source in [0, 1) for balancers and jitter (tests inject a seeded one).'),
  telemetry: telemetrySchema.prefault({}).describe('Metrics (prom-client) and tracing (OpenTelemetry API).'),
  logger: loggerSchema.optional().describe('Where the mesh logs (pino, console); silent without one.'),
  ...global,
});

/** Load-balancer tuning; a bare policy name takes the defaults below. */
export interface LoadBalancerOptions {
  /** Which balancer picks the endpoint. @defaultValue `'peak-ewma'` */
  policy?: BalancerPolicy;
  /** peak-ewma: time constant (ms) over which the latency estimate decays. @defaultValue `10000` */
  decay?: number;
  /** peak-ewma: latency (ms) assumed for an endpoint not yet measured. @defaultValue `30` */
  initialRtt?: number;
  /** peak-ewma: latency (ms) recorded for a failed attempt, so failing fast does not look fast. @defaultValue `1000` */
  failurePenalty?: number;
}

/** Retry budget (Finagle's `RetryBudget`, Linkerd's retry budget). */
export interface RetryBudgetOptions {
  /** Retries allowed per request over the window. @defaultValue `0.2` */
  ratio?: number;
  /** Retries always allowed per second, whatever the traffic. @defaultValue `10` */
  minPerSecond?: number;
  /** Length (ms) of the window requests and retries are counted over. @defaultValue `10000` */
  window?: number;
}

/** Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2^(n-1))). */
export interface BackoffOptions {
  /** Backoff ceiling (ms) before the first retry; it doubles each retry. @defaultValue `25` */
  base?: number;
  /** Largest backoff ceiling (ms). @defaultValue `250` */
  cap?: number;
}

/** What is retried and how often. */
export interface RetryOptions {
  /** Most attempts per request, the first included. @defaultValue `3` */
  attempts?: number;
  /** Backoff between attempts. */
  backoff?: BackoffOptions;
  /** Retry budget; `false` disables it. */
  budget?: RetryBudgetOptions | false;
  /** Response statuses retried for idempotent methods. @defaultValue `[502, 503, 504]` */
  statuses?: number[];
  /**
   * Retries across layers. `'avoid'`: a reply that a mesh layer below (a mesh-sidecar, or a
   * service's own mesh) already retried, as its `x-mesh-attempts` header says, is not retried
   * again here, and those attempts are charged to this layer's budget, so one budget bounds the
   * chain. `'allow'`: retry it anyway (each layer multiplies). @defaultValue `'avoid'`
   */
  stacking?: 'avoid' | 'allow';
}

/** Per-endpoint circuit breakers (on opossum). */
export interface CircuitBreakerOptions {
  /** Failure share (%) in the window that opens the breaker. @defaultValue `50` */
  errorThresholdPercentage?: number;
  /** Attempts in the window before the breaker may open. @defaultValue `20` */
  volumeThreshold?: number;
  /**
   * Recovery time (ms) after a first trip, before half-open trials; it doubles with each
   * consecutive trip up to `maxResetTimeout`, with jitter (Linkerd's failure accrual). @defaultValue `1000`
   */
  resetTimeout?: number;
  /** Longest recovery time (ms). @defaultValue `60000` */
  maxResetTimeout?: number;
  /**
   * Trials a half-open breaker lets through; it closes only after this many consecutive
   * successes, and one failed trial opens it again. @defaultValue `3`
   */
  halfOpenTrials?: number;
  /** Length (ms) of the statistics window. @defaultValue `10000` */
  rollingCountTimeout?: number;
  /** Buckets in the statistics window. @defaultValue `10` */
  rollingCountBuckets?: number;
  /**
   * Largest share (%) of a service's endpoints that open breakers may take out of rotation (at
   * least one endpoint); past it a breaker is not allowed to open, so traffic still flows to the
   * least-bad endpoints (Envoy's max ejection percent). @defaultValue `50`
   */
  maxEjectionPercent?: number;
}

/** Deadlines. */
export interface TimeoutOptions {
  /** Deadline (ms) over all attempts and backoffs; `false` for none. A request's axios `timeout` overrides it. @defaultValue `15000` */
  total?: number | false;
  /** Timeout (ms) of one attempt; `false` for none. @defaultValue `5000` */
  perTry?: number | false;
  /**
   * Deadline propagation: each attempt tells the upstream the time it has left in the
   * `x-mesh-deadline-ms` header (a mesh-sidecar, or a service using `withIncomingDeadline`,
   * then works within it); the sidecar also takes an incoming header as the upper bound of its
   * own deadline. @defaultValue `true`
   */
  propagate?: boolean;
}

/** The sidecar a client in `mode: 'sidecar'` sends through. */
export interface SidecarOptions {
  /** Where the sidecar listens; the service goes in the `Host` header. @defaultValue `'http://127.0.0.1:15001'` */
  url?: string;
  /**
   * When the sidecar cannot be reached: `'direct'` delivers in-process (discovery, balancing,
   * retries of this client), `'none'` fails with `MESH_SIDECAR_UNREACHABLE`. @defaultValue `'direct'`
   */
  fallback?: 'direct' | 'none';
  /** After the sidecar was found unreachable, how long (ms) to go direct before trying it again. @defaultValue `5000` */
  probeInterval?: number;
}

/** The policy options; global in {@link MeshClientOptions}, per service under `services`. */
export interface PolicyOptions {
  /**
   * How the fat client sends: `'axios'`, axios's own http adapter; `'undici'`, an undici pool
   * under the same axios API (interceptors, transforms and errors unchanged; much less CPU per
   * request; redirects are not followed). The sidecar always forwards with undici. @defaultValue `'axios'`
   */
  transport?: 'axios' | 'undici';
  /**
   * Who delivers: `'direct'` runs the mesh in this process; `'sidecar'` hands each request to
   * the sidecar, which runs discovery, balancing, breaking and retries instead. @defaultValue `'direct'`
   */
  mode?: 'direct' | 'sidecar';
  /** The sidecar used in `'sidecar'` mode. */
  sidecar?: SidecarOptions;
  /** Load balancer: a policy name or its tuning. @defaultValue `'peak-ewma'` */
  loadBalancer?: BalancerPolicy | LoadBalancerOptions;
  /** Retry policy; `false` disables retries. */
  retry?: RetryOptions | false;
  /** Per-endpoint circuit breakers; `false` disables them. */
  circuitBreaker?: CircuitBreakerOptions | false;
  /** Total deadline and per-try timeout. */
  timeout?: TimeoutOptions;
  /** axios defaults (headers, params, auth, ...) for every request; the adapter is the mesh's. @defaultValue `{}` */
  axios?: CreateAxiosDefaults & Record<string, unknown>;
}

/** Options of `new MeshClient(options)`. */
export interface MeshClientOptions extends PolicyOptions {
  /**
   * Where endpoints come from: `{ static: { service: [urls] } }`, `{ consul: {...} }` (see
   * {@link ConsulDiscoveryOptions}) or any {@link Discovery}. @defaultValue `{ static: {} }`
   */
  discovery?: DiscoveryOptions;
  /** Per-service overrides of any policy option. @defaultValue `{}` */
  services?: Record<string, PolicyOptions>;
  /** Time source; tests inject a `ManualClock`. @defaultValue the system clock */
  clock?: Clock;
  /** Random source in [0, 1); tests inject a seeded one. @defaultValue `Math.random` */
  random?: () => number;
  /** Metrics and tracing; see {@link TelemetryOptions}. @defaultValue `{}` */
  telemetry?: TelemetryOptions;
  /** Where the mesh logs (pino, console, any {@link Logger}); header values and tokens are redacted. @defaultValue none (silent) */
  logger?: Logger;
}

/** `T` with every field present and defined: an options type after its defaults are applied. */
export type Full<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

/** The policy in force for one service: global options with its overrides merged in, defaults applied. */
export interface ServicePolicy {
  transport: 'axios' | 'undici';
  mode: 'direct' | 'sidecar';
  sidecar: Full<SidecarOptions>;
  loadBalancer: Full<LoadBalancerOptions>;
  retry:
    | (Full<RetryOptions> & { backoff: Full<BackoffOptions>; budget: Full<RetryBudgetOptions> | false })
    | false;
  circuitBreaker: Full<CircuitBreakerOptions> | false;
  timeout: Full<TimeoutOptions>;
  axios: Record<string, unknown>;
}

/** The forms of the `discovery` option: static endpoints, Consul, or a {@link Discovery} of your own. */
export type DiscoveryOptions =
  | { static: Record<string, Array<string | EndpointInfo>> }
  | { consul: ConsulDiscoveryOptions }
  | Discovery;

/** Validated options with defaults applied. */
export interface ResolvedOptions {
  discovery: DiscoveryOptions;
  services: Record<string, PolicyOptions>;
  clock: Clock | undefined;
  random: (() => number) | undefined;
  telemetry: ResolvedTelemetry;
  logger: Logger | undefined;
  transport: ServicePolicy['transport'];
  mode: ServicePolicy['mode'];
  sidecar: ServicePolicy['sidecar'];
  loadBalancer: BalancerPolicy | Full<LoadBalancerOptions>;
  retry: ServicePolicy['retry'];
  circuitBreaker: ServicePolicy['circuitBreaker'];
  timeout: ServicePolicy['timeout'];
  axios: Record<string, unknown>;
}

/** Validate raw options; throws `MESH_BAD_OPTIONS` naming the offending option's path. */
export function parseOptions(raw: unknown, root = 'options'): ResolvedOptions {
  return parseWith(optionsSchema, raw, root) as ResolvedOptions;
}

/** Validate `raw` against `schema`; throws `MESH_BAD_OPTIONS` naming the offending path under `root`. */
export function parseWith(schema: z.ZodType, raw: unknown, root: string): unknown {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new MeshError('MESH_BAD_OPTIONS', describeIssues(result.error.issues, root));
}

/** Merge a service's overrides onto the global policy (objects merge, `false` and values replace). */
export function resolvePolicy(options: ResolvedOptions, service: string): ServicePolicy {
  const o: PolicyOptions = options.services[service] ?? {};
  const lb = o.loadBalancer ?? options.loadBalancer;
  const globalLb =
    typeof options.loadBalancer === 'string' ? { policy: options.loadBalancer } : options.loadBalancer;
  const loadBalancer = {
    ...LB_DEFAULTS,
    ...globalLb,
    ...(typeof lb === 'string' ? { policy: lb } : lb),
  };
  return {
    transport: o.transport ?? options.transport,
    mode: o.mode ?? options.mode,
    sidecar: { ...options.sidecar, ...stripUndefined(o.sidecar) },
    loadBalancer,
    retry: mergeLayer(options.retry, o.retry, RETRY_DEFAULTS) as ServicePolicy['retry'],
    circuitBreaker: mergeLayer(
      options.circuitBreaker,
      o.circuitBreaker,
      BREAKER_DEFAULTS,
    ) as ServicePolicy['circuitBreaker'],
    timeout: { ...options.timeout, ...stripUndefined(o.timeout) },
    axios: mergeLayer(options.axios, o.axios, {}) as Record<string, unknown>,
  };
}

const defaults = optionsSchema.parse({ loadBalancer: {} }) as ResolvedOptions;
const LB_DEFAULTS = defaults.loadBalancer as Full<LoadBalancerOptions>;
const RETRY_DEFAULTS = defaults.retry as Exclude<ServicePolicy['retry'], false>;
const BREAKER_DEFAULTS = defaults.circuitBreaker as Exclude<ServicePolicy['circuitBreaker'], false>;

function mergeLayer(base: object | false, over: object | false | undefined, full: object): object | false {
  if (over === false) return false;
  if (over === undefined) return base;
  const merged: Record<string, unknown> = { ...(base === false ? full : base) };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    // A nested object merges onto the global one, or onto its defaults where the global is `false`.
    const prev = isPlainObject(merged[k]) ? merged[k] : (full as Record<string, unknown>)[k];
    merged[k] = isPlainObject(v) && isPlainObject(prev) ? { ...prev, ...stripUndefined(v) } : v;
  }
  return merged;
}

function isPlainObject(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  return o ? (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>) : {};
}

type Issue = z.core.$ZodIssue;

function describeIssues(issues: readonly Issue[], root: string): string {
  return issues
    .map((issue) => describeIssue(issue, []))
    .map(([path, msg]) => `${formatPath(root, path)}: ${msg}`)
    .join('; ');
}

/** For a union, report the branch that got furthest, so the message names the deepest bad option. */
function describeIssue(issue: Issue, prefix: PropertyKey[]): [PropertyKey[], string] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') return [[...path, issue.keys[0]!], 'unknown option'];
  if (issue.code === 'invalid_union' && issue.errors.length) {
    const branches = issue.errors.filter((b) => b.length);
    const deepest = branches.reduce((best, b) =>
      Math.max(...b.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 1 : 0))) >
      Math.max(...best.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 1 : 0)))
        ? b
        : best,
    );
    const first = deepest[0];
    const deep = first && (first.path.length > 0 || first.code === 'unrecognized_keys');
    if (first && deep) return describeIssue(first, path);
    return [path, unionMessage(branches) ?? issue.message];
  }
  return [path, issue.message];
}

/** `expected "a"|"b" or object, received string` from the branches' type and value issues. */
function unionMessage(branches: Issue[][]): string | undefined {
  const expected: string[] = [];
  let received = '';
  for (const [issue] of branches) {
    if (issue?.code === 'invalid_type') {
      expected.push(issue.expected);
      received ||= /received (\w+)/.exec(issue.message)?.[1] ?? '';
    } else if (issue?.code === 'invalid_value') {
      expected.push(issue.values.map((v) => JSON.stringify(v)).join('|'));
    } else if (issue?.code === 'custom') {
      return issue.message;
    } else {
      return undefined;
    }
  }
  return `Invalid input: expected ${expected.join(' or ')}${received ? `, received ${received}` : ''}`;
}

function formatPath(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const p of path) {
    out +=
      typeof p === 'number'
        ? `[${p}]`
        : /^[A-Za-z_$][\w$]*$/.test(String(p))
          ? `.${String(p)}`
          : `[${JSON.stringify(String(p))}]`;
  }
  return out;
}
