/**
 * The mesh's log lines: its events, at the level an operator would want them, through the
 * redacting {@link safeLogger}. Nothing is logged per request on the success path, so a logger
 * at `info` costs nothing while traffic flows.
 *
 * | event | level | message |
 * |---|---|---|
 * | `endpoints` | info | `endpoints changed` |
 * | `retry` | debug | `retrying` |
 * | `retry-budget-exhausted` | warn | `retry budget exhausted` (at most once a second per service) |
 * | `circuit-open` | warn | `circuit opened` |
 * | `circuit-half-open` | info | `circuit half-open` |
 * | `circuit-close` | info | `circuit closed` |
 * | `discovery-error` | warn | `discovery error` |
 * | `sidecar-fallback` | warn | `sidecar unreachable` (at most once a second per service) |
 *
 * The two that can fire per request under trouble (a retry storm against the budget, a dead
 * sidecar) are throttled, with a count of the lines suppressed since the last one.
 */
import type { Clock } from '../core/clock.js';
import type { MeshEmitter } from './events.js';
import { errorFields } from './logger.js';
import type { Logger } from './options.js';

/** At most one line per key per this many ms for the throttled events. */
const THROTTLE_MS = 1_000;

/** Log `events` to `logger` (already a {@link safeLogger}). */
export function logEvents(events: MeshEmitter, logger: Logger, clock: Clock): void {
  const last = new Map<string, { at: number; suppressed: number }>();
  /** Whether a line for `key` may go out now; the fields carry how many were suppressed. */
  const throttled = (key: string, fields: Record<string, unknown>): boolean => {
    const now = clock.now();
    const seen = last.get(key);
    if (seen && now - seen.at < THROTTLE_MS) {
      seen.suppressed++;
      return true;
    }
    if (seen?.suppressed) fields.suppressed = seen.suppressed;
    last.set(key, { at: now, suppressed: 0 });
    return false;
  };

  events.on('endpoints', (e) =>
    logger.info(
      { service: e.service, endpoints: e.endpoints.length, added: e.added, removed: e.removed },
      'endpoints changed',
    ),
  );
  events.on('retry', (e) => logger.debug({ ...e }, 'retrying'));
  events.on('retry-budget-exhausted', (e) => {
    const fields: Record<string, unknown> = { ...e };
    if (!throttled(`budget ${e.service}`, fields)) logger.warn(fields, 'retry budget exhausted');
  });
  events.on('circuit-open', (e) => logger.warn({ ...e }, 'circuit opened'));
  events.on('circuit-half-open', (e) => logger.info({ ...e }, 'circuit half-open'));
  events.on('circuit-close', (e) => logger.info({ ...e }, 'circuit closed'));
  events.on('discovery-error', (e) =>
    logger.warn({ service: e.service, error: errorFields(e.error) }, 'discovery error'),
  );
  events.on('sidecar-fallback', (e) => {
    const fields: Record<string, unknown> = { ...e };
    if (!throttled(`fallback ${e.service}`, fields)) logger.warn(fields, 'sidecar unreachable');
  });
}
