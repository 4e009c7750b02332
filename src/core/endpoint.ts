/**
 * One instance of a service and its live state.
 *
 * Discovery describes endpoints ({@link EndpointInfo}); the mesh keeps one {@link Endpoint} per
 * instance for as long as discovery lists it, so the state that policies keep about it (a load
 * estimate, a breaker) survives endpoint-set refreshes that did not change that instance.
 *
 * The endpoint itself holds only what every part of the mesh shares: identity, weight, labels,
 * the counters snapshots report, and its place in the pool's ready list. What a policy keeps
 * about an endpoint lives in that policy's own {@link EndpointSlot}: the core knows nothing of
 * latency estimates or breakers, and an endpoint no policy looks at carries none of their state.
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
  /** Whether the balancer currently skips this endpoint (open breaker, outlier ejection). */
  ejected: boolean;
  /** Requests in flight now. */
  inFlight: number;
  /**
   * The balancer's latency estimate in ms, decayed to now: Peak-EWMA's, for the balancers that
   * measure latency; `undefined` for those that do not (round-robin, random, ring-hash,
   * least-request).
   */
  latencyMs: number | undefined;
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
  /** Attempts sent, for snapshots and stats. */
  requests = 0;
  /** Attempts that failed (connection error, timeout, 5xx). */
  failures = 0;
  /** Position in the pool's ready list, or -1 while it is out of rotation. */
  readyIndex = -1;
  /** Holds that keep it out of rotation (bit flags of {@link EndpointHold}); ready only at 0. */
  holds = 0;
  /** Clock time at which it joined the pool (slow start ramps from here). */
  readonly joinedAt: number;
  /** Per-policy state, indexed by {@link EndpointSlot}. */
  readonly attached: unknown[] = [];

  constructor(info: EndpointInfo, joinedAt = 0) {
    this.url = trimSlash(info.url);
    this.id = endpointId(info);
    this.weight = info.weight ?? 1;
    this.tags = info.tags ?? EMPTY_TAGS;
    this.meta = info.meta ?? EMPTY_META;
    this.joinedAt = joinedAt;
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

  /** Call `release()` on the policies' state that has one, and drop it all (the endpoint left its pool). */
  release(): void {
    for (const value of this.attached) (value as { release?: () => void } | undefined)?.release?.();
    this.attached.length = 0;
  }
}

let slots = 0;

/**
 * Where one policy keeps its state about each endpoint: a typed index into the endpoint's
 * `attached` array, so reading it on the hot path is an array load, not a map lookup. Slots
 * are made once per policy module (a handful per process), never per request or endpoint. A
 * value with a `release()` method has it called when the endpoint leaves its pool.
 */
export class EndpointSlot<T> {
  readonly #index = slots++;

  /** @param name - the policy, for debugging. */
  constructor(readonly name: string) {}

  get(ep: Endpoint): T | undefined {
    return ep.attached[this.#index] as T | undefined;
  }

  set(ep: Endpoint, value: T | undefined): void {
    ep.attached[this.#index] = value;
  }
}

let holds = 0;

/**
 * A reason to keep endpoints out of rotation (an open breaker, an outlier ejection): one bit of
 * {@link Endpoint.holds}, made once per policy module. An endpoint is ready only when no hold is
 * on, so no policy can put back what another took out.
 */
export class EndpointHold {
  readonly bit: number;

  constructor(readonly name: string) {
    if (holds >= 31) throw new Error('too many endpoint holds');
    this.bit = 1 << holds++;
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
