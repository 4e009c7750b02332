/**
 * The sidecar's configuration: the very options object `new MeshClient()` takes, validated by
 * the same schema (so the same error messages), plus where the sidecar listens and how it
 * buffers and drains.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { MeshError } from '../errors/mesh-error.js';
import { checkMtls } from '../identity/open.js';
import { type MeshClientOptions, optionsSchema, parseWith, type ResolvedOptions } from '../options/index.js';
import { type Address, address, hostPort } from './address.js';
import { type InboundPolicy, inboundOption } from './inbound/options.js';
import { checkLimits, type IngressLimits, LIMIT_KEYS, limitsShape } from './limits.js';

/** The most worker processes `workers` may ask for (also the cap of `'auto'`). */
export const MAX_WORKERS = 64;

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
  /**
   * Worker processes sharing the proxy port (node:cluster), `'auto'` for one per CPU the process
   * may use (at most 64); the primary serves admin and supervises them. With more
   * than one, the sidecar-wide limits are divided between the workers (see docs/sidecar.md).
   */
  workers: z
    .union([z.literal('auto'), z.number().int().min(1).max(MAX_WORKERS, `must not exceed ${MAX_WORKERS}`)])
    .default(1),
  ...limitsShape,
  /**
   * A second listener, for traffic to the local app from other workloads: mutual TLS with the
   * callers' identities, authorization, the app's own limits and deadline.
   * @defaultValue none (outbound only)
   */
  inbound: inboundOption,
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

export type { Address } from './address.js';

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
  /** Worker processes, `'auto'` resolved (1: the sidecar is one process). */
  workers: number;
  /** The inbound listener, its `mtls` mode resolved. */
  inbound: (InboundPolicy & { mtls: 'strict' | 'permissive' | 'off' }) | undefined;
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
  checkMtls(options as ResolvedOptions);
  const workers = parsed.workers === 'auto' ? Math.min(MAX_WORKERS, availableParallelism()) : parsed.workers;
  checkWorkerShare(parsed, workers);
  return {
    mesh: mesh as MeshClientOptions,
    options: options as ResolvedOptions,
    inbound: parsed.inbound && resolveInbound(parsed.inbound, (options as ResolvedOptions).tls !== undefined),
    listen: address(parsed.listen),
    admin: address(parsed.admin),
    retryBufferBytes: parsed.retryBufferBytes,
    drainTimeout: parsed.drainTimeout,
    workers,
    ...(Object.fromEntries(LIMIT_KEYS.map((key) => [key, parsed[key]])) as IngressLimits),
  };
}

/** One worker's share of a sidecar-wide count: rounded up, at least 1. */
export function workerShare(total: number, workers: number): number {
  return Math.max(1, Math.ceil(total / workers));
}

/**
 * A worker's configuration: the sidecar-wide listener limits divided between `workers` (the
 * connection cap and the buffer budget; the services' own limits are divided by the mesh, from
 * the position's share), so that the configured totals hold summed over the workers.
 */
export function workerLimits(config: SidecarConfig, workers: number): SidecarConfig {
  return {
    ...config,
    maxConnections: workerShare(config.maxConnections, workers),
    bufferBudgetBytes: workerShare(config.bufferBudgetBytes, workers),
  };
}

/**
 * With several workers each holds `bufferBudgetBytes / workers` for its retry buffers: a single
 * request or response buffer that no longer fits one worker's share could never be buffered.
 */
function checkWorkerShare(
  parsed: { bufferBudgetBytes: number; responseBufferBytes: number; retryBufferBytes: number },
  workers: number,
): void {
  if (workers === 1) return;
  const share = workerShare(parsed.bufferBudgetBytes, workers);
  for (const key of ['responseBufferBytes', 'retryBufferBytes'] as const) {
    if (parsed[key] <= share) continue;
    throw new MeshError(
      'MESH_BAD_OPTIONS',
      `options.workers: ${workers} workers divide bufferBudgetBytes (${parsed.bufferBudgetBytes}) into ${share} bytes each, less than ${key} (${parsed[key]}): raise bufferBudgetBytes to at least ${parsed[key] * workers}, lower ${key} or use fewer workers`,
    );
  }
}

/** The inbound block with its `mtls` mode resolved, and the combinations that could never work refused. */
function resolveInbound(inbound: InboundPolicy, hasTls: boolean): SidecarConfig['inbound'] {
  const mtls = inbound.mtls ?? (hasTls ? 'strict' : 'off');
  if (mtls !== 'off' && !hasTls) {
    throw new MeshError(
      'MESH_BAD_OPTIONS',
      `options.inbound.mtls: '${mtls}' needs options.tls (a certificate to present)`,
    );
  }
  const authz = inbound.authorization;
  if (mtls === 'off' && authz !== false) {
    const index = authz.rules.findIndex((r) => r.from !== undefined);
    if (index >= 0) {
      throw new MeshError(
        'MESH_BAD_OPTIONS',
        `options.inbound.authorization.rules[${index}].from: the listener is plaintext (inbound.mtls 'off'), no caller has an identity`,
      );
    }
    if (authz.consul) {
      throw new MeshError(
        'MESH_BAD_OPTIONS',
        "options.inbound.authorization.consul: intentions judge callers by their certificates; the listener is plaintext (inbound.mtls 'off')",
      );
    }
  }
  return { ...inbound, mtls };
}
