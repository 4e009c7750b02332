/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015): wait a uniform random time in [0, min(cap, base * 2^(retry - 1))). Full
 * jitter spreads synchronized retries out best, at the cost of sometimes retrying at once.
 */
import type { BackoffPolicy } from './options.js';

/** Delay (ms) before retry number `retry` (1 for the first retry). */
export function fullJitter(options: BackoffPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(options.cap, options.base * 2 ** (retry - 1));
  return random() * ceiling;
}
