/** Per-service counters the sidecar's `/stats` reports next to the endpoints' live state. */

export interface ServiceStats {
  requests: number;
  /** Responses by status class (`2xx`, `5xx`, ...), including the sidecar's own error replies. */
  responses: Record<string, number>;
  /** Requests the mesh refused or could not deliver, by error code. */
  errors: Record<string, number>;
  latency: { count: number; meanMs: number; maxMs: number };
}

export class SidecarStats {
  readonly #services = new Map<string, ServiceStats & { totalMs: number }>();

  record(service: string, status: number, ms: number, error?: string): void {
    let s = this.#services.get(service);
    if (!s) {
      s = { requests: 0, responses: {}, errors: {}, latency: { count: 0, meanMs: 0, maxMs: 0 }, totalMs: 0 };
      this.#services.set(service, s);
    }
    s.requests++;
    const cls = `${Math.floor(status / 100)}xx`;
    s.responses[cls] = (s.responses[cls] ?? 0) + 1;
    if (error) s.errors[error] = (s.errors[error] ?? 0) + 1;
    s.totalMs += ms;
    s.latency.count++;
    s.latency.meanMs = s.totalMs / s.latency.count;
    if (ms > s.latency.maxMs) s.latency.maxMs = ms;
  }

  get(service: string): ServiceStats | undefined {
    const s = this.#services.get(service);
    if (!s) return undefined;
    const { totalMs: _, ...stats } = s;
    return stats;
  }

  services(): string[] {
    return [...this.#services.keys()];
  }
}
