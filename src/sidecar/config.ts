/**
 * The sidecar's configuration: the very options object `new MeshClient()` takes, validated by
 * the same schema (so the same error messages), plus where the sidecar listens and how it
 * buffers and drains.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { MeshError } from '../errors.js';
import { optionsSchema, parseWith, type ResolvedOptions } from '../options.js';
import {
  checkLimits,
  type IngressLimitOptions,
  type IngressLimits,
  LIMIT_KEYS,
  limitsShape,
} from './limits.js';

/** Options only the sidecar process has, on top of {@link MeshClientOptions}; the listener's limits are in {@link IngressLimitOptions}. */
export interface SidecarProcessOptions extends IngressLimitOptions {
  /** Proxy listener, `host:port`. @defaultValue `'127.0.0.1:15001'` */
  listen?: string;
  /** Admin listener (`/healthz`, `/ready`, `/stats`), `host:port`. @defaultValue `'127.0.0.1:15000'` */
  admin?: string;
  /** Request bodies up to this size (bytes) are buffered so they can be retried; larger ones stream and are not retried. @defaultValue `65536` */
  retryBufferBytes?: number;
  /** On SIGTERM, how long (ms) in-flight requests may take to finish. @defaultValue `10000` */
  drainTimeout?: number;
}

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

const sidecarSchema = optionsSchema.extend({
  listen: hostPort.default('127.0.0.1:15001').describe('Proxy listener, host:port.'),
  admin: hostPort.default('127.0.0.1:15000').describe('Admin listener, host:port.'),
  retryBufferBytes: z
    .number()
    .int()
    .min(0)
    .default(65_536)
    .describe('Largest request body buffered for retries.'),
  drainTimeout: z.number().int().min(0).default(10_000).describe('Time (ms) allowed to drain on SIGTERM.'),
  ...limitsShape,
});

/** A parsed host:port. */
export interface Address {
  host: string;
  port: number;
}

/** The sidecar's validated configuration. */
export interface SidecarConfig extends IngressLimits {
  mesh: ResolvedOptions;
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
  const parsed = parseWith(sidecarSchema.superRefine(checkLimits), raw, 'options') as Record<
    string,
    unknown
  > &
    IngressLimits & {
      listen: string;
      admin: string;
      retryBufferBytes: number;
      drainTimeout: number;
    };
  const { listen, admin, retryBufferBytes, drainTimeout, ...rest } = parsed;
  const limits = {} as IngressLimits;
  const mesh: Record<string, unknown> = { ...rest };
  for (const key of LIMIT_KEYS) {
    limits[key] = parsed[key];
    delete mesh[key];
  }
  return {
    mesh: mesh as unknown as ResolvedOptions,
    listen: address(listen),
    admin: address(admin),
    retryBufferBytes,
    drainTimeout,
    ...limits,
  };
}

function address(hostPort: string): Address {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}
