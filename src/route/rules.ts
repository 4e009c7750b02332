/**
 * Request routing within a service, after Istio's `VirtualService` HTTP routes and Envoy's route
 * matching with weighted clusters and the subset load balancer:
 *
 * - rules are tried in order; the first whose match holds (method, path prefix, headers) decides
 *   the destination: one subset (`{ version: 'v2' }`), or a weighted split between subsets
 *   (canary: `[{ subset: { version: 'v1' }, weight: 95 }, { subset: { version: 'v2' }, weight: 5 }]`);
 * - a split is stable per request key when there is one: the value of the rule's `hashHeader`
 *   (e.g. `x-user-id`), else the call's `hashKey`; without a key each request draws at random;
 * - requests no rule matches, and rules without a destination, take the default route (the
 *   `default` destination, or the whole service);
 * - a destination with no endpoint in rotation (none selected, or all ejected) falls back to the
 *   default route, then to the whole service, with a `route-fallback` event: never a silent
 *   black hole (Envoy's subset `fallback_policy: DEFAULT_SUBSET`);
 * - zone-aware preference ({@link ZonePreference}) then narrows the destination to the local
 *   zone while it is healthy;
 * - a rule may inject faults ({@link FaultInjector}) into the requests it matches.
 *
 * The route filter sets `call.subset`, the view the balance filter picks from; attempts of one
 * request share it. Matching reads request headers through the `header` accessor the position
 * provides (see `route/position.ts`), so one filter serves axios configs and proxied requests.
 */
import { hashString } from '../balance/ring-hash.js';
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { EndpointPool } from '../core/pool.js';
import type { EndpointView, Picker } from '../core/view.js';
import { MeshError } from '../errors/mesh-error.js';
import { type FaultEvents, FaultInjector, type Synthesize } from '../fault/fault.js';
import type { RouteDestinationPolicy, RoutingPolicy } from './options.js';
import { type Subset, SubsetCache } from './subsets.js';
import { ZonePreference } from './zone.js';

/** A routed request fell back because its destination had no endpoint in rotation. */
export interface RouteFallbackEvent {
  service: string;
  /** The rule whose destination was empty (`default` for the default route). */
  rule: string;
  /** The empty subset (`version=v2`). */
  subset: string;
  /** `empty`: no endpoint selected; `unavailable`: none of them in rotation. */
  reason: 'empty' | 'unavailable';
  /** Where the request went instead (`*` for the whole service). */
  fallback: string;
}

/** The events routing emits. */
export interface RouteEvents extends FaultEvents {
  'route-fallback': RouteFallbackEvent;
}

/** What the router needs besides its options. */
export interface RouterContext<Req = unknown> {
  service: string;
  pool: EndpointPool;
  /** A request header's value (`name` is lower-case), from the position's request. */
  header: (call: Call<Req>, name: string) => string | undefined;
  random: () => number;
  /** Makes each subset's own balancer; without it subsets share the service's. @defaultValue none */
  balancer?: (() => Picker) | undefined;
  events: EventSink<RouteEvents>;
  /** For rule faults: the clock delays wait on. @defaultValue required when a rule has a fault */
  clock?: Clock | undefined;
  /** For rule faults: the reply of an aborted request. @defaultValue `defaultFaultReply` */
  synthesize?: Synthesize<Req> | undefined;
}

interface Arm {
  subset: Subset;
  /** Cumulative share, in (0, 1]. */
  upTo: number;
}

interface Destination {
  arms: Arm[];
  hashHeader: string | undefined;
}

/** A rule as the router runs it. */
export interface CompiledRule {
  /** Its name in events. */
  name: string;
  methods: ReadonlySet<string> | undefined;
  pathPrefix: string;
  headers: Array<[string, string | true]>;
  /** `undefined`: the default route. */
  destination: Destination | undefined;
  fault: FaultInjector<unknown> | undefined;
}

/** What the router decided for one request. */
export interface RouteDecision {
  /** The view to pick from; `undefined` for the whole pool (the balancer's own). */
  view: EndpointView | undefined;
  /** The rule that took the request, if any. */
  rule: CompiledRule | undefined;
}

/** The routing of one service: rules compiled against its pool's subsets. */
export class Router<Req = unknown> {
  readonly #subsets: SubsetCache;
  readonly #everything: Subset;
  #rules: CompiledRule[] = [];
  #default!: Destination;
  #zone: ZonePreference | undefined;

  constructor(
    options: RoutingPolicy,
    private readonly ctx: RouterContext<Req>,
  ) {
    this.#subsets = new SubsetCache(ctx.pool, ctx.balancer);
    this.#everything = this.#subsets.of({});
    this.configure(options);
  }

