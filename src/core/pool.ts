/**
 * The live endpoint set of one service.
 *
 * Discovery pushes whole sets; {@link EndpointPool.update} reconciles them by endpoint id, so an
 * instance that stays keeps its state (load estimate, breaker). The pool also keeps the *ready*
 * list the balancers pick from: endpoints leave it when their breaker ejects them and come back
 * when it closes, in O(1) (swap-remove), so a pick never scans the whole set.
 *
 * Two policies may take an endpoint out of rotation: its breaker ({@link EndpointPool.setReady})
 * and holds of other policies ({@link EndpointPool.hold}, outlier ejection). An endpoint is ready
 * only when its breaker admits it and no hold is on, so neither can put back what the other
 * took out. Views narrower than the pool (routing subsets) follow the ready list through
 * {@link EndpointPool.watchReady} instead of rescanning it.
 */
import type { Call } from './call.js';
import type { Clock } from './clock.js';
import { Endpoint, type EndpointInfo, endpointId } from './endpoint.js';

/** Reasons besides the breaker for holding an endpoint out of rotation (bit flags). */
export const EndpointHold = {
  /** Ejected by outlier detection (`breaker/outlier.ts`). */
  outlier: 1,
} as const;

/**
 * What a balancer reads of the endpoints it picks from: the whole pool, or a narrower view of it
 * (a routing subset) that keeps its own ready list.
 */
export interface EndpointView {
  /** Every endpoint of the view. */
  readonly all: readonly Endpoint[];
  /** The endpoints a balancer may pick; order is arbitrary. */
  readonly ready: readonly Endpoint[];
  /** Changes when membership or weights change (balancers rebuild derived tables on it). */
  readonly version: number;
  /** Largest weight in the view. */
  readonly maxWeight: number;
  /** Smallest weight in the view. */
  readonly minWeight: number;
  /** True when every endpoint of the view has the same weight. */
  readonly uniformWeights: boolean;
  /**
   * The balancer to pick with instead of the service's (a subset's own, so tables derived per
   * version are not rebuilt each time requests alternate between views).
   */
  readonly picker?: { pick(view: EndpointView, call: Call): Endpoint | undefined } | undefined;
}

/** Told after an endpoint entered (`true`) or left (`false`) the ready list. */
export type ReadyWatcher = (ep: Endpoint, ready: boolean) => void;

/** What an {@link EndpointPool.update} changed. */
export interface PoolChange {
  added: Endpoint[];
  removed: Endpoint[];
  /** True when membership, weights, tags or meta changed. */
  changed: boolean;
}

export class EndpointPool implements EndpointView {
  /** Every endpoint discovery lists, in discovery's order. */
  all: readonly Endpoint[] = [];
  /** The endpoints balancers may pick; order is arbitrary. */
  readonly ready: Endpoint[] = [];
  /** Bumped when membership or weights change, so balancers rebuild derived tables lazily. */
  version = 0;
  /** Largest weight in the set (an upper bound for weighted sampling). */
  maxWeight = 1;
  /** Smallest weight in the set. */
  minWeight = 1;
  /** True when every endpoint has the same weight (fast unweighted paths apply). */
  uniformWeights = true;
  #byId = new Map<string, Endpoint>();
  #watchers: ReadyWatcher[] = [];

  constructor(
    readonly service: string,
    private readonly clock: Clock,
    private readonly initialRtt: number,
  ) {}

  /** Reconcile with discovery's latest set. Departed endpoints get their breaker shut down. */
  update(infos: readonly EndpointInfo[]): PoolChange {
    const next = new Map<string, Endpoint>();
    const added: Endpoint[] = [];
    let changed = false;
    for (const info of infos) {
      const id = endpointId(info);
      if (next.has(id)) continue;
      let ep = this.#byId.get(id);
      if (ep) {
        if (ep.refresh(info)) changed = true;
      } else {
        ep = new Endpoint(info, this.initialRtt, this.clock.now());
        added.push(ep);
      }
      next.set(id, ep);
    }
    const removed: Endpoint[] = [];
    for (const [id, ep] of this.#byId) {
      if (!next.has(id)) {
        removed.push(ep);
        this.setReady(ep, false);
        ep.breaker?.shutdown();
        ep.breaker = undefined;
      }
    }
    this.#byId = next;
    this.all = [...next.values()];
    for (const ep of added) this.setReady(ep, true);
    if (added.length || removed.length) changed = true;
    if (changed) {
      this.version++;
      this.#reweigh();
    }
    return { added, removed, changed };
  }

  /**
   * The breaker's say: put an endpoint into, or take it out of, the ready list. While another
   * policy holds it out ({@link EndpointPool.hold}) it only records that the breaker admits it.
   */
  setReady(ep: Endpoint, ready: boolean): void {
    ep.admitted = ready;
    this.#place(ep, ready && ep.holds === 0);
  }

  /**
   * Put a hold on an endpoint (`on`), keeping it out of rotation for `reason` (an
   * {@link EndpointHold} flag) whatever its breaker says, or release that hold; the endpoint
   * returns once no hold is left and its breaker admits it.
   */
  hold(ep: Endpoint, reason: number, on: boolean): void {
    ep.holds = on ? ep.holds | reason : ep.holds & ~reason;
    this.#place(ep, ep.admitted && ep.holds === 0);
  }

  /** Be told of every change to the ready list; returns the function that stops it. */
  watchReady(watcher: ReadyWatcher): () => void {
    this.#watchers = [...this.#watchers, watcher];
    return () => {
      this.#watchers = this.#watchers.filter((w) => w !== watcher);
    };
  }

  #place(ep: Endpoint, ready: boolean): void {
    if (ready === ep.readyIndex >= 0) return;
    if (ready) {
      // A late breaker event for an endpoint that already left must not bring it back.
      if (this.#byId.get(ep.id) !== ep) return;
      ep.readyIndex = this.ready.length;
      this.ready.push(ep);
    } else {
      const last = this.ready.pop()!;
      if (last !== ep) {
        this.ready[ep.readyIndex] = last;
        last.readyIndex = ep.readyIndex;
      }
      ep.readyIndex = -1;
    }
    // Copy-on-write list: a watcher that unsubscribes while being told does not skip another.
    for (const watcher of this.#watchers) watcher(ep, ready);
  }

  /** Look up an endpoint by id. */
  get(id: string): Endpoint | undefined {
    return this.#byId.get(id);
  }

  /** Drop every endpoint (client shutdown). */
  clear(): void {
    this.update([]);
  }

  #reweigh(): void {
    let max = 0;
    let min = Number.POSITIVE_INFINITY;
    for (const ep of this.all) {
      if (ep.weight > max) max = ep.weight;
      if (ep.weight < min) min = ep.weight;
    }
    this.maxWeight = max || 1;
    this.minWeight = Number.isFinite(min) ? min : 1;
    this.uniformWeights = this.maxWeight === this.minWeight;
  }
}
