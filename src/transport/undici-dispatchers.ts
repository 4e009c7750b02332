/**
 * Which undici dispatcher a request goes through, so that what axios users configure on the
 * connection still applies: `httpAgent` / `httpsAgent` (TLS trust and identity: `ca`,
 * `rejectUnauthorized`, `cert`, `key`, `pfx`, `checkServerIdentity`, `servername`, ciphers...,
 * socket options: `localAddress`, `family`, an agent's `lookup`; `maxSockets`; `keepAlive`), and
 * the request's own `lookup` and `family`.
 *
 * A Node agent's options are what it passes to `net.connect` / `tls.connect`; undici's connector
 * passes its `connect` options to the same calls, so the agent's options, less those that only
 * shape Node's socket pool, become the `connect` options of an undici Agent made for them.
 * Requests that set none of this (the mesh's own keep-alive agents carry no connection options)
 * use the base dispatcher: the fast path costs one WeakMap look-up. Derived dispatchers are
 * cached (a bounded, least-recently-used set: an app making a new Agent per request does not
 * grow memory), and close with the base dispatcher.
 *
 * Agents undici cannot stand in for (another class, a custom `createConnection`) are reported as
 * such, and the transport hands those requests to axios's http adapter instead.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { AxiosError } from 'axios';
import { Agent, type Dispatcher } from 'undici';

/** Node agent options that configure its socket pool, not the connection. */
const POOL_ONLY = new Set([
  'keepAlive',
  'keepAliveMsecs',
  'maxSockets',
  'maxTotalSockets',
  'maxFreeSockets',
  'maxCachedSessions',
  'scheduling',
  'timeout',
  'path',
  'noDelay',
  'proxyEnv',
  'defaultPort',
  'protocol',
  'agentKeepAliveTimeoutBuffer',
]);

/** Pool methods a subclass may override to change how connections are made or shared. */
const HOOKS = ['createConnection', 'addRequest', 'getName', 'createSocket'] as const;

/** Most derived dispatchers kept open at once. */
const MAX_DERIVED = 32;
/** Idle keep-alive of derived dispatchers, as the mesh's own. */
const KEEP_ALIVE_MS = 30_000;

/** Where a request goes: a dispatcher (and whether its agent asked for one request per connection). */
export interface Route {
  readonly dispatcher: Dispatcher;
  readonly reset: boolean;
}

interface Profile {
  readonly connect: Record<string, unknown> | undefined;
  readonly connections: number | undefined;
  readonly reset: boolean;
  /** Cache keys: one for the agent alone, one per lookup and family used with it. */
  readonly plain: object;
  readonly byLookup: WeakMap<object, Map<unknown, object>>;
  readonly byFamily: Map<unknown, object>;
}

/** An agent undici cannot stand in for. */
const FOREIGN = Symbol('foreign agent');

export class UndiciDispatchers {
  readonly #base: Dispatcher;
  readonly #profiles = new WeakMap<object, Profile | typeof FOREIGN>();
  readonly #none: Profile = profile(undefined, undefined, false);
  readonly #derived = new Map<object, Agent>();
  readonly #lookups = new WeakMap<object, LookupFunction>();

  constructor(base: Dispatcher) {
    this.#base = base;
    closeWith(base, () => this.close());
  }

