/**
 * The control plane on Consul KV: one key holds JSON overrides of the policy options (routes,
 * weights, limits, faults: anything `MeshClient.configure()` takes, globally or under
 * `services`), watched with blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking)
 * so that every client and sidecar pointing at it applies an operator's `consul kv put` within a
 * round trip. The value is the whole override set, relative to the options the process was
 * started with (plus its own `configure()` calls): a deleted key removes the overrides.
 *
 * This module only watches: each new value (or its absence) goes to `onValue`, which validates
 * and applies it; a value it rejects leaves the last good one in force. Failed queries are
 * reported to `onError` and retried with exponential backoff and jitter, never in a hot loop.
 *
 * What a KV index means (Consul's `agent/consul/kvs_endpoint.go`): a present key answers with its
 * own `ModifyIndex`, but a missing key answers with the index of the whole KV table, which moves
 * with every unrelated write and wakes the query each time. So the watch compares the value itself,
 * not the index, before handing it on: a wake-up that changed nothing applies nothing. The index
 * follows Consul's rules (see `BlockingIndex`): never 0 (blocking on 0 answers at once, forever),
 * reset when it goes backwards, and dropped after a failure, so that a key changed while the agent
 * was away is read at once, even when the restarted agent's index is back where it was.
 */
import { z } from 'zod';
import { type Clock, sleep } from '../core/clock.js';
import {
  type ConsulConnectionOptions,
  type ConsulSession,
  consulRequest,
  openConsul,
  sanitizeConsulError,
} from '../discovery/consul/connection.js';
import { agentConnectionFields } from '../discovery/consul/options.js';
import { BlockingIndex, backoffDelay, WakeupLimiter } from '../discovery/consul/pace.js';

/** Central configuration from a Consul KV key. */
export interface ControlPlaneOptions {
  /** The KV key holding the JSON overrides (e.g. `mesh/config`). Required. */
  key: string;
  /** The agent: host, port, secure, ca, token, requestTimeout. @defaultValue `discovery.consul`'s, else `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN` */
  consul?: ConsulConnectionOptions;
  /** How long one blocking query may wait for a change (ms; Consul's cap: 600000). @defaultValue `300000` */
  wait?: number;
  /** First retry delay after a failed query (ms); doubles per failure, with jitter. @defaultValue `250` */
  backoffBase?: number;
  /** Largest retry delay (ms). @defaultValue `30000` */
  backoffMax?: number;
  /** Rate limit of wake-ups: after a burst of two, at most one query per this many ms (plus up to 25 % jitter). @defaultValue `1000` */
  minWakeupInterval?: number;
}

const ms = z.number().positive().finite();

/** Validation of {@link ControlPlaneOptions}. */
export const controlPlaneSchema = z.strictObject({
  key: z.string().min(1).describe('KV key holding the JSON overrides.'),
  consul: z
    .strictObject({
      ...agentConnectionFields,
      /** ACL token with `key:read` on the key. @defaultValue as `discovery.consul`, else `CONSUL_HTTP_TOKEN` */
      token: z.string().min(1).optional(),
    })
    .optional()
    .describe("The agent; default: discovery.consul's connection, else the CONSUL_HTTP_* environment."),
  wait: ms.max(600_000).optional().describe('Blocking query wait (ms).'),
  backoffBase: ms.optional().describe('First retry delay after a failed query (ms).'),
  backoffMax: ms.optional().describe('Largest retry delay (ms).'),
  minWakeupInterval: ms.optional().describe('Rate limit of wake-ups (ms).'),
});

/** New overrides were applied from the control plane. */
export interface ConfigAppliedEvent {
  /** The KV key. */
  key: string;
  /** The key's `ModifyIndex` (0 once it was deleted). */
  index: number;
  /** Whether the key exists; a deleted key removes the overrides. */
  present: boolean;
}

/** A value in the control plane was rejected; the last good configuration stays in force. */
export interface ConfigRejectedEvent {
  key: string;
  index: number;
  /** Why: invalid JSON, or `MESH_BAD_OPTIONS` naming the offending path. */
  error: Error;
}

