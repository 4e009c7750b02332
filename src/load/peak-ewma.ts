/**
 * Peak-EWMA latency estimate per endpoint.
 *
 * From Finagle's `PeakEwma` load metric and tower's `load::PeakEwma`: a sample above the estimate
 * replaces it at once (so a slowing endpoint is noticed on its first slow reply), a sample below
 * it is blended in with weight `1 - exp(-elapsed / decay)`, and without samples the estimate
 * decays toward zero, so an endpoint that was slow once gets probed again later.
 *
 * Failing fast must not look fast (Finagle pairs this metric with failure accrual for that
 * reason): a failed attempt is recorded as at least `failurePenalty` ms.
 */
import type { Endpoint } from '../core/endpoint.js';

/** Decay the estimate to `now` (in place) and return it. */
export function currentRtt(ep: Endpoint, now: number, decayMs: number): number {
  const elapsed = now - ep.rttStamp;
  if (elapsed > 0) {
    ep.rtt *= Math.exp(-elapsed / decayMs);
    ep.rttStamp = now;
  }
  return ep.rtt;
}

/** Record one attempt's round-trip time. */
export function observeRtt(ep: Endpoint, rttMs: number, now: number, decayMs: number): void {
  // The prior only guards a new endpoint against a herd before it has answered; the first real
  // sample replaces it instead of being averaged against a made-up number.
  if (rttMs > ep.rtt || !ep.measured) {
    ep.measured = true;
    ep.rtt = rttMs;
  } else {
    const decay = Math.exp(-Math.max(0, now - ep.rttStamp) / decayMs);
    ep.rtt = ep.rtt * decay + rttMs * (1 - decay);
  }
  ep.rttStamp = now;
}