  /**
   * The route for a request to `protocol` with this config, or undefined when its agent is one
   * undici cannot stand in for.
   */
  route(
    protocol: string,
    agent: unknown,
    lookup: unknown,
    family: unknown,
    config: object,
  ): Route | undefined {
    const p = agent ? this.#profile(agent, protocol) : this.#none;
    if (p === FOREIGN) return undefined;
    if (!lookup && !family) {
      if (!p.connect && p.connections === undefined)
        return p.reset ? { dispatcher: this.#base, reset: true } : BASE(this.#base);
      return { dispatcher: this.#get(p.plain, p, undefined, undefined, config), reset: p.reset };
    }
    let key: object | undefined;
    if (lookup) {
      if (typeof lookup !== 'function') {
        throw new AxiosError('lookup must be a function', AxiosError.ERR_BAD_OPTION_VALUE, config as never);
      }
      let byFamily = p.byLookup.get(lookup);
      if (!byFamily) p.byLookup.set(lookup, (byFamily = new Map()));
      key = byFamily.get(family);
      if (!key) byFamily.set(family, (key = {}));
    } else {
      key = p.byFamily.get(family);
      if (!key) p.byFamily.set(family, (key = {}));
    }
    return { dispatcher: this.#get(key, p, lookup as Lookup | undefined, family, config), reset: p.reset };
  }

  /** Close every derived dispatcher (the base is its owner's to close). */
  async close(): Promise<void> {
    const all = [...this.#derived.values()];
    this.#derived.clear();
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }

  #profile(agent: object, protocol: string): Profile | typeof FOREIGN {
    let p = this.#profiles.get(agent);
    if (p === undefined) {
      p = describe(agent, protocol);
      this.#profiles.set(agent, p);
    }
    return p;
  }

  #get(key: object, p: Profile, lookup: Lookup | undefined, family: unknown, config: object): Agent {
    let d = this.#derived.get(key);
    if (d) {
      // Most recently used last: eviction takes the first.
      this.#derived.delete(key);
      this.#derived.set(key, d);
      return d;
    }
    const connect: Record<string, unknown> = { ...p.connect };
    if (lookup) connect.lookup = this.#nodeLookup(lookup, config);
    if (family) connect.family = family;
    d = new Agent({
      keepAliveTimeout: KEEP_ALIVE_MS,
      ...(p.connections === undefined ? {} : { connections: p.connections }),
      connect,
    });
    this.#derived.set(key, d);
    if (this.#derived.size > MAX_DERIVED) {
      const [oldKey, old] = this.#derived.entries().next().value as [object, Agent];
      this.#derived.delete(oldKey);
      // Requests already on it finish; it then closes.
      old.close().catch(() => undefined);
    }
    return d;
  }

  #nodeLookup(lookup: Lookup, config: object): LookupFunction {
    let fn = this.#lookups.get(lookup);
    if (!fn) this.#lookups.set(lookup, (fn = nodeLookup(lookup, config)));
    return fn;
  }
}

const BASE_ROUTES = new WeakMap<Dispatcher, Route>();
function BASE(base: Dispatcher): Route {
  let r = BASE_ROUTES.get(base);
  if (!r) BASE_ROUTES.set(base, (r = { dispatcher: base, reset: false }));
  return r;
}

function profile(
  connect: Record<string, unknown> | undefined,
  connections: number | undefined,
  reset: boolean,
): Profile {
  return { connect, connections, reset, plain: {}, byLookup: new WeakMap(), byFamily: new Map() };
}

function describe(agent: object, protocol: string): Profile | typeof FOREIGN {
  const Base = protocol === 'https:' ? https.Agent : http.Agent;
  if (!(agent instanceof Base)) return FOREIGN;
  for (const hook of HOOKS) {
    if (
      (agent as unknown as Record<string, unknown>)[hook] !==
      Base.prototype[hook as keyof typeof Base.prototype]
    )
      return FOREIGN;
  }
  const options = (agent as { options?: Record<string, unknown> }).options ?? {};
  let connect: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || POOL_ONLY.has(name)) continue;
    (connect ??= {})[name] = value;
  }
  const max = (agent as http.Agent).maxSockets;
  const connections = Number.isFinite(max) && max > 0 ? max : undefined;
  return profile(connect, connections, !(agent as { keepAlive?: boolean }).keepAlive);
}

/** A lookup as axios accepts it: Node's callback style, or an async function. */
type Lookup = (...args: unknown[]) => unknown;

interface Address {
  address: string;
  family: number;
}

function entry(value: unknown, family?: unknown, config?: object): Address {
  const v = (
    value !== null && typeof value === 'object' ? value : { address: value, family }
  ) as Partial<Address>;
  if (typeof v.address !== 'string') {
    throw new AxiosError('address must be a string', AxiosError.ERR_BAD_OPTION_VALUE, config as never);
  }
  return { address: v.address, family: v.family || (v.address.includes('.') ? 4 : 6) };
}

/**
 * axios's lookup contract turned into Node's: an async function may resolve to an address, an
 * `[address, family]` pair or an `{ address, family }` entry; either style may answer a single
 * address when Node asks for all of them (`all: true`, the default with happy-eyeballs).
 */
function nodeLookup(lookup: Lookup, config: object): LookupFunction {
  const isAsync = Object.prototype.toString.call(lookup) === '[object AsyncFunction]';
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const done = (err: unknown, first?: unknown, second?: unknown) => {
      if (err) return callback(err);
      let entries: Address[];
      try {
        entries = Array.isArray(first)
          ? first.map((a) => entry(a, undefined, config))
          : [entry(first, second, config)];
      } catch (error) {
        return callback(error);
      }
      if (options.all) callback(null, entries);
      else callback(null, entries[0]!.address, entries[0]!.family);
    };
    if (isAsync) {
      (lookup(hostname, options) as Promise<unknown>).then((value) => {
        const [first, second] = Array.isArray(value) ? value : [value];
        done(null, first, second);
      }, done);
    } else {
      lookup(hostname, options, done);
    }
  }) as LookupFunction;
}

/** Derived dispatchers live as long as the base: closing or destroying it closes them. */
function closeWith(base: Dispatcher, closeDerived: () => Promise<void>): void {
  const target = base as unknown as Record<'close' | 'destroy', (...args: unknown[]) => unknown>;
  for (const method of ['close', 'destroy'] as const) {
    const original = target[method]!.bind(base);
    target[method] = (...args: unknown[]) => {
      const derived = closeDerived();
      const result = original(...args);
      return result instanceof Promise ? Promise.all([derived, result]).then(() => undefined) : result;
    };
  }
}
