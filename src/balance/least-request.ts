/**
 * Least request (Envoy's `LEAST_REQUEST`, Finagle's `p2cLeastLoaded`): power of two choices on
 * requests in flight divided by weight. It needs no latency samples, so it adapts within one
 * request to an endpoint that slows down, but it cannot tell a fast endpoint from a slow one
 * while both are idle.
 */
import { PendingRequests } from '../load/load.js';
import { defineBalancer } from './balancer.js';
import { P2C } from './p2c.js';

/** The `least-request` policy. */
export const leastRequest = defineBalancer({
  tuning: {},
  create: (_tuning, ctx) => new P2C(new PendingRequests(), ctx),
});
