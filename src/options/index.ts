/**
 * The options: their types (derived from the schema, so names, types, defaults and doc lines
 * have one source), validation, and the policy in force for a service.
 *
 * A service's policy is the global policy with the service's overrides layered on
 * ({@link mergeOptions}) and validated again, defaults applied: an override changes only what it
 * names, and `false` in an override turns a concern off for that service only.
 */
import type { z } from 'zod';
import { parseWith } from '../errors/validate.js';
import { warnIfPerTryUnreachable } from '../timeout/options.js';
import { mergeOptions } from './merge.js';
import { configureSchema, optionsSchema, policySchema } from './schema.js';

export { parseWith } from '../errors/validate.js';
export { mergeOptions } from './merge.js';
export { configureSchema, optionsSchema, policySchema } from './schema.js';

/**
 * Options of `new MeshClient(options)`: the policy options (global), plus where endpoints come
 * from, per-service overrides, telemetry, logging and the control plane.
 * @interface
 */
export type MeshClientOptions = z.input<typeof optionsSchema>;

/**
 * The policy options: global in {@link MeshClientOptions}, per service under `services`.
 * @interface
 */
export type PolicyOptions = z.input<typeof policySchema>;

/**
 * What `MeshClient.configure()` takes: any policy option, globally or per service.
 * @interface
 */
export type ConfigureOptions = z.input<typeof configureSchema>;

/**
 * The policy in force for one service: global options with its overrides merged in, defaults applied.
 * @interface
 */
export type ServicePolicy = z.output<typeof policySchema>;

/**
 * Validated options with defaults applied.
 * @interface
 */
export type ResolvedOptions = z.output<typeof optionsSchema>;

/** Validate raw options; throws `MESH_BAD_OPTIONS` naming the offending option's path under `root`. */
export function parseOptions(raw: unknown, root = 'options'): ResolvedOptions {
  const options = parseWith(optionsSchema, raw, root) as ResolvedOptions;
  warnIfPerTryUnreachable(options.timeout, setsPerTry(raw));
  return options;
}

/** Whether an options layer names `timeout.perTry` itself (a default never warrants a warning). */
function setsPerTry(layer: unknown): boolean {
  const timeout = (layer as { timeout?: unknown } | undefined)?.timeout;
  return typeof timeout === 'object' && timeout !== null && 'perTry' in timeout;
}

/** Validate a `configure()` partial; throws `MESH_BAD_OPTIONS` naming the offending path under `root`. */
export function parseConfigure(raw: unknown, root = 'options'): ConfigureOptions {
  parseWith(configureSchema, raw, root);
  // The partial itself is what merges: its parsed form would carry defaults it did not name.
  return (raw ?? {}) as ConfigureOptions;
}

/** The policy of `service`: `options`' global policy with `options.services[service]` layered on. */
export function policyFor(options: ResolvedOptions, raw: MeshClientOptions, service: string): ServicePolicy {
  const override = Object.hasOwn(raw.services ?? {}, service) ? raw.services?.[service] : undefined;
  const base = globalPolicy(options);
  if (override === undefined) return base;
  const policy = parseWith(
    policySchema,
    mergeOptions(base, override),
    `options.services.${service}`,
  ) as ServicePolicy;
  warnIfPerTryUnreachable(policy.timeout, setsPerTry(raw) || setsPerTry(override));
  return policy;
}

const POLICY_KEYS = Object.keys(policySchema.shape) as Array<keyof ServicePolicy>;

/** The global policy part of parsed options. */
function globalPolicy(options: ResolvedOptions): ServicePolicy {
  return Object.fromEntries(POLICY_KEYS.map((key) => [key, options[key]])) as ServicePolicy;
}
