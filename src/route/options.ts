/** The `routing` option: route rules, the default route and zone preference, within a service. */
import { z } from 'zod';
import { faultSchema } from '../fault/options.js';

/** Metadata an endpoint must carry, key by key (`meta[key] === value` or tag `key=value`). */
const selectorSchema = z.record(z.string().min(1), z.string());

const matchSchema = z.strictObject({
  /** Methods (any case), any of which matches. @defaultValue every method */
  methods: z.array(z.string().min(1)).optional(),
  /** Prefix of the request path. @defaultValue every path */
  pathPrefix: z.string().optional(),
  /** Request headers, by name (any case): an exact value, or `true` for present with any value. @defaultValue none */
  headers: z.record(z.string().min(1), z.union([z.string(), z.literal(true)])).optional(),
});

const subsetWeightSchema = z.strictObject({
  /** The subset (`{ version: 'v2' }`). */
  subset: selectorSchema,
  /** Relative share of requests (>= 0). */
  weight: z.number().min(0).finite(),
});

const destinationFields = {
  /** All matching requests go to this subset. @defaultValue the default route */
  subset: selectorSchema.optional(),
  /** Matching requests are split between subsets by weight. @defaultValue the default route */
  split: z
    .array(subsetWeightSchema)
    .min(1)
    .refine((arms) => arms.some((arm) => arm.weight > 0), { message: 'a split needs a positive weight' })
    .optional(),
  /** Header whose value keeps a split stable per key (e.g. `x-user-id`). @defaultValue the call's `hashKey` */
  hashHeader: z.string().min(1).optional(),
};
const oneDestination = { message: 'give either subset or split, not both', path: ['split'] };
const hasOneDestination = (d: { subset?: unknown; split?: unknown }) => !(d.subset && d.split);

const destinationSchema = z.strictObject(destinationFields).refine(hasOneDestination, oneDestination);

const ruleSchema = z
  .strictObject({
    /** Name in events. @defaultValue `rules[i]` */
    name: z.string().min(1).optional(),
    /** Which requests the rule takes. @defaultValue every request */
    match: matchSchema.optional(),
    ...destinationFields,
    /** Faults injected into the requests the rule takes. @defaultValue none */
    fault: faultSchema.optional(),
  })
  .refine(hasOneDestination, oneDestination);

const zoneSchema = z.strictObject({
  /** This process's zone: endpoints whose metadata (or `key=value` tag) `zoneKey` equals it are local. Required. */
  local: z.string().min(1),
  /** The metadata key (or tag prefix) naming an endpoint's zone. */
  zoneKey: z.string().min(1).default('zone'),
  /**
   * While at least this share (%) of the local endpoints is in rotation, all traffic stays local;
   * below it the local zone takes traffic in proportion and the rest spills to other zones.
   */
  minHealthyPercent: z.number().gt(0).max(100).default(70),
  /** Destinations with fewer endpoints ignore zones (Envoy's `min_cluster_size`). */
  minClusterSize: z.number().int().min(1).default(6),
});

const routingSchema = z.strictObject({
  /** Rules, tried in order. */
  rules: z.array(ruleSchema).default([]),
  /** The default route: where requests no rule takes go. @defaultValue the whole service */
  default: destinationSchema.optional(),
  /** Zone-aware preference; `false` for none. */
  zone: z.union([z.literal(false), zoneSchema]).default(false),
});

/** The `routing` option. */
export const routingOption = routingSchema.prefault({});

/**
 * Routing of one service.
 * @interface
 */
export type RoutingOptions = z.input<typeof routingSchema>;

/**
 * One route rule.
 * @interface
 */
export type RouteRule = z.input<typeof ruleSchema>;

/**
 * What a rule matches; every given condition must hold.
 * @interface
 */
export type RouteMatch = z.input<typeof matchSchema>;

/**
 * Where matching requests go: one subset, a weighted split, or (neither) the default route.
 * @interface
 */
export type RouteDestination = z.input<typeof destinationSchema>;

/**
 * One arm of a weighted split.
 * @interface
 */
export type SubsetWeight = z.input<typeof subsetWeightSchema>;

/**
 * Zone-aware routing of one service.
 * @interface
 */
export type ZoneAwareOptions = z.input<typeof zoneSchema>;

/** Routing in force for a service. */
export type RoutingPolicy = z.output<typeof routingSchema>;

/** A route rule in force. */
export type RouteRulePolicy = z.output<typeof ruleSchema>;

/** A destination in force. */
export type RouteDestinationPolicy = z.output<typeof destinationSchema>;

/** Zone preference in force. */
export type ZonePolicy = z.output<typeof zoneSchema>;

/** Whether routing does anything: without rules, default route or zones the route stage is off. */
export function routingActive(routing: RoutingPolicy): boolean {
  return routing.rules.length > 0 || routing.default !== undefined || routing.zone !== false;
}
