/**
 * One watched service of `ConsulDiscovery` (internal, not exported from the package): its
 * subscribers, the endpoint set last read, `ready`, and the rules for what an answer may change.
 *
 * - An answer equal to the last set (order-insensitive) calls no listener: Consul's indexes move for
 *   writes that change nothing here.
 * - An empty answer that Consul marks `X-Consul-Results-Filtered-By-ACLs: true` is not the truth: the
 *   token may not read the service or its nodes (Consul's `agent/consul/health_endpoint.go` filters
 *   the entries and answers 200). The last set stays in force and every subscriber hears why; a
 *   service never seen before fails its `ready` at once with the same reason instead of routing to
 *   nothing. A filtered answer that still lists instances is applied (it is what this token may
 *   see) and reported.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { EndpointInfo } from '../../core/endpoint.js';
import { MeshError } from '../../errors/mesh-error.js';
import type { EndpointsListener } from '../discovery.js';

/** One subscription to a view. */
export interface Subscriber {
  onUpdate: EndpointsListener;
  onError: ((error: Error) => void) | undefined;
  /** Settles `ready`; a no-op once settled. */
  settle(error?: Error): void;
}

/** What an answer of `/v1/health/service/:name` brought, already parsed. */
export interface ServiceAnswer {
  readonly endpoints: readonly EndpointInfo[];
  readonly key: string;
  readonly nodes: ReadonlySet<string>;
  /** Consul said entries were left out because of the token's ACLs. */
  readonly filtered: boolean;
  /** How many entries the answer had, before our own filtering. */
  readonly entries: number;
}

/** @internal The state of one watched service, shared by all its subscribers. */
export class ServiceView {
  readonly #subscribers = new Set<Subscriber>();
  #endpoints: readonly EndpointInfo[] | undefined;
  #key = '';
  #lastError: Error | undefined;
  /** Nodes the last answer's instances live on: their node checks matter to this service. */
  nodes: ReadonlySet<string> = new Set();
  /** Consecutive failed reads (for the retry backoff). */
  failures = 0;
  /** When the last read was sent, on the discovery's clock (for the periodic re-read). */
  readAt = Number.NEGATIVE_INFINITY;
  /** Sequence number of the last read sent (see ChangeFeed). */
  readSeq = 0;
  /** The change feed's fingerprint of this service when last compared. */
  feedPrint: string | undefined;
  /** A pending retry after a failed read. */
  retry: TimerHandle | undefined;

  constructor(
    readonly service: string,
    private readonly clock: Clock,
    private readonly initialTimeout: number,
  ) {}

  get idle(): boolean {
    return this.#subscribers.size === 0;
  }

  /** Whether a first set was ever applied. */
  get known(): boolean {
    return this.#endpoints !== undefined;
  }

  add(
    onUpdate: EndpointsListener,
    onError?: (error: Error) => void,
  ): { subscriber: Subscriber; ready: Promise<void> } {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may never await `ready`; a rejection nobody listens to must not crash the process.
    ready.catch(() => {});
    let timer: TimerHandle | undefined;
    let settled = false;
    const subscriber: Subscriber = {
      onUpdate,
      onError,
      settle: (error) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.clock.clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      },
    };
    this.#subscribers.add(subscriber);
    if (this.#endpoints) {
      subscriber.settle();
      onUpdate(this.#endpoints);
    } else {
      timer = this.clock.setTimeout(() => {
        timer = undefined;
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        const message = `no answer from consul for service "${this.service}" within ${this.initialTimeout} ms${why}`;
        subscriber.settle(
          new MeshError('MESH_DISCOVERY_UNAVAILABLE', message, {
            service: this.service,
            cause: this.#lastError,
          }),
        );
      }, this.initialTimeout);
    }
    return { subscriber, ready };
  }

  /** Drop a subscriber; false when it was already gone. */
  remove(subscriber: Subscriber): boolean {
    if (!this.#subscribers.delete(subscriber)) return false;
    subscriber.settle(closedError(this.service));
    return true;
  }

  /** Settle and forget every subscriber (the discovery is closing). */
  close(): void {
    for (const subscriber of this.#subscribers) subscriber.settle(closedError(this.service));
    this.#subscribers.clear();
  }

  /** Apply a successful read. */
  apply(answer: ServiceAnswer): void {
    this.failures = 0;
    if (answer.filtered) {
      const error = aclError(this.service, answer.entries === 0 || answer.endpoints.length === 0);
      if (answer.endpoints.length === 0) {
        this.#lastError = error;
        // Never seen: fail the first requests now, saying why, rather than route to nothing.
        if (!this.#endpoints) for (const s of this.#subscribers) s.settle(error);
        this.#tell(error);
        return;
      }
      this.#tell(error);
    }
    this.nodes = answer.nodes;
    this.#lastError = undefined;
    const first = this.#endpoints === undefined;
    // Indexes also move for unrelated writes; only a different set is news.
    if (!first && answer.key === this.#key) return;
    this.#endpoints = answer.endpoints;
    this.#key = answer.key;
    for (const subscriber of [...this.#subscribers]) {
      // A listener may close another subscription meanwhile; that one must hear nothing more.
      if (!this.#subscribers.has(subscriber)) continue;
      subscriber.settle();
      isolate(() => subscriber.onUpdate(answer.endpoints));
    }
  }

  /** Report a failed read or a failed change feed; the last set stays in force. */
  fail(error: Error, what: string): void {
    this.#lastError = error;
    this.#tell(
      new MeshError(
        'MESH_DISCOVERY_UNAVAILABLE',
        `consul: ${what} for service "${this.service}" failed: ${error.message}`,
        {
          service: this.service,
          cause: error,
        },
      ),
    );
  }

  /** Tell every subscriber about trouble that does not end the watch. */
  warn(error: MeshError): void {
    this.#tell(error);
  }

  #tell(error: MeshError): void {
    for (const subscriber of [...this.#subscribers]) {
      const onError = subscriber.onError;
      if (onError && this.#subscribers.has(subscriber)) isolate(() => onError(error));
    }
  }
}

function aclError(service: string, empty: boolean): MeshError {
  const effect = empty
    ? 'the last known endpoints stay in force'
    : 'only the instances the token may see are routed to';
  return new MeshError(
    'MESH_DISCOVERY_UNAVAILABLE',
    `consul filtered the instances of service "${service}" by ACLs (X-Consul-Results-Filtered-By-ACLs): ` +
      `the token lacks service:read on "${service}" or node:read on its nodes; ${effect}`,
    { service },
  );
}

function closedError(service: string): MeshError {
  return new MeshError('MESH_CLOSED', `the watch of service "${service}" was closed`, { service });
}

/** Run a listener so that its bug neither stops the watch nor hides: it becomes a process warning. */
export function isolate(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    process.emitWarning(error instanceof Error ? error : String(error), 'MeshListenerWarning');
  }
}
