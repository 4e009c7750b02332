/**
 * The `discovery: { consul: {...} }` block of the mesh options: its type, with every default, and its
 * schema, which `src/options.ts` plugs into the discovery union so that a bad value fails with
 * `MESH_BAD_OPTIONS` and its path (`options.discovery.consul.port: ...`).
 *
 * It is the JSON-able part of `ConsulOptions` (the sidecar reads the same block from its config
 * file) plus `services`, the services to watch from the start. The limits are Consul's: `wait` is
 * capped at 10 minutes (https://developer.hashicorp.com/consul/api-docs/features/blocking), ports are
 * TCP ports, `ca` is PEM text as Node's TLS expects it.
 */
import { z } from 'zod';

/**
 * Consul as the discovery source: one blocking query on the agent's `/v1/health/state/any` detects
 * change across every watched service, and non-blocking reads of `/v1/health/service/:name` (at most
 * `readConcurrency` at once) fetch what changed; a service is watched from its first request (or
 * from construction for `services`). Address and token default to `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`, as the `consul`
 * CLI reads them. See docs/discovery.md.
 */
export interface ConsulDiscoveryOptions {
  /** Agent host. @defaultValue the host of `CONSUL_HTTP_ADDR`, else `'127.0.0.1'` */
  host?: string;
  /** Agent HTTP(S) port. @defaultValue the port of `CONSUL_HTTP_ADDR`, else `8500` */
  port?: number;
  /** Talk HTTPS to the agent. @defaultValue `true` for an `https://` `CONSUL_HTTP_ADDR` or `CONSUL_HTTP_SSL=true`, else `false` */
  secure?: boolean;
  /** PEM certificate(s) to trust for HTTPS instead of the system roots. @defaultValue the system roots */
  ca?: string | string[];
  /** ACL token, sent as `X-Consul-Token`; never printed in errors or events. @defaultValue `CONSUL_HTTP_TOKEN`, else none */
  token?: string;
  /** Datacenter to query. @defaultValue the agent's own datacenter */
  datacenter?: string;
  /** Only instances carrying every one of these tags. @defaultValue `[]` (no tag filter) */
  tags?: string[];
  /** Sort instances by round-trip time from this node (`'_agent'`: the local agent). @defaultValue unsorted */
  near?: string;
  /** Only instances whose checks all pass; `false` also routes to `warning` ones, at their warning weight. @defaultValue `true` */
  passingOnly?: boolean;
  /** Let any Consul server answer, not only the leader: faster, possibly slightly behind. @defaultValue `false` */
  stale?: boolean;
  /** How long the change feed's blocking query may wait for a change, in ms (Consul's cap: 600000); also how often each watched service is read again regardless. @defaultValue `300000` */
  wait?: number;
  /** Rate limit of wake-ups: after a burst of two, at most one query per this many ms (plus up to 25 % jitter). @defaultValue `250` */
  minWakeupInterval?: number;
  /** First retry delay after a failed query, in ms; doubles per failure, with jitter. @defaultValue `250` */
  backoffBase?: number;
  /** Largest retry delay after failed queries, in ms. @defaultValue `30000` */
  backoffMax?: number;
  /** How long a service's first request waits for Consul's first answer, in ms. @defaultValue `10000` */
  initialTimeout?: number;
  /** Time limit of one non-blocking agent call (registration, heart-beat, deregistration), in ms. @defaultValue `10000` */
  requestTimeout?: number;
  /** Services to watch from construction on; any other service is watched from its first request. @defaultValue `[]` */
  services?: string[];
  /** Most non-blocking service reads in flight at once; the agent sees at most this plus one connection for discovery. @defaultValue `4` */
  readConcurrency?: number;
  /** With `datacenter` set to another datacenter than the agent's: dial instances at their `'wan'` tagged address, or at the `'lan'` one. @defaultValue `'wan'` */
  remoteAddress?: 'wan' | 'lan';
  /** How often `register()`'s registrations are confirmed on the agent (re-registered when it forgot them), in ms. @defaultValue `30000` */
  registrationCheckInterval?: number;
}

const text = z.string().min(1);
/** A host name or IP literal: anything else (a space, a path) would fail later inside the HTTP client, unnamed. */
export const hostName = z
  .string()
  .regex(/^([A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+\]?)$/, 'expected a host name or IP address');
