/**
 * The connection half of the Consul integration, shared by discovery (`discovery.ts`) and
 * self-registration (`registration.ts`): where the agent is (options and the
 * `CONSUL_HTTP_*` environment variables, read the way the `consul` CLI reads them,
 * https://developer.hashicorp.com/consul/commands#environment-variables), one `consul` package client
 * with its own bounded connection pool, cancellation and time limits for its calls, token-free
 * copies of its errors (the package reads no environment, and its errors can carry the request, token
 * included), and `agentRequest` for the calls the package sends or reports poorly.
 */
import { EventEmitter } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, STATUS_CODES } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type Consul from 'consul';
import { MeshError } from '../../errors/mesh-error.js';
import { requirePeer } from '../../errors/peer.js';

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
  /** The session's connection pool. */
  readonly agent: HttpAgent;
  /** Close every pooled socket. */
  destroy(): void;
}

/**
 * @internal Open a {@link ConsulSession}; the pool is ours so `destroy()` can close it, and bounded
 * by `maxSockets` (Consul limits connections per client IP, see `ConsulDiscovery`).
 */
export function openConsul(options: ConsulConnectionOptions, maxSockets = 4): ConsulSession {
  const connection = resolveConsulConnection(options);
  const requestTimeout = positive(options.requestTimeout, 10_000, 'consul.requestTimeout');
  const ca = connection.ca ? [...connection.ca] : undefined;
  const agent = connection.secure
    ? new HttpsAgent({ keepAlive: true, ca, maxSockets })
    : new HttpAgent({ keepAlive: true, maxSockets });
  // An optional peer: loaded only when Consul is used (discovery, registration, control plane).
  const ConsulClient = requirePeer<typeof Consul>(
    'consul',
    'Consul (discovery.consul, register(), controlPlane)',
  );
  const client = new ConsulClient({
    host: connection.host,
    port: connection.port,
    secure: connection.secure,
    agent,
    ...(connection.token !== undefined && { defaults: { token: connection.token } }),
  });
  return { client, connection, requestTimeout, agent, destroy: () => agent.destroy() };
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

/** Longest agent answer text kept in an error message: enough for any of Consul's own messages. */
const MAX_BODY_TEXT = 1_000;

/**
 * @internal A plain copy of a `consul` failure: the token is cut from its message, and the response
 * object (whose request still carries the token header) is left behind. The package's HTTP layer
 * (papi) keeps an answer's text only when it is under 80 characters, and Consul's ACL and validation
 * messages are longer ("Permission denied: token with AccessorID '…' lacks permission
 * 'service:write' on \"web\""), so the text is read from the response here: the user must see what
 * was denied or refused, not only "forbidden" or "bad request".
 */
export function sanitizeConsulError(error: unknown, token: string | undefined): Error {
  const source = (error ?? {}) as { message?: unknown; statusCode?: unknown; code?: unknown };
  const redact = (text: string) => (token ? text.split(token).join('[redacted]') : text);
  let raw = typeof source.message === 'string' ? source.message : String(error);
  let status: number | undefined;
  try {
    if (typeof source.statusCode === 'number') status = source.statusCode;
  } catch {
    // papi's statusCode getter throws when the error has no response.
  }
  const text = answerText(error);
  if (status !== undefined && text && !raw.includes(text)) raw = `${raw} (HTTP ${status}: ${text})`;
  const copy = new Error(redact(raw)) as Error & { statusCode?: number; code?: string };
  if (status !== undefined) copy.statusCode = status;
  if (typeof source.code === 'string') copy.code = source.code;
  return copy;
}

/** The text of the agent's answer carried by a papi error, trimmed and bounded; '' when none. */
function answerText(error: unknown): string {
  const body = (error as { response?: { body?: unknown } } | undefined)?.response?.body;
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : '';
  const trimmed = text.trim();
  return trimmed.length > MAX_BODY_TEXT ? `${trimmed.slice(0, MAX_BODY_TEXT)}…` : trimmed;
}

/** @internal The HTTP status of an agent answer behind a (sanitized) failure, if the agent answered. */
export function statusOf(error: unknown): number | undefined {
  let e = error as { statusCode?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 3; depth++, e = e.cause as typeof e) {
    if (typeof e.statusCode === 'number') return e.statusCode;
  }
  return undefined;
}

/** @internal The socket error code behind a (sanitized) failure, if any. */
export function codeOf(error: unknown): string | undefined {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 3; depth++, e = e.cause as typeof e) {
    if (typeof e.code === 'string' && !e.code.startsWith('MESH_')) return e.code;
  }
  return undefined;
}

/** @internal A positive number option, or its default. */
export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MeshError('MESH_BAD_OPTIONS', `${name} must be a positive number of ms`);
  }
  return value;
}

/** Largest agent answer {@link agentRequest} reads, in bytes: agent answers here are small. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * @internal One JSON call to the agent on the session's pool, for what the `consul` package cannot
 * send (it drops `Weights` from registrations) or reports poorly (it keeps an error text only when
 * under 80 characters). Rejects with an error carrying `statusCode` and the agent's full answer text
 * (token redacted) for any non-2xx answer; resolves with the parsed JSON body (undefined when empty).
 */
export function agentRequest(
  session: ConsulSession,
  method: 'GET' | 'PUT',
  path: string,
  body: unknown,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const { host, port, secure, token } = session.connection;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const request = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const req = request({
      host,
      port,
      method,
      path,
      agent: session.agent,
      timeout: session.requestTimeout,
      signal,
      headers: {
        accept: 'application/json',
        ...(payload !== undefined && { 'content-type': 'application/json' }),
        ...(token !== undefined && { 'x-consul-token': token }),
      },
    });
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`request timed out after ${session.requestTimeout} ms`), {
          code: 'ETIMEDOUT',
        }),
      ),
    );
    req.on('error', (error) => reject(sanitizeConsulError(error, token)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`agent answer over ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', (error) => reject(sanitizeConsulError(error, token)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          const shown = text.trim().slice(0, MAX_BODY_TEXT) || (STATUS_CODES[status] ?? 'no answer text');
          const failure = new Error(`${method} ${path.split('?')[0]}: HTTP ${status}: ${shown}`);
          return reject(sanitizeConsulError(Object.assign(failure, { statusCode: status }), token));
        }
        try {
          resolve(text === '' ? undefined : JSON.parse(text));
        } catch {
          reject(new Error(`${method} ${path.split('?')[0]}: the agent's answer is not JSON`));
        }
      });
    });
    req.end(payload);
  });
}
