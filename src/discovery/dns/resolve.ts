/**
 * One resolution of one service's DNS name into endpoints (internal), over a node:dns `Resolver`.
 *
 * - `A` / `AAAA`: every address at the configured port, with the answer's TTL.
 * - `SRV` (RFC 2782): the records of the lowest priority whose targets resolve to an address are
 *   used, each at its own port and with its weight as the endpoint weight. When every record of
 *   that priority weighs 0 they share equally; when some weigh more, a weight-0 record gets a very
 *   small share (1/100 of the lightest weighted peer), as the RFC asks. A target of `.` means "no
 *   service here". Targets are resolved (A, then AAAA when the target has no A record) with at
 *   most {@link TARGET_CONCURRENCY} queries at once.
 *
 * Answers are sorted before `maxRecords` cuts them, so the same records are kept on every refresh.
 * node:dns does not report an SRV record's own TTL, so an SRV name's TTL is that of its targets'
 * address records.
 *
 * Result codes follow c-ares: `ENOTFOUND` is NXDOMAIN, `ENODATA` is a name without records of the
 * asked type; anything else (timeouts, refused, SERVFAIL, a cancelled query) is a failure, thrown.
 */
import type { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EndpointInfo } from '../../core/endpoint.js';
import type { DnsRecordType } from './options.js';

/** What is resolved for one service. */
export interface DnsTarget {
  /** The fully qualified name asked for. */
  readonly name: string;
  /** The record type asked for. */
  readonly type: DnsRecordType;
  /** Port of A/AAAA addresses; unused for SRV. */
  readonly port: number;
  /** Scheme of the endpoint URLs. */
  readonly scheme: 'http' | 'https';
}

/** The outcome of a resolution that got an answer. */
export type DnsAnswer =
  | {
      readonly kind: 'records';
      /** Possibly empty: the name exists without usable records (NODATA, a `.` target...). */
      readonly endpoints: readonly EndpointInfo[];
      /** Smallest TTL seen, in seconds; undefined when no record carried one. */
      readonly ttl: number | undefined;
      /** Records left out by `maxRecords`. */
      readonly dropped: number;
      /** SRV targets that resolved to no address, sorted. */
      readonly unresolved: readonly string[];
    }
  | { readonly kind: 'nxdomain' };

/** SRV targets resolved at once, at most: a big SRV answer must not burst the resolver. */
export const TARGET_CONCURRENCY = 8;

/** Share of the lightest weighted record given to a weight-0 record beside weighted ones. */
const ZERO_WEIGHT_SHARE = 0.01;

interface Address {
  address: string;
  ttl: number | undefined;
}

/** Resolve `target` once; throws the resolver's error on a failure. */
export async function resolveOnce(
  resolver: Resolver,
  target: DnsTarget,
  maxRecords: number,
): Promise<DnsAnswer> {
  try {
    if (target.type === 'SRV') return await resolveSrv(resolver, target, maxRecords);
    const records = await addresses(resolver, target.name, target.type);
    const sorted = uniqueSorted(records);
    const kept = sorted.slice(0, maxRecords);
    return {
      kind: 'records',
      endpoints: Object.freeze(
        kept.map((r) => Object.freeze({ url: url(target.scheme, r.address, target.port) })),
      ),
      ttl: minTtl(kept),
      dropped: sorted.length - kept.length,
      unresolved: [],
    };
  } catch (error) {
    if (code(error) === 'ENOTFOUND') return { kind: 'nxdomain' };
    if (code(error) === 'ENODATA')
      return { kind: 'records', endpoints: [], ttl: undefined, dropped: 0, unresolved: [] };
    throw error;
  }
}

