/**
 * The subscribers of one watched service, for the discovery sources that watch a registry
 * (Consul, DNS): each subscription's `ready` promise, the endpoint set last published, and the
 * fan-out of updates and errors.
 *
 * - A new subscriber gets the last set at once when there is one (and its `ready` resolves), or
 *   the first failure when the source recorded one; otherwise it waits for the first answer.
 * - A set equal to the last one (by the source's key) calls no listener: registries answer with
 *   the same set for writes that change nothing here.
 * - A listener that throws neither stops the watch nor hides: it becomes a process warning.
 * - A listener may close another subscription while being told; that one hears nothing more.
 */
import type { EndpointInfo } from '../core/endpoint.js';
import { MeshError } from '../errors/mesh-error.js';
import type { EndpointsListener } from './discovery.js';

/** One subscription. */
export interface Subscriber {
  onUpdate: EndpointsListener;
  onError: ((error: Error) => void) | undefined;
  /** Settles `ready`; a no-op once settled. */
  settle(error?: Error): void;
}

export class Subscribers {
  readonly #subscribers = new Set<Subscriber>();
  #endpoints: readonly EndpointInfo[] | undefined;
  #key = '';
  /** A failure that settles the `ready` of later subscribers at once, until a set is published. */
  #firstError: Error | undefined;

  constructor(
    readonly service: string,
    /** What the source is, for messages (`consul`, `the DNS watch`). */
    private readonly source: string,
  ) {}

  get idle(): boolean {
    return this.#subscribers.size === 0;
  }

  /** Whether a set was ever published. */
  get known(): boolean {
    return this.#endpoints !== undefined;
  }

  /** Add a subscriber; `onSettle` is told when its `ready` settles (to clear a timer, say). */
  add(
    onUpdate: EndpointsListener,
    onError?: (error: Error) => void,
    onSettle?: () => void,
  ): { subscriber: Subscriber; ready: Promise<void> } {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may never await `ready`; a rejection nobody listens to must not crash the process.
    ready.catch(() => {});
    let settled = false;
    const subscriber: Subscriber = {
      onUpdate,
      onError,
      settle: (error) => {
        if (settled) return;
        settled = true;
        onSettle?.();
        if (error) reject(error);
        else resolve();
      },
    };
    this.#subscribers.add(subscriber);
    if (this.#endpoints) {
      subscriber.settle();
      onUpdate(this.#endpoints);
    } else if (this.#firstError) {
      subscriber.settle(this.#firstError);
    }
    return { subscriber, ready };
  }

  /** Drop a subscriber (its `ready` rejects with `MESH_CLOSED`); false when it was already gone. */
  remove(subscriber: Subscriber): boolean {
    if (!this.#subscribers.delete(subscriber)) return false;
    subscriber.settle(this.#closed());
    return true;
  }

  /** Settle and forget every subscriber (the watch is closing). */
  close(): void {
    for (const subscriber of this.#subscribers) subscriber.settle(this.#closed());
    this.#subscribers.clear();
  }

  /** Publish a set; `key` identifies its content, so an equal set is not news. */
  publish(endpoints: readonly EndpointInfo[], key: string): void {
    this.#firstError = undefined;
    if (this.#endpoints !== undefined && key === this.#key) return;
    this.#endpoints = endpoints;
    this.#key = key;
    for (const subscriber of [...this.#subscribers]) {
      if (!this.#subscribers.has(subscriber)) continue;
      subscriber.settle();
      isolate(() => subscriber.onUpdate(endpoints));
    }
  }

  /**
   * No first set can be had now: the waiting subscribers' `ready` rejects with `error`, and with
   * `remember`, so does that of later subscribers until a set is published.
   */
  failFirst(error: Error, remember: boolean): void {
    if (this.#endpoints !== undefined) return;
    if (remember) this.#firstError = error;
    for (const subscriber of this.#subscribers) subscriber.settle(error);
  }

  /** Tell every subscriber about trouble that does not end the watch. */
  tell(error: Error): void {
    for (const subscriber of [...this.#subscribers]) {
      const onError = subscriber.onError;
      if (onError && this.#subscribers.has(subscriber)) isolate(() => onError(error));
    }
  }

  #closed(): MeshError {
    return new MeshError('MESH_CLOSED', `the ${this.source} watch of service "${this.service}" was closed`, {
      service: this.service,
    });
  }
}

/** Run a listener so that its bug neither stops the watch nor hides: it becomes a process warning. */
function isolate(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    process.emitWarning(error instanceof Error ? error : String(error), 'MeshListenerWarning');
  }
}
