/**
 * The options schema, shared by `new MeshClient()` and the sidecar's config file (which extends
 * it). Every policy option is declared once with its default; {@link policyFields} builds both the
 * global form (defaults applied) and the per-service form (no defaults, so an override changes
 * only what it names). The documented types are in `options.ts`.
 */
import { z } from 'zod';
import { controlPlaneSchema } from './control/consul-kv.js';
import type { Clock } from './core/clock.js';
import { consulDiscoverySchema } from './discovery/consul-options.js';
import type { Discovery } from './discovery/discovery.js';
import type { BalancerPolicy } from './options.js';
import { governanceFields } from './options-governance.js';
import { loggerSchema, telemetrySchema } from './telemetry/options.js';

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
    ...governanceFields(withDefaults),
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

/** One service's policy overrides (no defaults: an override changes only what it names). */
export const serviceSchema = z.strictObject(override);

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
  controlPlane: controlPlaneSchema.optional().describe('Central configuration from a Consul KV key.'),
  ...global,
});