const ms = z.number().positive().finite();
const pem = z.string().includes('-----BEGIN', { message: 'expected PEM certificate text' });

/**
 * The agent connection of the blocks that talk to Consul besides discovery (authorization's
 * intentions, the Connect CA, the control plane); each field defaults to `discovery.consul`'s,
 * else to the `CONSUL_HTTP_*` environment. Each block adds its own `token` (the permission it
 * needs differs).
 */
export const agentConnectionFields = {
  /** Agent host. @defaultValue the host of `discovery.consul`, else of `CONSUL_HTTP_ADDR`, else `'127.0.0.1'` */
  host: hostName.optional(),
  /** Agent HTTP(S) port. @defaultValue the port of `discovery.consul`, else of `CONSUL_HTTP_ADDR`, else `8500` */
  port: z.number().int().min(1).max(65535).optional(),
  /** Talk HTTPS to the agent. @defaultValue as `discovery.consul`, else from `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_SSL` */
  secure: z.boolean().optional(),
  /** PEM certificate(s) to trust for the agent's HTTPS. @defaultValue the system roots */
  ca: z.union([pem, z.array(pem).min(1)]).optional(),
  /** Time limit of one non-blocking agent call (ms). @defaultValue `10000` */
  requestTimeout: ms.optional(),
};

/** Where the agent is; shared by the discovery block and `register()`'s `consul` block. */
const connectionFields = {
  host: hostName.optional().describe('Agent host.'),
  port: z.number().int().min(1).max(65535).optional().describe('Agent HTTP(S) port.'),
  secure: z.boolean().optional().describe('Talk HTTPS to the agent.'),
  ca: z
    .union([pem, z.array(pem).min(1)])
    .optional()
    .describe('PEM certificate(s) to trust.'),
  token: text.optional().describe('ACL token (X-Consul-Token).'),
  requestTimeout: ms.optional().describe('Time limit of one non-blocking agent call (ms).'),
  registrationCheckInterval: ms
    .optional()
    .describe('How often registrations are confirmed on the agent, re-registered if forgotten (ms).'),
};

/** The schema of {@link ConsulDiscoveryOptions}; no defaults here, so the environment can fill gaps. */
export const consulDiscoverySchema: z.ZodType<ConsulDiscoveryOptions, ConsulDiscoveryOptions> =
  z.strictObject({
    ...connectionFields,
    datacenter: text.optional().describe('Datacenter to query.'),
    tags: z.array(text).optional().describe('Only instances carrying every one of these tags.'),
    near: text.optional().describe('Sort by round-trip time from this node.'),
    passingOnly: z.boolean().optional().describe('Only instances whose checks all pass.'),
    stale: z.boolean().optional().describe('Let any server answer.'),
    wait: ms.max(600_000).optional().describe('Blocking query wait (ms).'),
    minWakeupInterval: ms.optional().describe('Rate limit of wake-ups (ms).'),
    backoffBase: ms.optional().describe('First retry delay after an error (ms).'),
    backoffMax: ms.optional().describe('Largest retry delay (ms).'),
    initialTimeout: ms.optional().describe("How long a first request waits for Consul's first answer (ms)."),
    services: z.array(text).optional().describe('Services to watch from construction on.'),
    readConcurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe('Most non-blocking service reads in flight at once.'),
    remoteAddress: z
      .enum(['wan', 'lan'])
      .optional()
      .describe("Address of another datacenter's instances: 'wan' or 'lan' tagged address."),
  });

/** Options of `MeshClient.register()`. */
export interface RegisterOptions {
  /**
   * The agent to register with, when discovery is not Consul or registration must go to another
   * agent. Unset fields come from `CONSUL_HTTP_ADDR` / `CONSUL_HTTP_TOKEN`, as for discovery.
   * @defaultValue the agent (address, TLS, token) of `discovery.consul`
   */
  consul?: ConsulConnectionBlock;
}

/** Where a Consul agent is and how to reach it; every field as in {@link ConsulDiscoveryOptions}. */
export type ConsulConnectionBlock = Pick<
  ConsulDiscoveryOptions,
  'host' | 'port' | 'secure' | 'ca' | 'token' | 'requestTimeout' | 'registrationCheckInterval'
>;

/** The schema of {@link RegisterOptions}. */
export const registerOptionsSchema: z.ZodType<RegisterOptions, RegisterOptions> = z.strictObject({
  consul: z.strictObject(connectionFields).optional(),
});
