/**
 * The traffic-governance options (limits, fault injection, outlier detection, hedging, routing):
 * their documented types, their zod fields for {@link policyFields} (global form with defaults,
 * per-service form without), and how a service's setting is resolved from the global one and its
 * override. Each concern's own options, defaults and validation live in its module
 * (`limit/`, `route/`, `breaker/outlier.ts`, `retry/hedge.ts`); this file only wires them into
 * the one options object. Kept apart from `options.ts` so neither grows past a readable size.
 */
import { z } from 'zod';
import {
  OUTLIER_DETECTION_DEFAULTS,
  type OutlierDetectionOptions,
  outlierDetectionSchema,
} from './breaker/outlier.js';
import {
  CONCURRENCY_LIMIT_DEFAULTS,
  type ConcurrencyLimitOptions,
  concurrencyLimitSchema,
} from './limit/concurrency.js';
import { type RateLimitOptions, rateLimitSchema } from './limit/rate.js';
import type { Full } from './options.js';
import { HEDGE_DEFAULTS, type HedgeOptions, hedgeSchema } from './retry/hedge.js';
import { type FaultOptions, faultSchema } from './route/fault.js';
import { type RouteDestination, type RouteRule, type RoutingOptions, routingSchema } from './route/rules.js';
import type { ZoneAwareOptions } from './route/zone.js';

/** Per-service limits: a concurrency limit (bulkhead) and a token-bucket rate limit. */
export interface LimitsOptions {
  /**
   * Concurrency limit (bulkhead) with an optional FIFO queue; a request that finds no slot (or
   * waits too long) fails with `MESH_BULKHEAD_FULL`. `false` for none. @defaultValue `false`
   */
  concurrency?: ConcurrencyLimitOptions | false;
  /** Token-bucket rate limit; a request that finds no token fails with `MESH_RATE_LIMITED`. `false` for none. @defaultValue `false` */
  rate?: RateLimitOptions | false;
}

/** The governance policy options; part of {@link PolicyOptions}, global and per service. */
export interface GovernanceOptions {
  /** Concurrency and rate limits of the service. @defaultValue `{}` */
  limits?: LimitsOptions;
  /**
   * Fault injection (chaos testing in staging): delay and/or abort a share of the requests,
   * before they reach any endpoint. Route rules may carry their own. `false` for none. @defaultValue `false`
   */
  faults?: FaultOptions | false;
  /**
   * Outlier detection (Envoy's): eject endpoints after consecutive 5xx / gateway failures or a
   * low success rate, for a time that grows with repeated ejections. `false` for none. @defaultValue `false`
   */
  outlierDetection?: OutlierDetectionOptions | false;
  /**
   * Hedging of idempotent requests: a backup to another endpoint when the first has not answered
   * after a delay; first answer wins. Backups are paid from the retry budget (the default one
   * when `retry` or its budget is off). `false` for none. @defaultValue `false`
   */
  hedge?: HedgeOptions | false;
  /** Routing within the service: rules, the default route, zone preference. @defaultValue `{}` */
  routing?: RoutingOptions;
}

/** Resolved limits of one service: defaults applied. */
export interface ResolvedLimits {
  concurrency: Full<ConcurrencyLimitOptions> | false;
  rate: RateLimitOptions | false;
}

/** Resolved routing of one service. */
export interface ResolvedRouting {
  rules: RouteRule[];
  default: RouteDestination | undefined;
  zone: ZoneAwareOptions | false;
}

/** The governance part of `ServicePolicy`: global options with the service's overrides, defaults applied. */
export interface GovernancePolicy {
  limits: ResolvedLimits;
  faults: FaultOptions | false;
  outlierDetection: Full<OutlierDetectionOptions> | false;
  hedge: Full<HedgeOptions> | false;
  routing: ResolvedRouting;
}

/** The governance fields of the options schema, with defaults (global) or without (per service). */
export function governanceFields(withDefaults: boolean) {
  const d = (schema: z.ZodType, value: unknown): z.ZodType =>
    withDefaults ? schema.prefault(value as never) : schema.optional();
  const off = <T extends z.ZodType>(schema: T) => z.union([z.literal(false), schema]);
  return {
    limits: d(
      z.strictObject({
        concurrency: d(off(concurrencyLimitSchema), false).describe(
          'Concurrency limit (bulkhead); MESH_BULKHEAD_FULL when full. false for none.',
        ),
        rate: d(off(rateLimitSchema), false).describe(
          'Token-bucket rate limit; MESH_RATE_LIMITED when empty. false for none.',
        ),
      }),
      {},
    ).describe('Concurrency and rate limits of the service.'),
    faults: d(off(faultSchema), false).describe('Fault injection: delay and/or abort a share of requests.'),
    outlierDetection: d(off(outlierDetectionSchema), false).describe(
      "Outlier detection (Envoy's): eject endpoints that fail unlike their peers.",
    ),
    hedge: d(off(hedgeSchema), false).describe('Hedging of idempotent requests, paid from the retry budget.'),
    routing: d(routingSchema, {}).describe('Routing: rules, the default route, zone preference.'),
  };
}

/** Merge one governance layer: `over` (a service's override) onto `base` (the global setting). */
export function resolveGovernance(base: GovernanceOptions, over: GovernanceOptions): GovernancePolicy {
  const limitsBase = base.limits ?? {};
  const limitsOver = over.limits ?? {};
  const concurrency = layer(limitsBase.concurrency, limitsOver.concurrency);
  const rate = layer(limitsBase.rate, limitsOver.rate);
  const outlier = layer(base.outlierDetection, over.outlierDetection);
  const hedge = layer(base.hedge, over.hedge);
  const faults = layer(base.faults, over.faults);
  const routing: RoutingOptions = { ...base.routing, ...defined(over.routing) };
  return {
    limits: {
      concurrency: concurrency ? { ...CONCURRENCY_LIMIT_DEFAULTS, ...concurrency } : false,
      rate: rate ? (rate as RateLimitOptions) : false,
    },
    faults: faults ? (faults as FaultOptions) : false,
    outlierDetection: outlier ? { ...OUTLIER_DETECTION_DEFAULTS, ...outlier } : false,
    hedge: hedge ? { ...HEDGE_DEFAULTS, ...hedge } : false,
    routing: { rules: routing.rules ?? [], default: routing.default, zone: routing.zone ?? false },
  };
}

/** Whether routing does anything: without rules, default route or zones it is left out. */
export function routingActive(routing: ResolvedRouting): boolean {
  return routing.rules.length > 0 || routing.default !== undefined || routing.zone !== false;
}

/** `false` replaces, an object merges onto the base object (or stands alone where the base is off). */
function layer<T extends object>(
  base: T | false | undefined,
  over: T | false | undefined,
): Partial<T> | false {
  if (over === false) return false;
  if (over === undefined) return base ?? false;
  return { ...(base || {}), ...defined(over) };
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return o ? (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>) : {};
}
