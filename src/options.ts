/**
 * The options: their documented types (what typedoc and the configuration reference show),
 * parsing, and how a service's policy is resolved from the global options and its overrides.
 * The schema itself is in `options-schema.ts`, error messages in `options-parse.ts`.
 */
import type { CreateAxiosDefaults } from 'axios';
import type { ControlPlaneOptions } from './control/consul-kv.js';
import type { Clock } from './core/clock.js';
import type { EndpointInfo } from './core/endpoint.js';
import type { ConsulDiscoveryOptions } from './discovery/consul-options.js';
import type { Discovery } from './discovery/discovery.js';
import { type GovernanceOptions, type GovernancePolicy, resolveGovernance } from './options-governance.js';
import type { Logger, ResolvedTelemetry, TelemetryOptions } from './telemetry/options.js';

/** A load-balancing policy name. */
export type BalancerPolicy = 'peak-ewma' | 'least-request' | 'round-robin' | 'random' | 'ring-hash';

import { parseWith } from './options-parse.js';
import { optionsSchema } from './options-schema.js';

export { parseWith } from './options-parse.js';
export { BALANCER_POLICIES, optionsSchema } from './options-schema.js';

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

/**
 * The policy options; global in {@link MeshClientOptions}, per service under `services`. The
 * traffic-governance ones (limits, faults, outlier detection, hedging, routing) are in
 * {@link GovernanceOptions}.
 */
export interface PolicyOptions extends GovernanceOptions {
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
  /**
   * Central configuration: a Consul KV key holding JSON overrides of the policy options, watched
   * and applied live (see {@link ControlPlaneOptions}); a bad value is rejected with a
   * `config-rejected` event and the last good configuration stays. @defaultValue none
   */
  controlPlane?: ControlPlaneOptions;
}

/** `T` with every field present and defined: an options type after its defaults are applied. */
export type Full<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

/** The policy in force for one service: global options with its overrides merged in, defaults applied. */
export interface ServicePolicy extends GovernancePolicy {
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
  controlPlane: ControlPlaneOptions | undefined;
  transport: ServicePolicy['transport'];
  mode: ServicePolicy['mode'];
  sidecar: ServicePolicy['sidecar'];
  loadBalancer: BalancerPolicy | Full<LoadBalancerOptions>;
  retry: ServicePolicy['retry'];
  circuitBreaker: ServicePolicy['circuitBreaker'];
  timeout: ServicePolicy['timeout'];
  axios: Record<string, unknown>;
  limits: GovernanceOptions['limits'];
  faults: GovernanceOptions['faults'];
  outlierDetection: GovernanceOptions['outlierDetection'];
  hedge: GovernanceOptions['hedge'];
  routing: GovernanceOptions['routing'];
}

/** Validate raw options; throws `MESH_BAD_OPTIONS` naming the offending option's path. */
export function parseOptions(raw: unknown, root = 'options'): ResolvedOptions {
  return parseWith(optionsSchema, raw, root) as ResolvedOptions;
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
    ...resolveGovernance(options, o),
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
