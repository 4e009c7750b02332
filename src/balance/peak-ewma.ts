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
    /**
     * peak-ewma: latency (ms) assumed for an endpoint not yet measured. Unset, a new endpoint is
     * probed at once (Finagle's rule): it takes the next pick it is drawn into while it has nothing
     * in flight, and none while its probe is out, then ranks by what it measured.
     * @defaultValue none (probe at once)
     */
    initialRtt: z.number().min(0).finite().optional(),
    /** peak-ewma: latency (ms) recorded for a failed attempt, so failing fast does not look fast. */
    failurePenalty: z.number().min(0).finite().default(1_000),
    /**
     * peak-ewma: latency estimates within this factor of each other count as the same latency,
     * and requests in flight per unit of weight decide between the two candidates; beyond it,
     * latency times load does. `1` compares latencies strictly (Finagle's and tower's rule), which
     * starves the endpoint with the last slow reply of a set of equals at light load.
     */
    latencyTolerance: z.number().min(1).finite().default(2),
  },
  create: (tuning, ctx) => new P2C(new PeakEwma(tuning), ctx),
});
