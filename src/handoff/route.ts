/**
 * The client's view of its sidecar: whether it is presumed up, and which failed hand-offs may be
 * delivered another way. A refused connection to a loopback sidecar fails in microseconds; once
 * seen, the sidecar is skipped for `probeInterval` and the next request after that probes it
 * again, so a dead sidecar costs one failed connect per interval, not one per request.
 */
import type { Call } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import { connectionLost, errorCode, unreachable } from '../errors/classify.js';
import type { SidecarPolicy } from './options.js';

export class SidecarRoute {
  #downUntil = Number.NEGATIVE_INFINITY;

  constructor(
    readonly options: SidecarPolicy,
    private readonly clock: Clock,
  ) {}

  /** False while the sidecar is presumed down (until the next probe is due). */
  get up(): boolean {
    return this.clock.now() >= this.#downUntil;
  }

  /**
   * Whether a failed hand-off may be delivered another way, and why: a refused connection
   * (the sidecar is down: remembered until the next probe), or a reset connection for a request
   * that is safe to send twice (a keep-alive socket the sidecar closed as it went away).
   */
  fallbackReason(error: unknown, call: Call<unknown>): string | undefined {
    if (unreachable(error)) {
      this.#downUntil = this.clock.now() + this.options.probeInterval;
      return errorCode(error);
    }
    return connectionLost(error) && call.idempotent && call.replayable && !call.signal.aborted
      ? errorCode(error)
      : undefined;
  }
}
