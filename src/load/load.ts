/**
 * A load metric: what a load-aware balancer ranks endpoints by (tower's `Load` trait, Finagle's
 * load metrics). The metric is separate from the balancer that uses it, so power-of-two-choices
 * can rank by requests in flight ({@link PendingRequests}) or by latency times load
 * (`PeakEwma`) with the same picking code, and a balancer that needs no load (round-robin,
 * random, ring-hash) records none at all.
 *
 * A metric keeps its per-endpoint state in its own endpoint slot; the balance filter reports
 * each finished attempt to the metric of the service's balancer, when that metric observes.
 */
import type { Endpoint } from '../core/endpoint.js';

/** A per-endpoint load metric. */
export interface Load {
  /** The cost of sending one more request to `ep` now; lower wins. Comparable within one metric. */
  cost(ep: Endpoint, now: number): number;
  /**
   * Compare two endpoints where a plain cost comparison would steer on noise: negative when `a`
   * should be preferred, positive for `b`, 0 for a tie (the balancer then keeps its random draw).
   * Absent: the costs are compared.
   */
  compare?(a: Endpoint, b: Endpoint, now: number): number;
  /**
   * Record one finished attempt: its round-trip time and whether it failed. Absent when the
   * metric reads only what the endpoint already counts (requests in flight).
   */
  observe?(ep: Endpoint, rttMs: number, failed: boolean, now: number): void;
  /** The metric's latency estimate for `ep` (ms), when it keeps one and has one; shown in snapshots. */
  latency?(ep: Endpoint, now: number): number | undefined;
}

/** Requests in flight, divided by weight (Envoy's weighted least request): tower's `PendingRequests`. */
export class PendingRequests implements Load {
  cost(ep: Endpoint): number {
    return (ep.inFlight + 1) / ep.weight;
  }
}