/** The control plane could not be read; the last good configuration stays in force. */
export interface ControlPlaneErrorEvent {
  key: string;
  error: Error;
}

/** What the watch needs besides its options. */
export interface KvWatchContext {
  clock: Clock;
  random: () => number;
  /** A new value of the key (`undefined` when it does not exist), with its index. */
  onValue(value: string | undefined, index: number): void;
  /** A failed query; the watch retries after a backoff. */
  onError(error: Error): void;
}

/** Extra time over `wait` (and Consul's wait/16 jitter) before a blocking query is given up. */
const TIMEOUT_MARGIN = 5_000;

/** The blocking-query loop on one key. */
export class KvWatch {
  readonly #session: ConsulSession;
  readonly #abort = new AbortController();
  readonly #wait: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #index = new BlockingIndex();
  readonly #limiter: WakeupLimiter;
  /** What was last handed to `onValue` (`null`: nothing yet; `undefined` inside: the key is absent). */
  #delivered: { value: string | undefined } | null = null;
  #failures = 0;
  #loop: Promise<void> | undefined;

  constructor(
    readonly key: string,
    options: ControlPlaneOptions,
    private readonly ctx: KvWatchContext,
  ) {
    this.#session = openConsul(options.consul ?? {});
    this.#wait = options.wait ?? 300_000;
    this.#backoffBase = options.backoffBase ?? 250;
    this.#backoffMax = options.backoffMax ?? 30_000;
    this.#limiter = new WakeupLimiter(ctx.clock, options.minWakeupInterval ?? 1_000, ctx.random);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Abort the query in flight and any backoff; resolves once the loop has returned. */
  async close(): Promise<void> {
    this.#abort.abort(new Error('control plane closed'));
    await this.#loop;
    this.#session.destroy();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let delay: number;
      try {
        const { index, value, modifyIndex } = await this.#query(signal);
        this.#failures = 0;
        this.#index.accept(index);
        // Equal values are no news: a missing key's index moves with every write to any key.
        if (this.#delivered === null || this.#delivered.value !== value) {
          this.#delivered = { value };
          this.ctx.onValue(value, modifyIndex);
        }
        delay = this.#limiter.next();
      } catch (error) {
        if (signal.aborted) return;
        this.#failures++;
        // As Consul's own watch does: after an error, read the current value at once.
        this.#index.reset();
        this.ctx.onError(sanitizeConsulError(error, this.#session.connection.token));
        delay = backoffDelay(this.#failures, this.#backoffBase, this.#backoffMax, this.ctx.random);
      }
      try {
        await sleep(this.ctx.clock, delay, signal);
      } catch {
        return;
      }
    }
  }

  async #query(
    signal: AbortSignal,
  ): Promise<{ index: unknown; value: string | undefined; modifyIndex: number }> {
    const wait = this.#wait;
    // A query that does not block (the first, or after a reset) must not wait as long as one that does.
    const timeout = this.#index.blocking
      ? wait + Math.ceil(wait / 16) + TIMEOUT_MARGIN
      : this.#session.requestTimeout;
    const kv = this.#session.client.kv;
    // The runtime takes papi's ctx and timeout besides the declared options.
    const get = kv.get.bind(kv) as unknown as (opts: Record<string, unknown>) => Promise<unknown>;
    const result = await consulRequest(signal, timeout, true, (control) =>
      get({ key: this.key, index: this.#index.param, wait: `${wait}ms`, ...control }),
    );
    if (!Array.isArray(result)) throw new Error('consul: unexpected KV answer');
    const [res, item] = result as [{ headers?: Record<string, unknown> } | undefined, unknown];
    const index = res?.headers?.['x-consul-index'];
    if (item === undefined) return { index, value: undefined, modifyIndex: 0 };
    const entry = item as { Value?: unknown; ModifyIndex?: unknown };
    const value =
      typeof entry.Value === 'string' ? entry.Value : entry.Value == null ? '' : String(entry.Value);
    return { index, value, modifyIndex: typeof entry.ModifyIndex === 'number' ? entry.ModifyIndex : 0 };
  }
}
