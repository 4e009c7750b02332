/**
 * The one options schema, assembled from the concerns' own: each concern folder declares its
 * option (schema, defaults and doc lines in one place); this file only says where each goes.
 * The TypeScript types of the options are derived from it (`options/index.ts`), and so is the
 * generated configuration reference. The sidecar's config file extends it (`sidecar/options.ts`).
 */
import { z } from 'zod';
import { loadBalancerOption } from '../balance/options.js';
import { circuitBreakerOption } from '../breaker/options.js';
import { axiosOption } from '../client/options.js';
import { type ControlPlaneOptions, controlPlaneSchema } from '../control/consul-kv.js';
import type { Clock } from '../core/clock.js';
import { discoveryOption } from '../discovery/options.js';
import { faultsOption } from '../fault/options.js';
import { modeOption, sidecarOption } from '../handoff/options.js';
import { hedgeOption } from '../hedge/options.js';
import { mtlsOption, tlsOption } from '../identity/options.js';
import { limitsOption } from '../limit/options.js';
import { outlierDetectionOption } from '../outlier/options.js';
import { redirectsOption } from '../redirect/options.js';
import { retryOption } from '../retry/options.js';
import { routingOption } from '../route/options.js';
import { loggerSchema, telemetryOption } from '../telemetry/options.js';
import { timeoutOption } from '../timeout/options.js';
import { transportOption } from '../transport/options.js';

/** The policy options: global, and per service under `services`. */
export const policySchema = z.strictObject({
  /**
   * How the fat client sends: `'axios'`, axios's own http adapter; `'undici'`, an undici pool
   * under the same axios API (interceptors, transforms and errors unchanged; much less CPU per
   * request). The sidecar always forwards with undici.
   */
  transport: transportOption,
  /**
   * Who delivers: `'direct'` runs the mesh in this process; `'sidecar'` hands each request to
   * the sidecar, which runs discovery, balancing, breaking and retries instead.
   */
  mode: modeOption,
  /** The sidecar used in `'sidecar'` mode. */
  sidecar: sidecarOption,
  /** Load balancer: a policy name, or an object with the policy and its tuning. */
  loadBalancer: loadBalancerOption,
  /** Retry policy; `false` disables retries. */
  retry: retryOption,
  /** Per-endpoint circuit breakers; `false` disables them. */
  circuitBreaker: circuitBreakerOption,
  /** Total deadline and per-try timeout. */
  timeout: timeoutOption,
  /** axios defaults (headers, params, auth, ...) for every request; the adapter is the mesh's. */
  axios: axiosOption,
  /**
   * Which redirects the fat client follows (`follow`) and how many (`max`); the sidecar passes
   * redirects back to its client.
   */
  redirects: redirectsOption,
  /** Concurrency and rate limits of the service. */
  limits: limitsOption,
  /**
   * Fault injection (chaos testing in staging): delay and/or abort a share of the requests,
   * before they reach any endpoint. Route rules may carry their own. `false` for none.
   */
  faults: faultsOption,
  /**
   * Outlier detection (Envoy's): eject endpoints after consecutive 5xx / gateway failures or a
   * low success rate, for a time that grows with repeated ejections. `false` for none.
   */
  outlierDetection: outlierDetectionOption,
  /**
   * Hedging of idempotent requests: a backup to another endpoint when the first has not answered
   * after a delay; first answer wins. Backups are paid from the retry budget (the default one
   * when `retry` or its budget is off). `false` for none.
   */
  hedge: hedgeOption,
  /** Routing within the service: rules, the default route, zone preference. */
  routing: routingOption,
  /**
   * Mutual TLS to the service's endpoints: which are dialed with it (those marked as in the mesh,
   * all, or none) and which identities they may present. Needs `tls`.
   */
  mtls: mtlsOption,
});

/** The options of `new MeshClient(options)` (and of the sidecar's config file, which adds its own). */
export const optionsSchema = z.strictObject({
  /**
   * Where endpoints come from: `{ static: { service: [urls] } }`, `{ consul: {...} }`,
   * `{ dns: {...} }` or any `Discovery` object.
   */
  discovery: discoveryOption,
  ...policySchema.shape,
  /** Per-service overrides of any policy option. */
  services: z.record(z.string().min(1), policySchema).default({}),
  /** Time source; tests inject a `ManualClock`. @defaultValue the system clock */
  clock: z
    .custom<Clock>((v) => typeof v === 'object' && v !== null && typeof (v as Clock).now === 'function', {
      message: 'expected a Clock (now, setTimeout, clearTimeout)',
    })
    .optional(),
  /** Random source in [0, 1) for balancers and jitter; tests inject a seeded one. @defaultValue `Math.random` */
  random: z
    .custom<() => number>((v) => typeof v === 'function', { message: 'expected a function' })
    .optional(),
  /**
   * This workload's identity for mutual TLS: its certificate (a SPIFFE ID as URI SAN), key and
   * trust bundle, as PEM text or files re-read when they change, or from Consul Connect's CA.
   * @defaultValue none: mesh endpoints are dialed in plaintext
   */
  tls: tlsOption,
  /** Metrics and tracing. */
  telemetry: telemetryOption,
  /** Where the mesh logs (pino, console, any `Logger`); header values and tokens are redacted. @defaultValue none (silent) */
  logger: loggerSchema.optional(),
  /**
   * Central configuration: a Consul KV key holding JSON overrides of the policy options, watched
   * and applied live; a bad value is rejected with a `config-rejected` event and the last good
   * configuration stays.
   * @defaultValue none
   */
  controlPlane: (controlPlaneSchema as z.ZodType<ControlPlaneOptions, ControlPlaneOptions>).optional(),
});

/**
 * What `configure()` takes: any policy option, globally or per service. It is validated as the
 * constructor's options are; its defaults are not used (a partial changes only what it names).
 */
export const configureSchema = policySchema.extend({
  /** Per-service overrides, merged onto those in force. */
  services: z.record(z.string().min(1), policySchema).optional(),
});
