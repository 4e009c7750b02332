/**
 * TLS material from Consul Connect's CA, through the local agent
 * (https://developer.hashicorp.com/consul/api-docs/agent/connect): the trust bundle from
 * `/v1/agent/connect/ca/roots` and this workload's certificate and key from
 * `/v1/agent/connect/ca/leaf/:service`, both followed with blocking queries. The agent answers the
 * leaf query again when it renews the certificate (before it expires) or when the roots rotate;
 * the roots query when the CA changes. Each new answer is combined with the latest of the other and
 * applied once the pair passes every check (`material.ts`): during a CA rotation the new leaf may
 * arrive before the roots that sign it, and is applied as soon as they do.
 *
 * The two loops follow Consul's blocking-query rules as the discovery feed and the control plane
 * do (`BlockingIndex`, `WakeupLimiter`, `backoffDelay` in `discovery/consul/pace.ts`), on the
 * session helpers of `discovery/consul/connection.ts`.
 */
import { type Clock, sleep } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import {
  agentAnswer,
  type ConsulConnectionOptions,
  type ConsulSession,
  openConsul,
  sanitizeConsulError,
} from '../discovery/consul/connection.js';
import { BlockingIndex, backoffDelay, WakeupLimiter } from '../discovery/consul/pace.js';
import { MeshError } from '../errors/mesh-error.js';
import { buildMaterial, type TlsMaterial } from './material.js';
import type { ConsulCaPolicy } from './options.js';
import { type IdentityEvents, type IdentitySource, MaterialHolder } from './source.js';
import type { IdentityPattern } from './spiffe.js';

/** Slack on top of `wait + wait / 16` for the connection and the answer's transfer. */
const TIMEOUT_MARGIN = 1_000;

/** What the roots answer gives: the trust domain and the CA certificates, active root first. */
export interface CaRoots {
  trustDomain: string | undefined;
  pems: string[];
}

/** What the leaf answer gives. */
export interface Leaf {
  cert: string;
  key: string;
  serviceUri: string | undefined;
}

/** Read a `/v1/agent/connect/ca/roots` answer; a string says what is wrong with it. */
export function parseRoots(body: unknown): CaRoots | string {
  const b = body as { ActiveRootID?: unknown; TrustDomain?: unknown; Roots?: unknown } | undefined;
  if (!b || !Array.isArray(b.Roots)) return 'the roots answer has no Roots list';
  const active = typeof b.ActiveRootID === 'string' ? b.ActiveRootID : undefined;
  const roots = b.Roots.filter(
    (r): r is { ID?: unknown; RootCert: string; IntermediateCerts?: unknown; Active?: unknown } =>
      typeof r === 'object' && r !== null && typeof (r as { RootCert?: unknown }).RootCert === 'string',
  );
  if (roots.length === 0) return 'the roots answer lists no root certificate';
  // The active root first: peers signed by it are the common case. Every root stays trusted, as
  // Consul keeps the old root listed while leaves signed by it may still be in use.
  roots.sort(
    (a, b) => Number(b.ID === active || b.Active === true) - Number(a.ID === active || a.Active === true),
  );
  const pems: string[] = [];
  for (const root of roots) {
    pems.push(root.RootCert.trim());
    if (Array.isArray(root.IntermediateCerts)) {
      for (const i of root.IntermediateCerts) if (typeof i === 'string') pems.push(i.trim());
    }
  }
  const trustDomain = typeof b.TrustDomain === 'string' && b.TrustDomain !== '' ? b.TrustDomain : undefined;
  return { trustDomain, pems };
}

/** Read a `/v1/agent/connect/ca/leaf/:service` answer; a string says what is wrong with it. */
export function parseLeaf(body: unknown): Leaf | string {
  const b = body as { CertPEM?: unknown; PrivateKeyPEM?: unknown; ServiceURI?: unknown } | undefined;
  if (typeof b?.CertPEM !== 'string' || typeof b.PrivateKeyPEM !== 'string') {
    return 'the leaf answer has no CertPEM and PrivateKeyPEM';
  }
  return {
    cert: b.CertPEM,
    key: b.PrivateKeyPEM,
    serviceUri: typeof b.ServiceURI === 'string' ? b.ServiceURI : undefined,
  };
}

/** What the Consul source needs of the mesh. */
export interface ConsulCaContext {
  clock: Clock;
  random: () => number;
  events: EventSink<IdentityEvents>;
  expected: IdentityPattern | undefined;
  initialTimeout: number;
  /** The agent when the block names none: `discovery.consul`'s connection. */
  defaultConnection?: ConsulConnectionOptions | undefined;
}

/** One blocking-query loop on an agent path, handing each parsed answer on. */
class BlockingRead<T> {
  readonly #index = new BlockingIndex();
  readonly #limiter: WakeupLimiter;
  #failures = 0;

