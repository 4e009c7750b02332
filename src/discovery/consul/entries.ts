/**
 * What Consul's health endpoints answer, read defensively (the `consul` package leaves every answer
 * untyped, so nothing is trusted): `/v1/health/service/:name` entries become endpoints, and the
 * checks of `/v1/health/state/any` become per-service fingerprints that tell the change feed which
 * services to read again. Entry shapes follow
 * https://developer.hashicorp.com/consul/api-docs/health; the contract tests check this parsing
 * against the example answers of those docs.
 */
import type { EndpointInfo } from '../../core/endpoint.js';

/** A check as the health endpoints report it; only what we read is typed. */
export interface HealthCheck {
  Node?: unknown;
  CheckID?: unknown;
  Status?: unknown;
  ServiceID?: unknown;
  ServiceName?: unknown;
}

/** A `TaggedAddresses` value of a service: `{ address, port }` (Consul writes it in lower case). */
interface ServiceAddress {
  address?: unknown;
  Address?: unknown;
  port?: unknown;
  Port?: unknown;
}

/** One `/v1/health/service` entry. */
export interface HealthEntry {
  Node?: { Node?: unknown; Address?: unknown; TaggedAddresses?: Record<string, unknown> };
  Service?: {
    ID?: unknown;
    Address?: unknown;
    Port?: unknown;
    Tags?: unknown;
    Meta?: unknown;
    Weights?: { Passing?: unknown; Warning?: unknown };
    TaggedAddresses?: Record<string, ServiceAddress | undefined>;
    /** `{ Native: true }` for a Connect-native instance: its port speaks Connect's mutual TLS. */
    Connect?: { Native?: unknown };
  };
  Checks?: HealthCheck[];
}

/** How entries become endpoints. */
export interface EntryRules {
  /** Only instances carrying every one of these tags. */
  readonly tags: readonly string[];
  /** Leave out instances with a `warning` check too, not only `critical` ones. */
  readonly passingOnly: boolean;
  /**
   * Which address to dial: `'lan'` is `Service.Address` (else the node's); `'wan'` is the WAN
   * tagged address, the one reachable from another datacenter.
   */
  readonly address: 'lan' | 'wan';
}

/** The endpoints of one answer, and the nodes they live on (node checks concern them too). */
export interface ParsedEntries {
  readonly endpoints: readonly EndpointInfo[];
  readonly nodes: ReadonlySet<string>;
}

