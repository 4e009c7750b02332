/**
 * The connection half of the Consul integration, shared by discovery (`consul.ts`) and
 * self-registration (`consul-registration.ts`): where the agent is (options and the
 * `CONSUL_HTTP_*` environment variables, read the way the `consul` CLI reads them,
 * https://developer.hashicorp.com/consul/commands#environment-variables), one `consul` package client
 * with its own connection pool, cancellation and time limits for its calls, and token-free copies of
 * its errors (the package reads no environment and its errors can carry the request, token included:
 * see DEPENDENCY-NOTES).
 */
import { EventEmitter } from 'node:events';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import { MeshError } from '../errors/mesh-error.js';

/** Where the Consul agent is and how to talk to it; shared with `ConsulRegistrar`. */
export interface ConsulConnectionOptions {
  /** Agent host. @defaultValue from `CONSUL_HTTP_ADDR`, else `127.0.0.1` */
  host?: string;
  /** Agent HTTP(S) port. @defaultValue from `CONSUL_HTTP_ADDR`, else `8500` */
  port?: number;
  /** Use HTTPS. @defaultValue from the `CONSUL_HTTP_ADDR` scheme or `CONSUL_HTTP_SSL`, else `false` */
  secure?: boolean;
  /** PEM certificate(s) to trust for HTTPS, instead of the system roots. @defaultValue system roots */
  ca?: string | readonly string[];
  /** ACL token, sent as `X-Consul-Token` and never printed. @defaultValue `CONSUL_HTTP_TOKEN`, else none */
  token?: string;
  /** Where `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_SSL`, `CONSUL_HTTP_TOKEN` come from. @defaultValue process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Time limit of one non-blocking request, in ms. @defaultValue `10000` */
  requestTimeout?: number;
}

/** A {@link ConsulConnectionOptions} after defaults and environment are applied. */
export interface ConsulConnection {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly ca: readonly string[] | undefined;
  /** The ACL token; keep it out of logs and messages. */
  readonly token: string | undefined;
}

/**
 * Apply defaults and the environment the way the `consul` CLI does: `CONSUL_HTTP_ADDR` is `host:port`,
 * `http://host:port` or `https://host:port` (the scheme turns HTTPS on), `CONSUL_HTTP_SSL=true` turns
 * HTTPS on for a scheme-less address, `CONSUL_HTTP_TOKEN` is the token. Explicit options win; when
 * `host` or `port` is given, `CONSUL_HTTP_ADDR` is not read at all.
 */
export function resolveConsulConnection(options: ConsulConnectionOptions = {}): ConsulConnection {
  const env = options.env ?? process.env;
  let host = options.host;
  let port = options.port;
  let secure = options.secure;
  const addr = env.CONSUL_HTTP_ADDR?.trim();
  if (host === undefined && port === undefined && addr) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(addr)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
      throw new MeshError('MESH_BAD_OPTIONS', `CONSUL_HTTP_ADDR scheme "${scheme}" is not supported`);
    }
    let url: URL;
    try {
      url = new URL(scheme ? addr : `http://${addr}`);
    } catch {
      throw new MeshError('MESH_BAD_OPTIONS', 'CONSUL_HTTP_ADDR is not host:port or http(s)://host:port');
    }
    host = url.hostname;
    // A bare host:port names the agent's port; a URL without one means the scheme's default.
    port = url.port ? Number(url.port) : scheme ? (scheme === 'https' ? 443 : 80) : 8500;
    secure ??= scheme ? scheme === 'https' : undefined;
  }
  secure ??= /^(1|true)$/i.test(env.CONSUL_HTTP_SSL ?? '');
  host ??= '127.0.0.1';
  port ??= 8500;
  if (typeof host !== 'string' || host === '')
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.host must be a non-empty string');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.port must be an integer from 1 to 65535');
  }
  const ca =
    options.ca === undefined ? undefined : typeof options.ca === 'string' ? [options.ca] : [...options.ca];
  if (ca && !ca.every((c) => typeof c === 'string' && c.includes('-----BEGIN'))) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.ca must be PEM certificate text');
  }
  const token = options.token ?? (env.CONSUL_HTTP_TOKEN || undefined);
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw new MeshError('MESH_BAD_OPTIONS', 'consul.token must be a non-empty string');
  }
  return { host, port, secure: secure === true, ca, token };
}

/** @internal A client of the `consul` package with its own connection pool. */
export interface ConsulSession {
  readonly client: Consul;
  readonly connection: ConsulConnection;
  readonly requestTimeout: number;
  /** Close every pooled socket. */
  destroy(): void;
}

/** @internal Open a {@link ConsulSession}; the pool is ours so `destroy()` can close it. */
export function openConsul(options: ConsulConnectionOptions): ConsulSession {
  const connection = resolveConsulConnection(options);
  const requestTimeout = positive(options.requestTimeout, 10_000, 'consul.requestTimeout');
  const ca = connection.ca ? [...connection.ca] : undefined;
  const agent = connection.secure
    ? new HttpsAgent({ keepAlive: true, ca })
    : new HttpAgent({ keepAlive: true });
  const client = new Consul({
    host: connection.host,
    port: connection.port,
    secure: connection.secure,
    agent,
    ...(connection.token !== undefined && { defaults: { token: connection.token } }),
  });
  return { client, connection, requestTimeout, destroy: () => agent.destroy() };
}

/** @internal What the `consul` package's HTTP layer (papi) needs to cancel and time-limit a request. */
export interface RequestControl {
  /** papi aborts the request when this emits `cancel`; `includeResponse` asks for `[response, body]`. */
  ctx: EventEmitter;
  /** ms until papi gives up on the request. */
  timeout: number;
}

/**
 * @internal Run one `consul` call under `signal` and `timeout`. papi predates AbortSignal: it cancels
 * through a `ctx` emitter, so the signal is bridged onto one.
 */
export async function consulRequest<T>(
  signal: AbortSignal | undefined,
  timeout: number,
  includeResponse: boolean,
  call: (control: RequestControl) => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  const ctx = Object.assign(new EventEmitter(), { includeResponse });
  const cancel = () => ctx.emit('cancel');
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await call({ ctx, timeout });
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

/**
 * @internal A plain copy of a `consul` failure: the token is cut from its message, and the response
 * object (whose request still carries the token header) is left behind.
 */
export function sanitizeConsulError(error: unknown, token: string | undefined): Error {
  const source = (error ?? {}) as { message?: unknown; statusCode?: unknown; code?: unknown };
  const raw = typeof source.message === 'string' ? source.message : String(error);
  const copy = new Error(token ? raw.split(token).join('[redacted]') : raw) as Error & {
    statusCode?: number;
    code?: string;
  };
  try {
    if (typeof source.statusCode === 'number') copy.statusCode = source.statusCode;
  } catch {
    // papi's statusCode getter throws when the error has no response.
  }
  if (typeof source.code === 'string') copy.code = source.code;
  return copy;
}

/** @internal A positive number option, or its default. */
export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MeshError('MESH_BAD_OPTIONS', `${name} must be a positive number of ms`);
  }
  return value;
}