async function resolveSrv(resolver: Resolver, target: DnsTarget, maxRecords: number): Promise<DnsAnswer> {
  const all = (await resolver.resolveSrv(target.name))
    // RFC 2782: a target of "." means the service is decidedly not available at this name.
    .filter((r) => r.name !== '' && r.name !== '.')
    .sort(
      (a, b) => a.priority - b.priority || b.weight - a.weight || compare(a.name, b.name) || a.port - b.port,
    );
  const records = all.slice(0, maxRecords);
  const priorities = [...new Set(records.map((r) => r.priority))];
  const unresolved = new Set<string>();
  let ttl: number | undefined;
  for (const priority of priorities) {
    const group = records.filter((r) => r.priority === priority);
    const resolved = await resolveTargets(resolver, [...new Set(group.map((r) => r.name))]);
    const byUrl = new Map<string, number>();
    const positive = group.filter((r) => r.weight > 0).map((r) => r.weight);
    const zeroWeight = positive.length === 0 ? 1 : Math.min(...positive) * ZERO_WEIGHT_SHARE;
    for (const record of group) {
      const hosts = resolved.get(record.name);
      if (!hosts || hosts.length === 0) {
        unresolved.add(record.name);
        continue;
      }
      ttl = minTtl(hosts, ttl);
      const weight = record.weight > 0 ? record.weight : zeroWeight;
      for (const host of hosts) {
        const key = url(target.scheme, host.address, record.port);
        // Two records for the same address and port are one endpoint carrying both shares.
        byUrl.set(key, (byUrl.get(key) ?? 0) + weight);
      }
    }
    if (byUrl.size > 0) {
      const endpoints = [...byUrl]
        .sort(([a], [b]) => compare(a, b))
        .slice(0, maxRecords)
        .map(([u, weight]) => Object.freeze({ url: u, weight }));
      return {
        kind: 'records',
        endpoints: Object.freeze(endpoints),
        ttl,
        dropped: all.length - records.length + Math.max(0, byUrl.size - maxRecords),
        unresolved: [...unresolved].sort(compare),
      };
    }
  }
  return {
    kind: 'records',
    endpoints: [],
    ttl,
    dropped: all.length - records.length,
    unresolved: [...unresolved].sort(compare),
  };
}

/** Addresses of each SRV target; a target without any maps to `[]`. Failures throw. */
async function resolveTargets(resolver: Resolver, names: readonly string[]): Promise<Map<string, Address[]>> {
  const out = new Map<string, Address[]>();
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      out.set(name, await targetAddresses(resolver, name));
    }
  };
  await Promise.all(Array.from({ length: Math.min(TARGET_CONCURRENCY, names.length) }, worker));
  return out;
}

async function targetAddresses(resolver: Resolver, name: string): Promise<Address[]> {
  // Not standard, but seen in hand-written zones: an address where a host name belongs.
  if (isIP(name) !== 0) return [{ address: name, ttl: undefined }];
  for (const type of ['A', 'AAAA'] as const) {
    try {
      return uniqueSorted(await addresses(resolver, name, type));
    } catch (error) {
      if (code(error) === 'ENOTFOUND') return [];
      if (code(error) !== 'ENODATA') throw error;
    }
  }
  return [];
}

async function addresses(resolver: Resolver, name: string, type: 'A' | 'AAAA'): Promise<Address[]> {
  const records =
    type === 'A'
      ? await resolver.resolve4(name, { ttl: true })
      : await resolver.resolve6(name, { ttl: true });
  return records.map((r) => ({ address: r.address, ttl: r.ttl }));
}

function uniqueSorted(records: readonly Address[]): Address[] {
  const byAddress = new Map<string, Address>();
  for (const r of records) {
    const seen = byAddress.get(r.address);
    byAddress.set(r.address, seen ? { address: r.address, ttl: minTtl([seen, r]) } : r);
  }
  return [...byAddress.values()].sort((a, b) => compare(a.address, b.address));
}

function minTtl(records: readonly Address[], start?: number): number | undefined {
  let ttl = start;
  for (const r of records) if (r.ttl !== undefined && (ttl === undefined || r.ttl < ttl)) ttl = r.ttl;
  return ttl;
}

function url(scheme: string, address: string, port: number): string {
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function code(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
