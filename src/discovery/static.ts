/**
 * Static discovery: the embedded default. Endpoints are given in the options and can be changed
 * at runtime with {@link StaticDiscovery.set}; subscribers see each change at once.
 */
import { z } from 'zod';
import type { EndpointInfo } from '../core/endpoint.js';
import type { Discovery, EndpointsListener, Subscription } from './discovery.js';
import { defineSource } from './source.js';

/** Endpoints of a service: URLs, or full descriptions. */
export type StaticEndpoints = ReadonlyArray<string | EndpointInfo>;

const READY = Promise.resolve();

/** A {@link Discovery} backed by an in-memory map, updatable at runtime. */
export class StaticDiscovery implements Discovery {
  #services = new Map<string, readonly EndpointInfo[]>();
  #listeners = new Map<string, Set<EndpointsListener>>();

  constructor(services: Readonly<Record<string, StaticEndpoints>> = {}) {
    for (const [name, endpoints] of Object.entries(services)) this.#services.set(name, normalize(endpoints));
  }

  /** Replace the endpoints of `service` (an empty list removes them all). */
  set(service: string, endpoints: StaticEndpoints): void {
    const infos = normalize(endpoints);
    this.#services.set(service, infos);
    for (const listener of this.#listeners.get(service) ?? []) listener(infos);
  }

  /** The endpoints of `service` as last set. */
  get(service: string): readonly EndpointInfo[] {
    return this.#services.get(service) ?? [];
  }

  knows(service: string): boolean {
    return this.#services.has(service);
  }

  /** Services that have endpoints set. */
  services(): string[] {
    return [...this.#services.keys()];
  }

  subscribe(service: string, onUpdate: EndpointsListener): Subscription {
    let listeners = this.#listeners.get(service);
    if (!listeners) this.#listeners.set(service, (listeners = new Set()));
    listeners.add(onUpdate);
    onUpdate(this.get(service));
    return {
      ready: READY,
      close: () => {
        listeners.delete(onUpdate);
      },
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}

function normalize(endpoints: StaticEndpoints): readonly EndpointInfo[] {
  return Object.freeze(endpoints.map((e) => (typeof e === 'string' ? { url: e } : { ...e })));
}

const endpointInfoSchema = z.strictObject({
  /** Base URL, e.g. `http://10.0.0.7:8080` (a path prefix is allowed). */
  url: z.url({ protocol: /^https?$/ }),
  /** Stable identity. @defaultValue the URL */
  id: z.string().min(1).optional(),
  /** Relative share of traffic, > 0. @defaultValue `1` */
  weight: z.number().positive().finite().optional(),
  /** Free-form tags. @defaultValue none */
  tags: z.array(z.string()).readonly().optional(),
  /** Free-form metadata (e.g. `version`, `zone`). @defaultValue none */
  meta: z.record(z.string(), z.string()).readonly().optional(),
});

/** `discovery: { static: { users: ['http://10.0.0.7:8080', { url, weight, meta }] } }`: endpoints listed in the options. */
export const staticSource = defineSource({
  schema: z.record(
    z.string().min(1),
    z.array(z.union([z.url({ protocol: /^https?$/ }), endpointInfoSchema])).readonly(),
  ),
  create: (services) => ({ discovery: new StaticDiscovery(services) }),
});
