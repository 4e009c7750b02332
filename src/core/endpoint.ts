/**
 * One instance of a service and its live state.
 *
 * Discovery describes endpoints ({@link EndpointInfo}); the mesh keeps one {@link Endpoint} per
 * instance for as long as discovery lists it, so load estimates and breaker state survive
 * endpoint-set refreshes that did not change that instance.
 */

/** How discovery describes an endpoint. */
export interface EndpointInfo {
  /** Base URL, e.g. `http://10.0.0.7:8080` (a path prefix is allowed). */
  url: string;
  /** Stable identity; defaults to `url`. */
  id?: string;
  /** Relative share of traffic, > 0. Default 1. */
  weight?: number;
  /** Free-form tags (Consul tags). */
  tags?: readonly string[];
  /** Free-form metadata (e.g. `version`, `zone`). */
  meta?: Readonly<Record<string, string>>;
}

/** Circuit state of an endpoint as the balancer sees it. */
export type EndpointState = 'healthy' | 'open' | 'half-open';

/** A point-in-time view of an endpoint, as returned by `MeshClient.endpoints()`. */
export interface EndpointSnapshot {
  id: string;
  url: string;
  weight: number;
  tags: readonly string[];
  meta: Readonly<Record<string, string>>;
  /** `healthy`, or the breaker's `open` / `half-open`. */
  state: EndpointState;
  /** Whether the balancer currently skips this endpoint (open breaker within the ejection cap). */
  ejected: boolean;
  /** Requests in flight now. */
  inFlight: number;
  /** Peak-EWMA latency estimate in ms, decayed to now. */
  latencyMs: number;
  /** Attempts sent to this endpoint since it appeared. */
  requests: number;
  /** Attempts that failed (connection error, timeout, 5xx). */
  failures: number;
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
const EMPTY_META: Readonly<Record<string, string>> = Object.freeze({});

/** A live endpoint. Fields are mutated in place by the filters; read them, do not write them. */
export class Endpoint {
  readonly id: string;
  readonly url: string;
  weight: number;
  tags: readonly string[];
  meta: Readonly<Record<string, string>>;

  /** Attempts in flight. */
  inFlight = 0;
  /** Peak-EWMA latency estimate (ms) as of {@link Endpoint.rttStamp}. */
  rtt: number;
  /** Clock time of the last estimate update. */
  rttStamp: number;
  /** False until the first reply: until then `rtt` is only the configured prior. */
  measured = false;
  /** Breaker state. */
  state: EndpointState = 'healthy';
  /** Position in the pool's ready list, or -1 when the balancer must skip it. */
  readyIndex = -1;
  /**
   * Holds other policies than the breaker put on this endpoint (bit flags of `EndpointHold`,
   * e.g. outlier ejection); while any is on, the pool keeps it out of the ready list whatever
   * the breaker asks. See `EndpointPool.hold`.
   */
  holds = 0;
  /** Whether the breaker last asked for this endpoint to be in rotation (`EndpointPool.setReady`). */
  admitted = true;
  /** Totals for snapshots and stats. */
  requests = 0;
  failures = 0;
  /** Per-endpoint policy state owned by other modules (the breaker), released on removal. */
  breaker: { shutdown(): void } | undefined;

  constructor(info: EndpointInfo, initialRtt: number, now: number) {
    this.url = trimSlash(info.url);
    this.id = endpointId(info);
    this.weight = info.weight ?? 1;
    this.tags = info.tags ?? EMPTY_TAGS;
    this.meta = info.meta ?? EMPTY_META;
    this.rtt = initialRtt;
    this.rttStamp = now;
  }

  /** Take discovery's latest description of this same instance. */
  refresh(info: EndpointInfo): boolean {
    const weight = info.weight ?? 1;
    const tags = info.tags ?? EMPTY_TAGS;
    const meta = info.meta ?? EMPTY_META;
    const changed = weight !== this.weight || !sameList(tags, this.tags) || !sameRecord(meta, this.meta);
    this.weight = weight;
    this.tags = tags;
    this.meta = meta;
    return changed;
  }
}

/** The identity of the endpoint `info` describes. */
export function endpointId(info: EndpointInfo): string {
  return info.id ?? trimSlash(info.url);
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
