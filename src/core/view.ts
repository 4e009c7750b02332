/**
 * What a balancer picks from and what it sees of the request.
 *
 * A {@link Picker} chooses the endpoint of one attempt from an {@link EndpointView}: the whole
 * pool of a service, or a narrower view of it (a routing subset) that keeps its own ready list.
 * It sees only the two facts of the request that matter to a pick ({@link PickRequest}), so
 * balancers depend on nothing above them.
 */
import type { Endpoint } from './endpoint.js';

/** What a pick reads of the request: the endpoints earlier attempts went to, and the hash key. */
export interface PickRequest {
  /** Endpoints that earlier attempts of this request went to: a pick prefers others. */
  readonly tried: readonly Endpoint[];
  /** Key for consistent hashing, when the caller gave one. */
  readonly hashKey: string | undefined;
}

/** Chooses the endpoint for one attempt. */
export interface Picker {
  /**
   * Choose from `view.ready`, preferring endpoints the request has not tried yet. Returns
   * `undefined` only when nothing is ready.
   */
  pick(view: EndpointView, request: PickRequest): Endpoint | undefined;
}

/** A set of endpoints with the ready list pickers choose from. */
export interface EndpointView {
  /** Every endpoint of the view. */
  readonly all: readonly Endpoint[];
  /** The endpoints a picker may choose; order is arbitrary. */
  readonly ready: readonly Endpoint[];
  /** Changes when membership or weights change (pickers rebuild derived tables on it). */
  readonly version: number;
  /** Largest weight in the view. */
  readonly maxWeight: number;
  /** Smallest weight in the view. */
  readonly minWeight: number;
  /** True when every endpoint of the view has the same weight. */
  readonly uniformWeights: boolean;
  /**
   * The picker to use instead of the service's (a subset's own, so tables derived per version
   * are not rebuilt each time requests alternate between views).
   */
  readonly picker?: Picker | undefined;
}
