/**
 * The `discovery: { dns: {...} }` block of the mesh options: its type, with every default, and its
 * schema, which the options module plugs into the discovery union so that a bad value fails with
 * `MESH_BAD_OPTIONS` and its path (`options.discovery.dns.servers[0]: ...`).
 *
 * It is the JSON-able part of `DnsOptions` (the sidecar reads the same block from its config file).
 * The schema sets no defaults: {@link DNS_DEFAULTS} holds them, so a parsed block still tells which
 * fields the user set (a `port` given for an SRV name is refused, not ignored).
 */
import { z } from 'zod';
import { DEFAULT_TEMPLATE, expand, nameProblem, serverProblem, templateProblem } from './name.js';

/** Which records name a service's instances. */
export type DnsRecordType = 'A' | 'AAAA' | 'SRV';

/** How one service maps to DNS, when it differs from the block's defaults. */
export interface DnsServiceOptions {
  /** The DNS name, or a template with `{service}` and `{namespace}`. @defaultValue the block's `name` */
  name?: string;
  /** Record type to resolve. @defaultValue the block's `type` */
  type?: DnsRecordType;
  /** Port of every address for `A`/`AAAA` (SRV records carry their own). @defaultValue the block's `port` */
  port?: number;
  /** Scheme of the endpoint URLs. @defaultValue the block's `scheme` */
  scheme?: 'http' | 'https';
}

/**
 * DNS as the discovery source: a Kubernetes headless Service (one A/AAAA record per ready pod), its
 * named-port SRV records, Consul DNS, or any zone. Each watched service's name is re-resolved on the
 * records' TTL, bounded by `minRefresh` and `maxRefresh`; the last good set survives resolver
 * failures, and an empty answer for a name that had endpoints is believed only after
 * `emptyGracePeriod`. See docs/kubernetes.md.
 */
export interface DnsDiscoveryOptions {
  /**
   * Resolvers to ask, as `ip`, `ip:port` or `[ipv6]:port`, tried in order.
   * @defaultValue the system's resolvers (`/etc/resolv.conf`, as Node read it at start)
   */
  servers?: string[];
  /**
   * Service name to DNS name: a fully qualified name with `{service}` and `{namespace}` placeholders.
   * No search domains are applied.
   * @defaultValue `'{service}.{namespace}.svc.cluster.local'`
   */
  name?: string;
  /** Value of `{namespace}`. @defaultValue `'default'` */
  namespace?: string;
  /**
   * Record type: `A` (IPv4), `AAAA` (IPv6), or `SRV` (port, priority and weight per instance).
   * @defaultValue `'A'`
   */
  type?: DnsRecordType;
  /**
   * Port of every address for `A`/`AAAA` names; refused for SRV, whose records carry it.
   * @defaultValue `80`, or `443` with `scheme: 'https'`
   */
  port?: number;
  /** Scheme of the endpoint URLs. @defaultValue `'http'` */
  scheme?: 'http' | 'https';
  /**
   * Shortest time between two resolutions of a name, in ms, whatever the TTL (a TTL of 0 included).
   * @defaultValue `1000`
   */
  minRefresh?: number;
  /**
   * Longest time between two resolutions of a name, in ms, whatever the TTL; also the cap of the
   * backoff after failures and empty answers (which starts at `minRefresh` and doubles).
   * @defaultValue `30000`
   */
  maxRefresh?: number;
  /**
   * Each refresh comes up to this share of its interval early, at random (never before `minRefresh`),
   * so clients drift apart.
   * @defaultValue `0.1`
   */
  jitter?: number;
  /**
   * How long an empty answer (no records, NXDOMAIN) for a name that had endpoints keeps the old set, in ms.
   * @defaultValue `10000`
   */
  emptyGracePeriod?: number;
  /**
   * Most records used from one answer; the rest are dropped (sorted, so the choice is stable) and reported.
   * @defaultValue `256`
   */
  maxRecords?: number;
  /**
   * Time a resolver has to answer one try of a query, in ms (at most 5000, c-ares's own cap); retries wait
   * longer.
   * @defaultValue `1000`
   */
  timeout?: number;
  /** Tries per resolver before a query fails. @defaultValue `2` */
  tries?: number;
  /**
   * Services with their own mapping. The sidecar forwards only to services its discovery knows: list
   * them here (`{}` keeps the defaults).
   * @defaultValue `{}` (every service follows the defaults above)
   */
  services?: Record<string, DnsServiceOptions>;
}

