/**
 * The refresh loop behind `DnsDiscovery` (internal): one {@link DnsWatch} per watched service, shared
 * by its subscribers, with a node:dns `Resolver` of its own so that stopping it cancels exactly its
 * queries (`Resolver.cancel()`).
 *
 * The rules, in the order the loop applies them:
 * - an answer with records is taken at once, and the name is asked again when the smallest TTL runs
 *   out, held within `minRefresh` / `maxRefresh` and brought forward by up to `jitter` of that (never
 *   below `minRefresh`);
 * - a failure (timeout, refused, SERVFAIL, ...) keeps the last set, is reported through `onError`,
 *   and is retried with a backoff doubling from `minRefresh` to `maxRefresh`;
 * - an empty answer (no records, or NXDOMAIN) for a name that has endpoints is a suspect: the old set
 *   stays for `emptyGracePeriod` while the name is asked again every `minRefresh`, and the empty set
 *   is taken only if the answer is still empty once the grace has run out; NXDOMAIN is reported
 *   every time, a plain empty answer only while it is a suspect;
 * - the first answer settles `ready`: records (even none) resolve it, a failure or NXDOMAIN rejects it
 *   with `MESH_DISCOVERY_UNAVAILABLE`; the loop goes on either way, so the service recovers by itself.
 */
import { Resolver } from 'node:dns/promises';
import { type Clock, sleep } from '../../core/clock.js';
import type { EndpointInfo } from '../../core/endpoint.js';
import { MeshError } from '../../errors/mesh-error.js';
import type { EndpointsListener } from '../discovery.js';
import { type Subscriber, Subscribers } from '../subscribers.js';
import { type DnsAnswer, type DnsTarget, resolveOnce } from './resolve.js';

/** @internal What every watch of one `DnsDiscovery` shares: its validated options. */
export interface DnsSettings {
  readonly clock: Clock;
  readonly random: () => number;
  readonly servers: readonly string[] | undefined;
  readonly minRefresh: number;
  readonly maxRefresh: number;
  readonly jitter: number;
  readonly emptyGracePeriod: number;
  readonly maxRecords: number;
  readonly timeout: number;
  readonly tries: number;
}

/** Doublings of the backoff are capped here; `maxRefresh` caps the delay long before. */
const MAX_DOUBLINGS = 30;

/** @internal The refresh loop of one service, shared by all its subscribers. */
export class DnsWatch {
  readonly #service: string;
  readonly #target: DnsTarget;
  readonly #s: DnsSettings;
  readonly #resolver: Resolver;
  readonly #subscribers: Subscribers;
  readonly #abort = new AbortController();
  /** How many endpoints the set last published has. */
  #current = 0;
  /** Attempts in a row that failed or were empty without being a suspect. */
  #misses = 0;
  /** When the current run of empty answers began, while the old set is kept. */
  #emptySince: number | undefined;
  #dropping = false;
  #unresolvedKey = '';
  #loop: Promise<void> = Promise.resolve();

  constructor(service: string, target: DnsTarget, settings: DnsSettings) {
    this.#service = service;
    this.#target = target;
    this.#s = settings;
    this.#subscribers = new Subscribers(service, 'DNS');
    this.#resolver = new Resolver({ timeout: settings.timeout, tries: settings.tries });
    if (settings.servers) this.#resolver.setServers(settings.servers);
  }

  /** The DNS name this watch resolves. */
  get name(): string {
    return this.#target.name;
  }

  get idle(): boolean {
    return this.#subscribers.idle;
  }

  add(
    onUpdate: EndpointsListener,
    onError?: (error: Error) => void,
  ): { subscriber: Subscriber; ready: Promise<void> } {
    return this.#subscribers.add(onUpdate, onError);
  }

