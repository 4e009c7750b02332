/**
 * Optional packages, loaded when a feature that needs them is used: `prom-client` (metrics into
 * the user's registry, and the sidecar's `/metrics`), `pino` (the sidecar's log lines) and
 * `consul` (Consul discovery, registration and the KV control plane). They are optional peer
 * dependencies, so an application using static or DNS discovery installs none of them, and the
 * library must load without them: nothing imports them at module load.
 *
 * All three are CommonJS, so `require` loads them synchronously where they are needed (option
 * parsing and constructors are synchronous). They resolve from this package's location, which is
 * where npm puts a peer dependency: beside it, shared with the application.
 */
import { createRequire } from 'node:module';
import { MeshError } from './mesh-error.js';

const load = createRequire(import.meta.url);

/** The optional peer dependencies, with what each is for (said in the error when it is missing). */
export const OPTIONAL_PEERS = {
  'prom-client': 'Prometheus metrics',
  pino: "the sidecar's logs",
  consul: 'Consul discovery, registration and the control plane',
} as const;

/** The name of an optional peer dependency. */
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/** True when `err` says that `name` itself (not one of its own imports) cannot be found. */
function isMissing(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${name}'`);
}

/**
 * Load the optional package `name` for `needed` (an option path such as `options.discovery.consul`,
 * or what needs it). A missing package is a `MESH_BAD_OPTIONS` naming the package and the command
 * that installs it; any other failure to load it is thrown as it is.
 */
export function requirePeer<T>(name: OptionalPeer, needed: string): T {
  try {
    return load(name) as T;
  } catch (err) {
    if (!isMissing(err, name)) throw err;
    throw new MeshError(
      'MESH_BAD_OPTIONS',
      `${needed}: needs the package "${name}" (${OPTIONAL_PEERS[name]}), which is not installed: ` +
        `npm install ${name}`,
      { cause: err },
    );
  }
}
