/**
 * The live endpoint set of one service.
 *
 * Discovery pushes whole sets; {@link EndpointPool.update} reconciles them by endpoint id, so an
 * instance that stays keeps its state (what policies attached to it). The pool also keeps the
 * *ready* list the balancers pick from: endpoints leave it while any policy holds them out
 * ({@link EndpointPool.hold}: an open breaker, an outlier ejection) and come back when the last
 * hold is released, in O(1) (swap-remove), so a pick never scans the whole set. Views narrower
 * than the pool (routing subsets) follow the ready list through {@link EndpointPool.watchReady}
 * instead of rescanning it.
 */
import type { Clock } from './clock.js';
import { Endpoint, type EndpointHold, type EndpointInfo, endpointId } from './endpoint.js';
import type { EndpointView } from './view.js';

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
  /** Clock time of the first update that listed endpoints (they are the service's initial set). */
  firstSetAt: number | undefined;
  #byId = new Map<string, Endpoint>();
  #watchers: ReadyWatcher[] = [];

  constructor(
    readonly service: string,
    private readonly clock: Clock,
  ) {}

  /** Reconcile with discovery's latest set. Departed endpoints release what policies attached. */
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
        ep = new Endpoint(info, this.clock.now());
        added.push(ep);
      }
      next.set(id, ep);
    }
    const removed: Endpoint[] = [];
    for (const [id, ep] of this.#byId) {
      if (!next.has(id)) {
        removed.push(ep);
        this.#place(ep, false);
        ep.release();
      }
    }
    this.#byId = next;
    this.all = [...next.values()];
    if (this.firstSetAt === undefined && next.size > 0) this.firstSetAt = this.clock.now();
    for (const ep of added) this.#place(ep, ep.holds === 0);
    if (added.length || removed.length) changed = true;
    if (changed) {
      this.version++;
      this.#reweigh();
    }
    return { added, removed, changed };
  }

  /**
   * Put `hold` on an endpoint (`on`), keeping it out of rotation whatever other policies say,
   * or release it; the endpoint returns once no hold is left.
   */
  hold(ep: Endpoint, hold: EndpointHold, on: boolean): void {
    ep.holds = on ? ep.holds | hold.bit : ep.holds & ~hold.bit;
    this.#place(ep, ep.holds === 0);
  }

  /** Whether `hold` is on `ep`. */
  held(ep: Endpoint, hold: EndpointHold): boolean {
    return (ep.holds & hold.bit) !== 0;
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
      // A late policy event for an endpoint that already left must not bring it back.
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
