/** The `outlierDetection` option: Envoy's outlier detection, per service. Times in ms, shares in %. */
import { z } from 'zod';

const count = z.number().int().min(1);
const pct = z.number().min(0).max(100);
const ms = z.number().positive().finite();

const outlierSchema = z.strictObject({
  /** Consecutive 5xx (or connection failures, timeouts) that eject an endpoint. */
  consecutive5xx: count.default(5),
  /** Consecutive 502/503/504 (or connection failures, timeouts) that eject an endpoint. */
  consecutiveGatewayFailure: count.default(5),
  /** Share (%) of consecutive-5xx detections that eject. */
  enforcingConsecutive5xx: pct.default(100),
  /** Share (%) of consecutive-gateway-failure detections that eject (Envoy's default: off). */
  enforcingConsecutiveGatewayFailure: pct.default(0),
  /** Time (ms) between sweeps (success-rate analysis, multiplier decay). */
  interval: ms.default(10_000),
  /** Ejection time (ms) of a first ejection; later ones last this many times more. */
  baseEjectionTime: ms.default(30_000),
  /** Longest ejection (ms); `baseEjectionTime` if that is larger. */
  maxEjectionTime: ms.default(300_000),
  /** Largest share (%) of the endpoints ejected at once; one endpoint always may be. */
  maxEjectionPercent: pct.default(10),
  /** Endpoints with enough volume needed for success-rate ejection to run. */
  successRateMinimumHosts: count.default(5),
  /** Attempts in an interval for an endpoint to take part in success-rate analysis. */
  successRateRequestVolume: count.default(100),
  /** Ejected below mean - factor x stdev of the success rates (Envoy's 1900 / 1000). */
  successRateStdevFactor: z.number().min(0).finite().default(1.9),
  /** Share (%) of success-rate detections that eject. */
  enforcingSuccessRate: pct.default(100),
});

/**
 * The `outlierDetection` option (Envoy's): eject endpoints after consecutive 5xx / gateway
 * failures or a low success rate, for a time that grows with repeated ejections; `false` for none.
 */
export const outlierDetectionOption = z.union([z.literal(false), outlierSchema]).default(false);

/**
 * Envoy's outlier detection, per service. Times in ms, shares in %.
 * @interface
 */
export type OutlierDetectionOptions = z.input<typeof outlierSchema>;

/** Outlier detection in force for a service: every field set. */
export type OutlierDetectionPolicy = z.output<typeof outlierSchema>;
