/**
 * The `loadBalancer` option: a policy name, or an object with the policy and its tuning. The
 * names and tuning fields come from the policies themselves (`policies.ts`), so this file never
 * changes when a policy is added.
 */
import { z } from 'zod';
import type { BalancerDefinition } from './balancer.js';
import * as POLICIES from './policies.js';

/** A load-balancing policy name. */
export type BalancerPolicy = keyof typeof POLICIES;

/** Every policy, by name. */
export const BALANCERS: Readonly<Record<BalancerPolicy, BalancerDefinition>> = POLICIES;

/** Every policy name. */
export const BALANCER_POLICIES = Object.keys(BALANCERS) as [BalancerPolicy, ...BalancerPolicy[]];

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;
type AllTuning = UnionToIntersection<(typeof POLICIES)[BalancerPolicy]['tuning']>;

const tuning = Object.assign({}, ...Object.values(BALANCERS).map((p) => p.tuning)) as AllTuning;

const slowStartSchema = z.strictObject({
  /** Time (ms) over which a new endpoint's share ramps up to its full weight. Required. */
  window: z.number().positive().finite(),
  /** Shape of the ramp: the share grows as (t / window) ^ (1 / aggression); 1 is linear, above 1 faster at first. */
  aggression: z.number().positive().finite().default(1),
  /** Smallest share (%) of its weight a new endpoint takes, from the moment it joins. */
  minWeightPercent: z.number().min(0).max(100).default(10),
});

const loadBalancerObject = z.strictObject({
  /** Which balancer picks the endpoint. */
  policy: z.enum(BALANCER_POLICIES).default('peak-ewma'),
  ...tuning,
  /**
   * Slow start (Envoy's): an endpoint added to a running service takes a share of the traffic
   * that ramps up over `window`, for services that must warm caches or JITs first; endpoints of the
   * first endpoint set start warm. Works with every policy. `false` for none.
   */
  slowStart: z.union([z.literal(false), slowStartSchema]).default(false),
});

/** The `loadBalancer` option: a policy name (with its default tuning) or the policy and its tuning. */
export const loadBalancerOption = z
  .union([
    z.enum(BALANCER_POLICIES).transform((policy) => loadBalancerObject.parse({ policy })),
    loadBalancerObject,
  ])
  .prefault('peak-ewma');

/**
 * Load-balancer tuning; a bare policy name takes the defaults.
 * @interface
 */
export type LoadBalancerOptions = z.input<typeof loadBalancerObject>;

/** The load-balancer settings in force for a service: the policy and every tuning field. */
export type LoadBalancerPolicy = z.output<typeof loadBalancerObject>;

/**
 * Slow start of new endpoints.
 * @interface
 */
export type SlowStartOptions = z.input<typeof slowStartSchema>;

/** `'round-robin'` means `{ policy: 'round-robin' }`: the form options merge in. */
export function loadBalancerShorthand(value: unknown): unknown {
  return typeof value === 'string' ? { policy: value } : value;
}
