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
 *
 * An endpoint not yet measured is probed at once, as Finagle does: it costs nothing while it has
 * no request in flight, so the next pick it takes part in goes to it, and more than any measured
 * endpoint while it has one, so no herd follows the probe; its first reply replaces the guess
 * with a measurement. A made-up prior (Linkerd's 30 ms) instead starves a new endpoint on a LAN,
 * where measured ones cost well under a millisecond, until the prior decays; it can still be set
 * (`initialRtt`).
 *
 * Two candidates whose estimates are within `latencyTolerance` of each other are ranked by load
 * alone (see {@link PeakEwma.compare}), so equal endpoints share the traffic evenly at light load
 * instead of the one with the last slow reply being starved until its estimate decays.
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
  /** Latency (ms) assumed for an endpoint not yet measured; unset: such an endpoint is probed at once. */
  initialRtt?: number | undefined;
  /** Latency (ms) recorded for a failed attempt. */
  failurePenalty: number;
  /** Latency estimates within this factor of each other count as equal (load then decides). */
  latencyTolerance: number;
}

const ESTIMATE = new EndpointSlot<Estimate>('load.peak-ewma');

/**
 * The cost of an endpoint not yet measured while a probe is in flight: above any measured cost
 * (a measured cost is milliseconds times requests in flight), so it waits for the probe's answer.
 */
const PROBING = 2 ** 40;

/** Peak-EWMA as a {@link Load}. */
export class PeakEwma implements Load {
  constructor(private readonly tuning: PeakEwmaTuning) {}

  cost(ep: Endpoint, now: number): number {
    const estimate = this.estimate(ep);
    if (!estimate.measured && this.tuning.initialRtt === undefined) {
      return ep.inFlight === 0 ? 0 : PROBING + ep.inFlight;
    }
    // A zero estimate (idle for many decay periods) must still rank by load.
    const rtt = currentRtt(estimate, now, this.tuning.decay) + Number.EPSILON;
    return (rtt * (ep.inFlight + 1)) / ep.weight;
  }

  /**
   * Latency estimates within `latencyTolerance` of each other count as the same latency, and
   * requests in flight per unit of weight decide; beyond it, latency times load does. A peak
   * estimate of equal endpoints spreads over about a factor of two (each holds the slowest of its
   * recent replies), and a strict comparison would then starve whichever had the last slow reply
   * until its estimate decayed, at light load for seconds.
   */
  compare(a: Endpoint, b: Endpoint, now: number): number {
    const ea = this.estimate(a);
    const eb = this.estimate(b);
    const probe = this.tuning.initialRtt === undefined;
    if (probe && (!ea.measured || !eb.measured)) return this.cost(a, now) - this.cost(b, now);
    const ra = currentRtt(ea, now, this.tuning.decay);
    const rb = currentRtt(eb, now, this.tuning.decay);
    if (Math.max(ra, rb) <= this.tuning.latencyTolerance * Math.min(ra, rb)) {
      return (a.inFlight + 1) / a.weight - (b.inFlight + 1) / b.weight;
    }
    return this.cost(a, now) - this.cost(b, now);
  }

  observe(ep: Endpoint, rttMs: number, failed: boolean, now: number): void {
    observeRtt(
      this.estimate(ep),
      failed ? Math.max(rttMs, this.tuning.failurePenalty) : rttMs,
      now,
      this.tuning.decay,
    );
  }

  /** The estimate decayed to `now`; `undefined` for an endpoint not yet measured (and no prior set). */
  latency(ep: Endpoint, now: number): number | undefined {
    const estimate = this.estimate(ep);
    if (!estimate.measured && this.tuning.initialRtt === undefined) return undefined;
    return currentRtt(estimate, now, this.tuning.decay);
  }

  /** The endpoint's estimate, made on first use (from the prior, if set, as of its arrival). */
  estimate(ep: Endpoint): Estimate {
    let estimate = ESTIMATE.get(ep);
    if (!estimate) {
      estimate = { rtt: this.tuning.initialRtt ?? 0, stamp: ep.joinedAt, measured: false };
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
