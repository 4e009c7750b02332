/**
 * The fat client's edge: the axios adapter that is the mesh, mirroring the sidecar's ingress.
 * axios has already run interceptors, transforms, params and auth; this turns the config into a
 * {@link Call} on the service's pipeline and settles the reply as axios's own `settle` would
 * (the caller's `validateStatus`, once, after the last attempt).
 *
 * What the caller sees is what axios's own adapter would give (see `errors.ts`): the request's
 * `timeout` parsed as axios parses it and used as the request's deadline and per-attempt limit,
 * a timeout as axios's timeout error, cancellation by `signal` or `cancelToken` while the request
 * is in flight, and errors carrying the caller's config. What a mesh cannot express (an absolute
 * or protocol-relative URL, `socketPath`) is refused here, before the pipeline: it never reaches a
 * breaker or a sidecar.
 */
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { IDEMPOTENT_METHODS, newCall } from '../core/call.js';
import { AttemptSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import type { Mesh } from '../mesh/mesh.js';
import { refusalOf } from '../redirect/policy.js';
import { remainingDeadline } from '../timeout/propagation.js';
import { type Cancellation, callerError, canceled, requestTimeout, statusError } from './errors.js';

/** The fat client's mesh: axios configs in, AxiosResponses out. */
export type ClientMesh = Mesh<InternalAxiosRequestConfig, AxiosResponse>;

const ABSOLUTE = /^[a-z][a-z\d+.-]*:/i;

/** The adapter of an axios instance bound to `service` (or, unbound, to each config's `service`). */
export function meshAdapter(mesh: ClientMesh, service: string | undefined): AxiosAdapter {
  return (config) => dispatch(mesh, service ?? config.service, config);
}

async function dispatch(
  mesh: ClientMesh,
  service: string | undefined,
  config: InternalAxiosRequestConfig,
): Promise<AxiosResponse> {
  if (mesh.closed) throw new MeshError('MESH_CLOSED', 'the mesh client was closed', { service });
  if (!service) throw new MeshError('MESH_BAD_REQUEST', 'no service named: set config.service');
  refuseUnexpressible(config, service);
  const timeout = requestTimeout(config);
  const handler = mesh.handler(service);
  const policy = mesh.policy(service);
  const method = (config.method ?? 'get').toUpperCase();
  // The smallest of: the request's own timeout (or the policy's), and what the caller of the
  // request being handled has left (see withIncomingDeadline).
  let total = timeout > 0 ? timeout : policy.timeout.total;
  const inherited = remainingDeadline();
  if (inherited !== undefined && (total === false || inherited < total)) total = inherited;
  const cancel = CallerCancel.of(config);
  const call = newCall({
    service,
    method,
    path: config.url ?? '',
    hashKey: config.hashKey,
    // As the sidecar does: an Idempotency-Key header makes any method safe to send twice.
    idempotent:
      config.idempotent ?? (IDEMPOTENT_METHODS.has(method) || config.headers.has('idempotency-key')),
    replayable: !isStream(config.data),
    request: config,
    signal: cancel?.signal ?? mesh.shutdown,
    deadline: total === false ? Number.POSITIVE_INFINITY : mesh.clock.now() + total,
    // A timeout of the request's own lifts the policy's per-try limit for it: axios's `timeout`
    // is how long the caller lets the request take, whatever the attempt.
    perTry: timeout > 0 ? timeout : undefined,
    redirects: policy.redirects,
  });
  try {
    return settle(await handler(call), config);
  } catch (err) {
    // The request's own timeout names the error only when it is the limit that was in force.
    const own = timeout > 0 && total === timeout;
    throw callerError(err, config, cancel?.signal.aborted ? cancel : undefined, own);
  } finally {
    cancel?.stop();
  }
}

/**
 * Refuse, with MESH_BAD_REQUEST, what would route around the endpoint the mesh chooses: an
 * absolute URL or `baseURL` (any scheme: `http:`, `data:`, `tel:`, with userinfo, ...), a
 * protocol-relative one (`//host/path`, which axios resolves to another host), a `socketPath`
 * (axios would send to the socket and ignore the host). Messages never repeat the URL: it may
 * carry credentials.
 */
function refuseUnexpressible(config: InternalAxiosRequestConfig, service: string): void {
  const url = config.url ?? '';
  const base = config.baseURL ?? '';
  if (ABSOLUTE.test(url) || ABSOLUTE.test(base)) {
    throw new MeshError('MESH_BAD_REQUEST', 'URLs must be relative: the mesh chooses the host', { service });
  }
  if (url.startsWith('//') || base.startsWith('//')) {
    throw new MeshError(
      'MESH_BAD_REQUEST',
      'URLs must be relative: the mesh chooses the host (got a //host URL)',
      { service },
    );
  }
  if (config.socketPath) {
    throw new MeshError(
      'MESH_BAD_REQUEST',
      'socketPath is not supported: the mesh chooses the endpoint the request goes to',
      { service },
    );
  }
}

interface TokenLike {
  readonly reason?: unknown;
  subscribe(listener: (reason: unknown) => void): void;
  unsubscribe(listener: (reason: unknown) => void): void;
}

interface SignalLike {
  readonly aborted: boolean;
  addEventListener?(type: 'abort', listener: () => void): void;
  removeEventListener?(type: 'abort', listener: () => void): void;
}

/**
 * The call's signal when the caller can cancel: one {@link AttemptSignal} fed by the request's
 * `cancelToken` and `signal` alike, so cancelling either reaches the attempt in flight. The
 * listeners on the caller's objects last as long as the call.
 */
class CallerCancel implements Cancellation {
  readonly signal = new AttemptSignal();
  /** Whether the token, not the signal, cancelled. */
  byToken = false;
  readonly #onToken = (reason: unknown) => {
    this.byToken = !this.signal.aborted;
    this.signal.abort(reason);
  };
  readonly #onSignal = () => this.signal.abort(canceled(this.config));

  private constructor(
    readonly token: TokenLike | undefined,
    readonly caller: SignalLike | undefined,
    readonly config: InternalAxiosRequestConfig,
  ) {
    token?.subscribe(this.#onToken);
    if (caller?.aborted) this.#onSignal();
    else caller?.addEventListener?.('abort', this.#onSignal);
  }

  static of(config: InternalAxiosRequestConfig): CallerCancel | undefined {
    const token = config.cancelToken as TokenLike | undefined;
    const signal = config.signal as SignalLike | undefined;
    return token || signal ? new CallerCancel(token, signal, config) : undefined;
  }

  stop(): void {
    this.token?.unsubscribe(this.#onToken);
    this.caller?.removeEventListener?.('abort', this.#onSignal);
  }
}

function isStream(data: unknown): boolean {
  return typeof (data as { pipe?: unknown } | null)?.pipe === 'function';
}

/**
 * A redirect the policy refused fails the request; otherwise apply the caller's `validateStatus`
 * once, after the mesh is done, as axios's `settle` does.
 */
function settle(reply: AxiosResponse, config: InternalAxiosRequestConfig): AxiosResponse {
  const refusal = refusalOf(reply);
  if (refusal) {
    (reply as { discard?: () => void }).discard?.();
    throw refusal;
  }
  reply.config = config;
  const validate = config.validateStatus;
  if (!validate || validate(reply.status)) return reply;
  throw statusError(reply, config);
}