  /** Drop a subscriber; false when it was already gone. */
  remove(subscriber: Subscriber): boolean {
    return this.#subscribers.remove(subscriber);
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Cancel the query in flight and any pending refresh; resolves once the loop has returned. */
  async stop(): Promise<void> {
    this.#subscribers.close();
    this.#abort.abort(new MeshError('MESH_CLOSED', `the DNS watch of service "${this.#service}" was closed`));
    this.#resolver.cancel();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let delay: number;
      try {
        const answer = await resolveOnce(this.#resolver, this.#target, this.#s.maxRecords);
        if (signal.aborted) return;
        delay = this.#accept(answer);
      } catch (error) {
        if (signal.aborted) return;
        this.#misses++;
        this.#fail(error);
        delay = this.#backoff();
      }
      try {
        await sleep(this.#s.clock, delay, signal);
      } catch {
        return;
      }
    }
  }

  /** Take an answer; returns the delay before the next resolution. */
  #accept(answer: DnsAnswer): number {
    const nxdomain = answer.kind === 'nxdomain';
    const endpoints = nxdomain ? [] : answer.endpoints;
    if (!nxdomain) this.#notice(answer.dropped, answer.unresolved);
    if (endpoints.length > 0) {
      this.#misses = 0;
      this.#emptySince = undefined;
      this.#publish(endpoints);
      return this.#spread(
        answer.kind === 'records' && answer.ttl !== undefined ? answer.ttl * 1000 : this.#s.maxRefresh,
      );
    }
    const what = nxdomain ? 'does not exist (NXDOMAIN)' : 'has no records';
    if (!this.#subscribers.known && nxdomain) {
      this.#misses++;
      this.#fail(new Error(`${this.#target.name} ${what}`));
      return this.#backoff();
    }
    const current = this.#current;
    if (current > 0) {
      const now = this.#s.clock.now();
      this.#emptySince ??= now;
      const left = this.#s.emptyGracePeriod - (now - this.#emptySince);
      if (left > 0) {
        this.#report(
          `dns: ${this.#target.name} ${what}; keeping the last ${current} endpoint(s) ` +
            `of "${this.#service}" for up to ${Math.ceil(left)} ms more`,
        );
        return this.#spread(this.#s.minRefresh);
      }
    }
    this.#emptySince = undefined;
    this.#misses++;
    if (nxdomain) this.#report(`dns: ${this.#target.name} ${what}; "${this.#service}" has no endpoints`);
    this.#publish(Object.freeze([]));
    return this.#backoff();
  }

  #publish(endpoints: readonly EndpointInfo[]): void {
    this.#current = endpoints.length;
    this.#subscribers.publish(endpoints, endpoints.map((e) => `${e.url} ${e.weight ?? 1}`).join('\n'));
  }

  /** Report trimmed answers and unresolvable SRV targets when they start, not on every refresh. */
  #notice(dropped: number, unresolved: readonly string[]): void {
    if (dropped > 0 && !this.#dropping) {
      this.#report(
        `dns: ${this.#target.name} answered more records than maxRecords (${this.#s.maxRecords}); ` +
          `${dropped} left out`,
      );
    }
    this.#dropping = dropped > 0;
    const key = unresolved.join(' ');
    if (key !== '' && key !== this.#unresolvedKey) {
      const shown = unresolved.slice(0, 5).join(', ') + (unresolved.length > 5 ? ', ...' : '');
      this.#report(`dns: SRV targets of ${this.#target.name} without an address: ${shown}`);
    }
    this.#unresolvedKey = key;
  }

  #fail(error: unknown): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    const failure = this.#report(
      `dns: resolving ${this.#target.name} (${this.#target.type}) for "${this.#service}" failed ` +
        `(attempt ${this.#misses}): ${cause.message}`,
      cause,
    );
    this.#subscribers.failFirst(failure, true);
  }

  #report(message: string, cause?: Error): MeshError {
    const error = new MeshError('MESH_DISCOVERY_UNAVAILABLE', message, { service: this.#service, cause });
    this.#subscribers.tell(error);
    return error;
  }

  /** After misses: `minRefresh`, doubling per miss in a row, up to `maxRefresh`. */
  #backoff(): number {
    const doublings = Math.min(Math.max(this.#misses - 1, 0), MAX_DOUBLINGS);
    return this.#spread(this.#s.minRefresh * 2 ** doublings);
  }

  /** `base` held within `minRefresh`..`maxRefresh`, then brought forward by up to `jitter` of it. */
  #spread(base: number): number {
    const { minRefresh, maxRefresh, jitter, random } = this.#s;
    // Bounded first, jittered second: clients held at maxRefresh drift apart too.
    const bounded = Math.min(maxRefresh, Math.max(minRefresh, base));
    return Math.max(minRefresh, bounded * (1 - jitter * random()));
  }
}
