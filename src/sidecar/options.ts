/**
 * The sidecar's configuration: the very options object `new MeshClient()` takes, validated by
 * the same schema (so the same error messages), plus where the sidecar listens and how it
 * buffers and drains.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { MeshError } from '../errors/mesh-error.js';
import { type MeshClientOptions, optionsSchema, parseWith, type ResolvedOptions } from '../options/index.js';
import { checkLimits, type IngressLimits, LIMIT_KEYS, limitsShape } from './limits.js';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:15001')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port out of range')
  .refine(validHost, 'not an IP address: expected four numbers 0-255 (IPv4) or [IPv6]');

/** A host that looks like an IP literal must be one (`256.1.1.1` would fail only at listen time). */
function validHost(v: string): boolean {
  const host = v.slice(0, v.lastIndexOf(':'));
  if (host.startsWith('[')) return isIPv6(host.slice(1, -1));
  return /^[\d.]+$/.test(host) ? isIPv4(host) : true;
}

/** The options only the sidecar process has. */
const processFields = {
  /** Proxy listener, `host:port`. */
  listen: hostPort.default('127.0.0.1:15001'),
  /** Admin listener (`/healthz`, `/ready`, `/stats`, `/metrics`), `host:port`. */
  admin: hostPort.default('127.0.0.1:15000'),
  /** Request bodies up to this size (bytes) are buffered so they can be retried; larger ones stream and are not retried. */
  retryBufferBytes: z.number().int().min(0).default(65_536),
  /** On SIGTERM, how long (ms) in-flight requests may take to finish. */
  drainTimeout: z.number().int().min(0).default(10_000),
  ...limitsShape,
};

const processSchema = z.strictObject(processFields);

/** The keys only the sidecar's config file has. */
export const sidecarProcessKeys = Object.keys(processFields) as ReadonlyArray<keyof typeof processFields>;

/** The sidecar's config file: the options of `MeshClient` plus the sidecar's own. */
export const sidecarConfigSchema = optionsSchema.extend(processFields);

/**
 * Options only the sidecar process has, on top of {@link MeshClientOptions}.
 * @interface
 */
export type SidecarProcessOptions = z.input<typeof processSchema>;

/**
 * The sidecar's config file: {@link MeshClientOptions} plus {@link SidecarProcessOptions}.
 * @interface
 */
export type SidecarConfigFile = z.input<typeof sidecarConfigSchema>;

/** A parsed host:port. */
export interface Address {
  host: string;
  port: number;
}

/** The sidecar's validated configuration: its listener's limits, and the rest. */
export interface SidecarConfig extends IngressLimits {
  /** The mesh options, as written (the mesh layers them itself). */
  mesh: MeshClientOptions;
  /** The mesh options, validated, defaults applied. */
  options: ResolvedOptions;
  listen: Address;
  admin: Address;
  retryBufferBytes: number;
  drainTimeout: number;
}

/**
 * Validate a sidecar config object; throws `MESH_BAD_OPTIONS` naming the bad option. `undefined`
 * means all defaults; anything else that is not an object (`null` in a config file) is refused.
 */
export function parseSidecarConfig(raw: unknown): SidecarConfig {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    const got = raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw;
    throw new MeshError('MESH_BAD_OPTIONS', `options: expected an object, received ${got}`);
  }
  const parsed = parseWith(sidecarConfigSchema.superRefine(checkLimits), raw, 'options') as z.output<
    typeof sidecarConfigSchema
  >;
  const isProcessKey = (key: string) => Object.hasOwn(processFields, key);
  const mesh = Object.fromEntries(Object.entries(raw ?? {}).filter(([key]) => !isProcessKey(key)));
  const options = Object.fromEntries(Object.entries(parsed).filter(([key]) => !isProcessKey(key)));
  return {
    mesh: mesh as MeshClientOptions,
    options: options as ResolvedOptions,
    listen: address(parsed.listen),
    admin: address(parsed.admin),
    retryBufferBytes: parsed.retryBufferBytes,
    drainTimeout: parsed.drainTimeout,
    ...(Object.fromEntries(LIMIT_KEYS.map((key) => [key, parsed[key]])) as IngressLimits),
  };
}

function address(hostPort: string): Address {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}
