/**
 * Service discovery: where a service's endpoints come from.
 *
 * Watch-style, like Consul blocking queries, Envoy's EDS and Finagle's `Var[Addr]`: a subscriber
 * gets the whole endpoint set now and again each time it changes. The mesh never asks per
 * request; balancers read the last set pushed.
 */
import type { EndpointInfo } from '../core/endpoint.js';

/** Receives a service's complete endpoint set, first when known and then on every change. */
export type EndpointsListener = (endpoints: readonly EndpointInfo[]) => void;

/** A live subscription to one service's endpoints. */
export interface Subscription {
  /**
   * Settles when the first set is known: resolves (the set may be empty) or rejects with a
   * `MESH_DISCOVERY_UNAVAILABLE` error when no first answer could be had.
   */
  readonly ready: Promise<void>;
  /** Stop watching; no listener call follows. */
  close(): void;
}

/** A source of endpoints. Implementations must be safe to subscribe to many times. */
export interface Discovery {
  /**
   * Watch `service`. `onError` reports trouble that does not end the watch (the registry is
   * unreachable and the last known set stays in force).
   */
  subscribe(service: string, onUpdate: EndpointsListener, onError?: (error: Error) => void): Subscription;
  /**
   * Whether the source lists `service` at all, when it can tell without asking a registry.
   * The sidecar forwards only to services it knows (it is not an open proxy).
   */
  knows?(service: string): boolean;
  /** Release every watch, socket and timer. */
  close(): Promise<void>;
}
