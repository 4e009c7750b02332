/**
 * The sidecar's configuration: the very options object `new MeshClient()` takes, validated by
 * the same schema (so the same error messages), plus where the sidecar listens and how it
 * buffers and drains.
 */
import { z } from 'zod';
import { optionsSchema, parseWith, type ResolvedOptions } from '../options.js';

/** Options only the sidecar process has, on top of {@link MeshClientOptions}. */
export interface SidecarProcessOptions {
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
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port out of range');

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
});

/** A parsed host:port. */
export interface Address {
  host: string;
  port: number;
}

/** The sidecar's validated configuration. */
export interface SidecarConfig {
  mesh: ResolvedOptions;
  listen: Address;
  admin: Address;
  retryBufferBytes: number;
  drainTimeout: number;
}

/** Validate a sidecar config object; throws `MESH_BAD_OPTIONS` naming the bad option. */
export function parseSidecarConfig(raw: unknown): SidecarConfig {
  const { listen, admin, retryBufferBytes, drainTimeout, ...mesh } = parseWith(
    sidecarSchema,
    raw,
    'options',
  ) as Record<string, unknown> & {
    listen: string;
    admin: string;
    retryBufferBytes: number;
    drainTimeout: number;
  };
  return {
    mesh: mesh as unknown as ResolvedOptions,
    listen: address(listen),
    admin: address(admin),
    retryBufferBytes,
    drainTimeout,
  };
}

function address(hostPort: string): Address {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}
