/**
 * A light abort signal for one attempt.
 *
 * Every attempt needs something the transport can be aborted through. A Node `AbortController`
 * is an EventTarget: creating one and adding and removing listeners costs microseconds and
 * garbage per attempt, more than the rest of the mesh's decision. {@link AttemptSignal} keeps
 * the part the transports use: the `aborted`/`reason`/`addEventListener` shape undici and
 * Node's validators accept, and the `subscribe`/`unsubscribe` shape of an axios CancelToken,
 * which axios's http adapter takes without touching an EventTarget.
 */

/** What the pipeline needs of a signal: a real `AbortSignal` or an {@link AttemptSignal}. */
export interface MeshSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
  throwIfAborted(): void;
}

type Listener = (reason: unknown) => void;

export class AttemptSignal implements MeshSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: Listener[] | undefined;

  /** Abort once: later calls are ignored. Listeners run with the reason. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener(reason);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.subscribe(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.unsubscribe(listener);
  }

  /** axios CancelToken shape: axios calls `listener(reason)` and rejects with the reason. */
  subscribe(listener: Listener): void {
    if (this.aborted) {
      listener(this.reason);
      return;
    }
    (this.#listeners ??= []).push(listener);
  }

  unsubscribe(listener: Listener): void {
    const listeners = this.#listeners;
    if (!listeners) return;
    const i = listeners.indexOf(listener);
    if (i >= 0) listeners.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** axios CancelToken shape. */
  throwIfRequested(): void {
    this.throwIfAborted();
  }
}
