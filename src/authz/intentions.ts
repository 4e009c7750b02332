/**
 * Consul intentions as an authorization source: the local agent's `/v1/agent/connect/authorize`
 * (https://developer.hashicorp.com/consul/api-docs/agent/connect#authorize) answers whether the
 * caller's certificate (its URI SAN and serial) may reach the target service. The agent answers
 * from its own cache; here each caller certificate's answer is kept for `cacheTtl` on the mesh's
 * clock (a bounded, least-recently-used set), and concurrent requests of one caller share one call.
 *
 * The agent answers 400 for a URI that is not a Consul service identity (an Istio-shaped ID):
 * such a caller is denied, not an error. An agent that cannot be reached is an error: the request
 * is refused with `MESH_AUTHZ_UNAVAILABLE` (503), never let through.
 */
import type { Clock } from '../core/clock.js';
import {
  agentRequest,
  type ConsulConnectionOptions,
  type ConsulSession,
  openConsul,
  statusOf,
} from '../discovery/consul/connection.js';
import { MeshError } from '../errors/mesh-error.js';
import type { IntentionsPolicy } from './options.js';
import type { Caller } from './rules.js';

/** An answer of the agent. */
export interface IntentionVerdict {
  allowed: boolean;
  reason: string;
}

interface Entry {
  verdict: IntentionVerdict;
  at: number;
}

/** Asks the agent about callers of one target service. */
export class Intentions {
  readonly #session: ConsulSession;
  readonly #target: string;
  readonly #ttl: number;
  readonly #size: number;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<IntentionVerdict>>();
  readonly #abort = new AbortController();

  constructor(
    options: IntentionsPolicy,
    target: string,
    clock: Clock,
    defaultConnection: ConsulConnectionOptions | undefined,
  ) {
    const { target: _t, cacheTtl, cacheSize, ...connection } = options;
    const given = Object.fromEntries(Object.entries(connection).filter(([, v]) => v !== undefined));
    this.#session = openConsul({ ...(defaultConnection ?? {}), ...given }, 4);
    this.#target = target;
    this.#ttl = cacheTtl;
    this.#size = cacheSize;
    this.#clock = clock;
  }

  /** The agent's verdict for `caller` (cached); rejects with `MESH_AUTHZ_UNAVAILABLE`. */
  judge(caller: Caller): IntentionVerdict | Promise<IntentionVerdict> {
    const key = `${caller.id}\u0000${caller.serial}`;
    const hit = this.#cache.get(key);
    if (hit && this.#clock.now() - hit.at < this.#ttl) return hit.verdict;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#ask(caller).then(
        (verdict) => {
          this.#pending.delete(key);
          this.#cache.delete(key);
          this.#cache.set(key, { verdict, at: this.#clock.now() });
          if (this.#cache.size > this.#size) this.#cache.delete(this.#cache.keys().next().value!);
          return verdict;
        },
        (error: unknown) => {
          this.#pending.delete(key);
          throw error;
        },
      );
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /** Abort calls in flight and close the agent connections. */
  close(): void {
    this.#abort.abort(new MeshError('MESH_CLOSED', 'authorization closed'));
    this.#session.destroy();
  }

  async #ask(caller: Caller): Promise<IntentionVerdict> {
    const body = { Target: this.#target, ClientCertURI: caller.id, ClientCertSerial: caller.serial };
    let answer: unknown;
    try {
      answer = await agentRequest(
        this.#session,
        'POST',
        '/v1/agent/connect/authorize',
        body,
        this.#abort.signal,
      );
    } catch (error) {
      if (statusOf(error) === 400) {
        return { allowed: false, reason: `consul: ${(error as Error).message.replace(/^.*HTTP 400: /, '')}` };
      }
      throw new MeshError('MESH_AUTHZ_UNAVAILABLE', `consul intentions: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const a = answer as { Authorized?: unknown; Reason?: unknown } | undefined;
    if (typeof a?.Authorized !== 'boolean') {
      throw new MeshError(
        'MESH_AUTHZ_UNAVAILABLE',
        'consul intentions: the authorize answer has no Authorized',
      );
    }
    return { allowed: a.Authorized, reason: `consul: ${typeof a.Reason === 'string' ? a.Reason : ''}` };
  }
}
