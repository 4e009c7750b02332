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
import { type Subscriber, Subscribers } from '../subscribers.js';

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
  readonly #subscribers: Subscribers;
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
  ) {
    this.#subscribers = new Subscribers(service, 'consul');
  }

  get idle(): boolean {
    return this.#subscribers.idle;
  }

  /** Whether a first set was ever applied. */
  get known(): boolean {
    return this.#subscribers.known;
  }

  add(
    onUpdate: EndpointsListener,
    onError?: (error: Error) => void,
  ): { subscriber: Subscriber; ready: Promise<void> } {
    let timer: TimerHandle | undefined;
    const added = this.#subscribers.add(onUpdate, onError, () => {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    });
    if (!this.known) {
      timer = this.clock.setTimeout(() => {
        timer = undefined;
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        const message = `no answer from consul for service "${this.service}" within ${this.initialTimeout} ms${why}`;
        added.subscriber.settle(
          new MeshError('MESH_DISCOVERY_UNAVAILABLE', message, {
            service: this.service,
            cause: this.#lastError,
          }),
        );
      }, this.initialTimeout);
    }
    return added;
  }

  /** Drop a subscriber; false when it was already gone. */
  remove(subscriber: Subscriber): boolean {
    return this.#subscribers.remove(subscriber);
  }

  /** Settle and forget every subscriber (the discovery is closing). */
  close(): void {
    this.#subscribers.close();
  }

  /** Apply a successful read. */
  apply(answer: ServiceAnswer): void {
    this.failures = 0;
    if (answer.filtered) {
      const error = aclError(this.service, answer.entries === 0 || answer.endpoints.length === 0);
      if (answer.endpoints.length === 0) {
        this.#lastError = error;
        // Never seen: fail the first requests now, saying why, rather than route to nothing.
        this.#subscribers.failFirst(error, false);
        this.#subscribers.tell(error);
        return;
      }
      this.#subscribers.tell(error);
    }
    this.nodes = answer.nodes;
    this.#lastError = undefined;
    // Indexes also move for unrelated writes; only a different set is news.
    this.#subscribers.publish(answer.endpoints, answer.key);
  }

  /** Report a failed read or a failed change feed; the last set stays in force. */
  fail(error: Error, what: string): void {
    this.#lastError = error;
    this.#subscribers.tell(
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
    this.#subscribers.tell(error);
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
