/**
 * Per-service counters the sidecar's `/stats` reports next to the endpoints' live state.
 *
 * Only services the sidecar routes to get an entry: a request for any other name (an unknown
 * service, no service at all, a refused request) is counted once under `refused`, by error
 * code, never under the name the client sent. A client can send any number of names; the
 * state here grows only with the services the configuration and discovery know.
 */
import { codeLabel } from '../telemetry/labels.js';

export interface ServiceStats {
  requests: number;
  /** Responses by status class (`2xx`, `5xx`, ...), including the sidecar's own error replies. */
  responses: Record<string, number>;
  /** Requests the mesh refused or could not deliver, by error code. */
  errors: Record<string, number>;
  latency: { count: number; meanMs: number; maxMs: number };
}

/** Distinct error codes kept per service; the rest count as `OTHER`. */
const MAX_CODES = 64;

function bump(counts: Record<string, number>, key: string): void {
  const k = Object.hasOwn(counts, key) || Object.keys(counts).length < MAX_CODES ? key : 'OTHER';
  counts[k] = (counts[k] ?? 0) + 1;
}

export class SidecarStats {
  readonly #services = new Map<string, ServiceStats & { totalMs: number }>();
  readonly #refused: Record<string, number> = Object.create(null);

  /** A request for a service the sidecar routes to. */
  record(service: string, status: number, ms: number, error?: string): void {
    let s = this.#services.get(service);
    if (!s) {
      s = {
        requests: 0,
        responses: Object.create(null),
        errors: Object.create(null),
        latency: { count: 0, meanMs: 0, maxMs: 0 },
        totalMs: 0,
      };
      this.#services.set(service, s);
    }
    s.requests++;
    bump(s.responses, `${Math.floor(status / 100)}xx`);
    if (error) bump(s.errors, codeLabel(error));
    s.totalMs += ms;
    s.latency.count++;
    s.latency.meanMs = s.totalMs / s.latency.count;
    if (ms > s.latency.maxMs) s.latency.maxMs = ms;
  }

  /** A request refused before it was routed (unknown service, malformed, over a limit), by code. */
  refuse(code: string): void {
    bump(this.#refused, codeLabel(code));
  }

  /** Refused requests by code. */
  refused(): Record<string, number> {
    return { ...this.#refused };
  }

  get(service: string): ServiceStats | undefined {
    const s = this.#services.get(service);
    if (!s) return undefined;
    const { totalMs: _, ...stats } = s;
    return { ...stats, responses: { ...stats.responses }, errors: { ...stats.errors } };
  }

  services(): string[] {
    return [...this.#services.keys()];
  }
}