  constructor(
    private readonly session: ConsulSession,
    private readonly path: string,
    private readonly parse: (body: unknown) => T | string,
    private readonly options: ConsulCaPolicy,
    private readonly ctx: ConsulCaContext,
    private readonly onValue: (value: T) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.#limiter = new WakeupLimiter(ctx.clock, options.minWakeupInterval, ctx.random);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { wait, backoffBase, backoffMax } = this.options;
    while (!signal.aborted) {
      let delay: number;
      try {
        // A query that does not block (the first, or after a failure) must not wait as long as one that does.
        const timeout = this.#index.blocking
          ? wait + Math.ceil(wait / 16) + TIMEOUT_MARGIN
          : this.session.requestTimeout;
        const query = `index=${this.#index.param}&wait=${wait}ms`;
        const answer = await agentAnswer(
          this.session,
          'GET',
          `${this.path}?${query}`,
          undefined,
          signal,
          timeout,
        );
        const header = answer.headers['x-consul-index'];
        this.#index.accept(Array.isArray(header) ? header[0] : header);
        const value = this.parse(answer.body);
        if (typeof value === 'string') throw new Error(`${this.path}: ${value}`);
        this.#failures = 0;
        this.onValue(value);
        delay = this.#limiter.next();
      } catch (error) {
        if (signal.aborted) return;
        this.#failures++;
        // As Consul's own watch does: after a failure, read the current state at once.
        this.#index.reset();
        this.onError(sanitizeConsulError(error, this.session.connection.token));
        delay = backoffDelay(this.#failures, backoffBase, backoffMax, this.ctx.random);
      }
      try {
        await sleep(this.ctx.clock, delay, signal);
      } catch {
        return;
      }
    }
  }
}

/** Material from Consul Connect's CA: the roots and this service's leaf, followed as they change. */
export class ConsulCaSource implements IdentitySource {
  readonly kind = 'consul';
  readonly #holder: MaterialHolder;
  readonly #session: ConsulSession;
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[];
  readonly #expected: IdentityPattern | undefined;
  #roots: CaRoots | undefined;
  #leaf: Leaf | undefined;
  #applied = '';
  #lastError: Error | undefined;

  constructor(options: ConsulCaPolicy, ctx: ConsulCaContext) {
    const {
      service,
      wait: _w,
      backoffBase: _b,
      backoffMax: _m,
      minWakeupInterval: _i,
      ...connection
    } = options;
    const given = Object.fromEntries(Object.entries(connection).filter(([, v]) => v !== undefined));
    this.#session = openConsul({ ...(ctx.defaultConnection ?? {}), ...given }, 2);
    this.#expected = ctx.expected;
    this.#holder = new MaterialHolder(
      'consul',
      ctx.clock,
      ctx.events,
      ctx.initialTimeout,
      () =>
        `no certificate from the Consul agent for service "${service}" within ${ctx.initialTimeout} ms` +
        (this.#lastError ? `: ${this.#lastError.message}` : ''),
    );
    const report = (error: Error) => {
      this.#lastError = error;
      this.#holder.problem(
        new MeshError('MESH_TLS_UNAVAILABLE', `consul CA: ${error.message}`, { cause: error }),
      );
    };
    const roots = new BlockingRead(
      this.#session,
      '/v1/agent/connect/ca/roots',
      parseRoots,
      options,
      ctx,
      (value) => {
        this.#roots = value;
        this.#combine();
      },
      report,
    );
    const leaf = new BlockingRead(
      this.#session,
      `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`,
      parseLeaf,
      options,
      ctx,
      (value) => {
        this.#leaf = value;
        this.#combine();
      },
      report,
    );
    const signal = this.#abort.signal;
    this.#loops = [roots.run(signal), leaf.run(signal)];
  }

  current(): TlsMaterial | undefined {
    return this.#holder.current();
  }

  ready(): Promise<TlsMaterial> {
    return this.#holder.ready();
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    return this.#holder.onChange(listener);
  }

  async close(): Promise<void> {
    this.#holder.close();
    this.#abort.abort(new MeshError('MESH_CLOSED', 'the TLS source was closed'));
    await Promise.all(this.#loops);
    this.#session.destroy();
  }

  /** Apply the latest leaf with the latest roots, once both are known and they fit together. */
  #combine(): void {
    const roots = this.#roots;
    const leaf = this.#leaf;
    if (!roots || !leaf) return;
    const pems = { cert: leaf.cert, key: leaf.key, ca: roots.pems.join('\n') };
    const key = `${pems.cert}\u0000${pems.key}\u0000${pems.ca}`;
    if (key === this.#applied) return;
    const material = buildMaterial(pems, this.#expected);
    if (typeof material === 'string') {
      // A leaf signed by a root not listed yet: the roots query brings it, then this applies.
      this.#holder.problem(new MeshError('MESH_TLS_UNAVAILABLE', `consul CA: ${material}`));
      return;
    }
    if (roots.trustDomain && material.identity.trustDomain !== roots.trustDomain.toLowerCase()) {
      this.#holder.problem(
        new MeshError(
          'MESH_TLS_UNAVAILABLE',
          `consul CA: the leaf's identity ${material.identity.id} is not in the trust domain ${roots.trustDomain}`,
        ),
      );
      return;
    }
    this.#applied = key;
    this.#holder.set(material);
  }
}