  /** Apply new routing to later requests; subsets of the pool are kept and shared. */
  configure(options: RoutingPolicy): void {
    const ctx = this.ctx;
    this.#default = options.default ? this.#destination(options.default) : this.#whole();
    this.#zone = options.zone ? new ZonePreference(options.zone, this.#subsets, ctx.random) : undefined;
    this.#rules = options.rules.map((rule, i) => {
      const hasDestination = rule.subset !== undefined || rule.split !== undefined;
      if (rule.fault && !ctx.clock) {
        throw new MeshError('MESH_BAD_OPTIONS', `route ${rule.name ?? `rules[${i}]`}: a fault needs a clock`);
      }
      return {
        name: rule.name ?? `rules[${i}]`,
        methods: rule.match?.methods ? new Set(rule.match.methods.map((m) => m.toUpperCase())) : undefined,
        pathPrefix: rule.match?.pathPrefix ?? '',
        headers: Object.entries(rule.match?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        destination: hasDestination ? this.#destination(rule) : undefined,
        fault: rule.fault
          ? new FaultInjector<unknown>(rule.fault, {
              clock: ctx.clock!,
              random: ctx.random,
              synthesize: ctx.synthesize as Synthesize<unknown> | undefined,
              events: ctx.events as EventSink<FaultEvents>,
            })
          : undefined,
      };
    });
  }

  /** Where `call` goes. */
  route(call: Call<Req>): RouteDecision {
    const rule = this.#match(call);
    const destination = rule?.destination ?? this.#default;
    let base = this.#choose(destination, call);
    if (base.ready.length === 0 && base !== this.#everything) {
      let to = this.#everything;
      if (destination !== this.#default) {
        const fallback = this.#choose(this.#default, call);
        if (fallback.ready.length > 0) to = fallback;
      }
      this.ctx.events.emit('route-fallback', {
        service: this.ctx.service,
        rule: rule?.destination ? rule.name : 'default',
        subset: base.label,
        reason: base.all.length === 0 ? 'empty' : 'unavailable',
        fallback: to.label,
      });
      base = to;
    }
    const view = this.#zone ? this.#zone.choose(base) : base;
    // The whole pool needs no view: the service's balancer picks from the pool itself.
    return { view: view === this.#everything ? undefined : view, rule };
  }

  /** Stop every subset following the pool. */
  close(): void {
    this.#subsets.close();
  }

  #match(call: Call<Req>): CompiledRule | undefined {
    for (const rule of this.#rules) {
      if (rule.methods && !rule.methods.has(call.method)) continue;
      if (rule.pathPrefix && !call.path.startsWith(rule.pathPrefix)) continue;
      let ok = true;
      for (const [name, want] of rule.headers) {
        const value = this.ctx.header(call, name);
        if (value === undefined || (want !== true && value !== want)) {
          ok = false;
          break;
        }
      }
      if (ok) return rule;
    }
    return undefined;
  }

  #choose(destination: Destination, call: Call<Req>): Subset {
    const arms = destination.arms;
    if (arms.length === 1) return arms[0]!.subset;
    const key =
      (destination.hashHeader === undefined ? undefined : this.ctx.header(call, destination.hashHeader)) ??
      call.hashKey;
    // Salted, so the split's choice is independent of where ring-hash puts the same key.
    const u = key === undefined ? this.ctx.random() : hashString(`route\u0000${key}`) / 4294967296;
    for (const arm of arms) if (u < arm.upTo) return arm.subset;
    return arms[arms.length - 1]!.subset;
  }

  #destination(d: RouteDestinationPolicy): Destination {
    const hashHeader = d.hashHeader?.toLowerCase();
    if (d.subset) return { arms: [{ subset: this.#subsets.of(d.subset), upTo: 1 }], hashHeader };
    if (!d.split) return this.#whole();
    const total = d.split.reduce((sum, arm) => sum + arm.weight, 0);
    if (!(total > 0)) throw new MeshError('MESH_BAD_OPTIONS', 'route: a split needs a positive weight');
    let sum = 0;
    const arms: Arm[] = [];
    for (const arm of d.split) {
      if (arm.weight <= 0) continue;
      sum += arm.weight;
      arms.push({ subset: this.#subsets.of(arm.subset), upTo: sum / total });
    }
    return { arms, hashHeader };
  }

  #whole(): Destination {
    return { arms: [{ subset: this.#everything, upTo: 1 }], hashHeader: undefined };
  }
}

/**
 * The route filter: sets the call's `subset` from `router` (and injects the matched rule's
 * faults). Place it above the retry filter, so every attempt of a request uses one route.
 */
export function route<Req>(router: Router<Req>): Filter {
  return <R, Rep extends Reply>(next: Handler<R, Rep>): Handler<R, Rep> =>
    (call: Call<R>) => {
      const { view, rule } = router.route(call as unknown as Call<Req>);
      call.subset = view;
      return rule?.fault ? rule.fault.run(call, next, rule.name) : next(call);
    };
}
