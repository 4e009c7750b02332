/**
 * Peak-EWMA (Finagle's `Balancers.p2cPeakEwma`, Linkerd's and tower's default): power of two
 * choices on latency estimate x (requests in flight + 1). The estimate (see `load/peak-ewma`)
 * reacts to a slow reply at once and forgets it over `decay`, and a failed attempt counts as at
 * least `failurePenalty` ms, so an endpoint that fails fast is not mistaken for a fast one.
 */
import { z } from 'zod';
import { PeakEwma } from '../load/peak-ewma.js';
import { defineBalancer } from './balancer.js';
import { P2C } from './p2c.js';

/** The `peak-ewma` policy. */
export const peakEwma = defineBalancer({
  tuning: {
    /** peak-ewma: time constant (ms) over which the latency estimate decays. */
    decay: z.number().positive().finite().default(10_000),
    /** peak-ewma: latency (ms) assumed for an endpoint not yet measured. */
    initialRtt: z.number().min(0).finite().default(30),
    /** peak-ewma: latency (ms) recorded for a failed attempt, so failing fast does not look fast. */
    failurePenalty: z.number().min(0).finite().default(1_000),
  },
  create: (tuning, ctx) => new P2C(new PeakEwma(tuning), ctx),
});