/** The defaults of {@link DnsDiscoveryOptions} (`port` depends on the scheme and is left out). */
export const DNS_DEFAULTS = {
  name: DEFAULT_TEMPLATE,
  namespace: 'default',
  type: 'A',
  scheme: 'http',
  minRefresh: 1000,
  maxRefresh: 30_000,
  jitter: 0.1,
  emptyGracePeriod: 10_000,
  maxRecords: 256,
  timeout: 1000,
  tries: 2,
} as const satisfies Omit<Required<DnsDiscoveryOptions>, 'servers' | 'port' | 'services'>;

/** c-ares (node:dns) caps the wait for one try at its default of 5 s, whatever is asked. */
const MAX_TRY_TIMEOUT = 5_000;

const template = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const problem = templateProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const recordType = z.enum(['A', 'AAAA', 'SRV']);
const port = z.number().int().min(1).max(65_535);
const scheme = z.enum(['http', 'https']);
const ms = z.number().positive().finite();

const serviceSchema = z.strictObject({
  name: template.optional().describe('DNS name or template of this service.'),
  type: recordType.optional().describe('Record type of this service.'),
  port: port.optional().describe('Port of every A/AAAA address of this service.'),
  scheme: scheme.optional().describe('Scheme of this service.'),
});

const fields = z.strictObject({
  servers: z
    .array(
      z.string().superRefine((value, ctx) => {
        const problem = serverProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .min(1)
    .optional()
    .describe('Resolvers to ask (ip, ip:port, [ipv6]:port).'),
  name: template.optional().describe('Service name to DNS name: a template with {service} and {namespace}.'),
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'expected one DNS label')
    .optional()
    .describe('Value of {namespace}.'),
  type: recordType.optional().describe('Record type: A, AAAA or SRV.'),
  port: port.optional().describe('Port of every A/AAAA address.'),
  scheme: scheme.optional().describe('Scheme of the endpoint URLs.'),
  minRefresh: ms.optional().describe('Shortest time between two resolutions of a name (ms).'),
  maxRefresh: ms.optional().describe('Longest time between two resolutions of a name (ms).'),
  jitter: z.number().min(0).max(1).optional().describe('Share of an interval a refresh may come early.'),
  emptyGracePeriod: z
    .number()
    .min(0)
    .finite()
    .optional()
    .describe('How long an empty answer keeps the old set (ms).'),
  maxRecords: z.number().int().min(1).max(65_535).optional().describe('Most records used from one answer.'),
  timeout: z
    .number()
    .int()
    .min(1)
    .max(MAX_TRY_TIMEOUT, `c-ares waits at most ${MAX_TRY_TIMEOUT} ms for one try`)
    .optional()
    .describe('Time for one try of a query (ms).'),
  tries: z.number().int().min(1).max(10).optional().describe('Tries per resolver before a query fails.'),
  services: z
    .record(z.string().min(1), serviceSchema)
    .optional()
    .describe('Services with their own mapping.'),
});

/** The schema of {@link DnsDiscoveryOptions}: field checks, then the checks across fields. */
export const dnsDiscoverySchema: z.ZodType<DnsDiscoveryOptions, DnsDiscoveryOptions> = fields.superRefine(
  (o, ctx) => {
    const min = o.minRefresh ?? DNS_DEFAULTS.minRefresh;
    const max = o.maxRefresh ?? DNS_DEFAULTS.maxRefresh;
    if (max < min) {
      const [path, message] =
        o.maxRefresh === undefined
          ? ['minRefresh', `must be at most maxRefresh (default ${max})`]
          : ['maxRefresh', `must be at least minRefresh (${min})`];
      ctx.addIssue({ code: 'custom', path: [path], message });
    }
    const srvPort = 'SRV records carry the port; port applies to A and AAAA names only';
    if (o.type === 'SRV' && o.port !== undefined)
      ctx.addIssue({ code: 'custom', path: ['port'], message: srvPort });
    for (const [service, own] of Object.entries(o.services ?? {})) {
      if ((own.type ?? o.type) === 'SRV' && own.port !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['services', service, 'port'], message: srvPort });
      }
      const name = expand(
        own.name ?? o.name ?? DNS_DEFAULTS.name,
        service,
        o.namespace ?? DNS_DEFAULTS.namespace,
      );
      const problem = nameProblem(name);
      if (problem) {
        const path = own.name === undefined ? ['services', service] : ['services', service, 'name'];
        ctx.addIssue({ code: 'custom', path, message: `DNS name "${name.slice(0, 80)}": ${problem}` });
      }
    }
  },
);
