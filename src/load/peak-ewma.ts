/**
 * Peak-EWMA: a latency estimate per endpoint, multiplied by its load.
 *
 * From Finagle's `PeakEwma` load metric and tower's `load::PeakEwma`: a sample above the estimate
 * replaces it at once (so a slowing endpoint is noticed on its first slow reply), a sample below
 * it is blended in with weight `1 - exp(-elapsed / decay)`, and without samples the estimate
 * decays toward zero, so an endpoint that was slow once gets probed again later. The cost is the
 * estimate times (requests in flight + 1), divided by the weight.
 *
 * Failing fast must not look fast (Finagle pairs this metric with failure accrual for that
 * reason): a failed attempt is recorded as at least `failurePenalty` ms.
 */
import { type Endpoint, EndpointSlot } from '../core/endpoint.js';
import type { Load } from './load.js';

/** The estimate of one endpoint. */
export interface Estimate {
  /** Latency estimate (ms) as of `stamp`. */
  rtt: number;
  /** Clock time of the last update. */
  stamp: number;
  /** False until the first reply: until then `rtt` is only the prior. */
  measured: boolean;
}

/** The tuning Peak-EWMA reads. */
export interface PeakEwmaTuning {
  /** Time constant (ms) over which the estimate decays. */
  decay: number;
  /** Latency (ms) assumed for an endpoint not yet measured. */
  initialRtt: number;
  /** Latency (ms) recorded for a failed attempt. */
  failurePenalty: number;
}

const ESTIMATE = new EndpointSlot<Estimate>('load.peak-ewma');

/** Peak-EWMA as a {@link Load}. */
export class PeakEwma implements Load {
  constructor(private readonly tuning: PeakEwmaTuning) {}

  cost(ep: Endpoint, now: number): number {
    // A zero estimate (idle for many decay periods) must still rank by load.
    const rtt = this.latency(ep, now) + Number.EPSILON;
    return (rtt * (ep.inFlight + 1)) / ep.weight;
  }

  observe(ep: Endpoint, rttMs: number, failed: boolean, now: number): void {
    observeRtt(
      this.estimate(ep),
      failed ? Math.max(rttMs, this.tuning.failurePenalty) : rttMs,
      now,
      this.tuning.decay,
    );
  }

  latency(ep: Endpoint, now: number): number {
    return currentRtt(this.estimate(ep), now, this.tuning.decay);
  }

  /** The endpoint's estimate, made from the prior as of the endpoint's arrival on first use. */
  estimate(ep: Endpoint): Estimate {
    let estimate = ESTIMATE.get(ep);
    if (!estimate) {
      estimate = { rtt: this.tuning.initialRtt, stamp: ep.joinedAt, measured: false };
      ESTIMATE.set(ep, estimate);
    }
    return estimate;
  }
}

/** Decay the estimate to `now` (in place) and return it. */
export function currentRtt(e: Estimate, now: number, decayMs: number): number {
  const elapsed = now - e.stamp;
  if (elapsed > 0) {
    e.rtt *= Math.exp(-elapsed / decayMs);
    e.stamp = now;
  }
  return e.rtt;
}

/** Record one attempt's round-trip time. */
export function observeRtt(e: Estimate, rttMs: number, now: number, decayMs: number): void {
  // The prior only guards a new endpoint against a herd before it has answered; the first real
  // sample replaces it instead of being averaged against a made-up number.
  if (rttMs > e.rtt || !e.measured) {
    e.measured = true;
    e.rtt = rttMs;
  } else {
    const decay = Math.exp(-Math.max(0, now - e.stamp) / decayMs);
    e.rtt = e.rtt * decay + rttMs * (1 - decay);
  }
  e.stamp = now;
}