/** Map health entries to endpoints, applying the status rules again on our side. */
export function toEndpoints(entries: readonly HealthEntry[], rules: EntryRules): ParsedEntries {
  const out: EndpointInfo[] = [];
  const nodes = new Set<string>();
  for (const entry of entries) {
    const service = entry?.Service;
    const port = service?.Port;
    if (!service || !isPort(port)) continue;
    const node = nonEmpty(entry.Node?.Node);
    if (node) nodes.add(node);
    const statuses = (Array.isArray(entry.Checks) ? entry.Checks : []).map((c) => c?.Status);
    // `passing=true` already filters on the server; repeating it costs nothing and covers odd agents.
    if (statuses.includes('critical') || (rules.passingOnly && statuses.some((x) => x !== 'passing'))) {
      continue;
    }
    const tags = Array.isArray(service.Tags)
      ? service.Tags.filter((t): t is string => typeof t === 'string')
      : [];
    // Agents before 1.9 honour only the first `tag` parameter.
    if (!rules.tags.every((t) => tags.includes(t))) continue;
    const meta = stringRecord(service.Meta);
    // A Connect-native instance is in the mesh: the same mark as endpoint meta `tls-mode: mtls`.
    if (service.Connect?.Native === true && meta['tls-mode'] === undefined) meta['tls-mode'] = 'mtls';
    const weights = service.Weights ?? {};
    const weight = statuses.includes('warning') ? weights.Warning : weights.Passing;
    const resolved = typeof weight === 'number' ? weight : 1;
    // Consul allows a warning weight of 0, meaning "send nothing"; EndpointInfo requires > 0.
    if (!(resolved > 0)) continue;
    const target = rules.address === 'wan' ? wanTarget(entry, port) : lanTarget(entry, port);
    if (!target) continue;
    const scheme = meta.scheme === 'https' ? 'https' : 'http';
    const { host } = target;
    const id = nonEmpty(service.ID) ?? `${host}:${target.port}`;
    out.push(
      Object.freeze({
        url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${target.port}`,
        // Service IDs are unique per agent only: the node name makes them unique cluster-wide.
        id: node ? `${node}/${id}` : id,
        weight: resolved,
        tags: Object.freeze(tags),
        meta: Object.freeze(meta),
      }),
    );
  }
  return { endpoints: Object.freeze(out), nodes };
}

/** `Service.Address`, or the node's address when the service has none (Consul's own rule). */
function lanTarget(entry: HealthEntry, port: number): { host: string; port: number } | undefined {
  const host = nonEmpty(entry.Service?.Address) ?? nonEmpty(entry.Node?.Address);
  return host ? { host, port } : undefined;
}

/**
 * The address another datacenter can reach, as Consul translates it when `translate_wan_addrs` is
 * on (Consul's `agent/translate_addr.go`): the service's `wan` tagged address (with its own port),
 * else its `wan_ipv4` / `wan_ipv6`; for a service without an address of its own, the node's `wan`
 * tagged address; and only then the LAN address, which is all Consul has.
 */
function wanTarget(entry: HealthEntry, port: number): { host: string; port: number } | undefined {
  const tagged = entry.Service?.TaggedAddresses ?? {};
  for (const kind of ['wan', 'wan_ipv4', 'wan_ipv6']) {
    const value = tagged[kind];
    const host = nonEmpty(value?.address) ?? nonEmpty(value?.Address);
    if (!host) continue;
    const own = value?.port ?? value?.Port;
    return { host, port: isPort(own) ? own : port };
  }
  if (nonEmpty(entry.Service?.Address) === undefined) {
    const nodeTagged = entry.Node?.TaggedAddresses ?? {};
    const host = nonEmpty(nodeTagged.wan) ?? nonEmpty(nodeTagged.wan_ipv4) ?? nonEmpty(nodeTagged.wan_ipv6);
    if (host) return { host, port };
  }
  return lanTarget(entry, port);
}

/** A canonical form of a set: order-insensitive, since `near` may reorder equal sets. */
export function endpointsKey(endpoints: readonly EndpointInfo[]): string {
  const parts = endpoints.map((e) =>
    JSON.stringify([e.id, e.url, e.weight, e.tags, Object.entries(e.meta ?? {}).sort()]),
  );
  return parts.sort().join('\n');
}

/**
 * Per-service and per-node fingerprints of a `/v1/health/state/any` answer: what decides whether a
 * service's endpoints may have changed (an instance came or went with its check, a status moved).
 * Check output is left out, as it changes without changing routing. Hashed, so that a cluster's
 * worth of services costs a few bytes each.
 */
export function checkFingerprints(checks: readonly HealthCheck[]): {
  services: Map<string, string>;
  nodes: Map<string, string>;
} {
  const services = new Map<string, string[]>();
  const nodes = new Map<string, string[]>();
  for (const check of checks) {
    const node = typeof check?.Node === 'string' ? check.Node : '';
    const name = typeof check?.ServiceName === 'string' ? check.ServiceName : '';
    const part = [node, check?.ServiceID, check?.CheckID, check?.Status].map(String).join('\u0000');
    const [map, key] = name === '' ? [nodes, node] : [services, name];
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    list.push(part);
  }
  const digest = (m: Map<string, string[]>) =>
    new Map([...m].map(([k, parts]) => [k, fnv1a(parts.sort().join('\n'))] as const));
  return { services: digest(services), nodes: digest(nodes) };
}

/** Two 32-bit FNV-1a hashes with different offsets, as hex: short and stable, not a security boundary. */
function fnv1a(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 65535;
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
