/**
 * The live endpoint set of one service.
 *
 * Discovery pushes whole sets; {@link EndpointPool.update} reconciles them by endpoint id, so an
 * instance that stays keeps its state (load estimate, breaker). The pool also keeps the *ready*
 * list the balancers pick from: endpoints leave it when their breaker ejects them and come back
 * when it closes, in O(1) (swap-remove), so a pick never scans the whole set.
 */
import type { Clock } from './clock.js';
import { Endpoint, type EndpointInfo, endpointId } from './endpoint.js';

/** What an {@link EndpointPool.update} changed. */
export interface PoolChange {
  added: Endpoint[];
  removed: Endpoint[];
  /** True when membership, weights, tags or meta changed. */
  changed: boolean;
}

export class EndpointPool {
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

  /** Put an endpoint into, or take it out of, the ready list. */
  setReady(ep: Endpoint, ready: boolean): void {
    if (ready === ep.readyIndex >= 0) return;
    if (ready) {
      // A late breaker event for an endpoint that already left must not bring it back.
      if (this.#byId.get(ep.id) !== ep) return;
      ep.readyIndex = this.ready.length;
      this.ready.push(ep);
      return;
    }
    const last = this.ready.pop()!;
    if (last !== ep) {
      this.ready[ep.readyIndex] = last;
      last.readyIndex = ep.readyIndex;
    }
    ep.readyIndex = -1;
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
