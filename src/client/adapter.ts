/**
 * The fat client's edge: the axios adapter that is the mesh, mirroring the sidecar's ingress.
 * axios has already run interceptors, transforms, params and auth; this turns the config into a
 * {@link Call} on the service's pipeline and settles the reply as axios's own `settle` would
 * (the caller's `validateStatus`, once, after the last attempt).
 */
import {
  type AxiosAdapter,
  AxiosError,
  type AxiosResponse,
  CanceledError,
  type InternalAxiosRequestConfig,
} from 'axios';
import { IDEMPOTENT_METHODS, newCall } from '../core/call.js';
import type { MeshSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import type { Mesh } from '../mesh/mesh.js';
import { remainingDeadline } from '../timeout/propagation.js';

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
  const url = config.url ?? '';
  if (ABSOLUTE.test(url) || ABSOLUTE.test(config.baseURL ?? '')) {
    throw new MeshError('MESH_BAD_REQUEST', 'URLs must be relative: the mesh chooses the host', { service });
  }
  const handler = mesh.handler(service);
  const policy = mesh.policy(service);
  const method = (config.method ?? 'get').toUpperCase();
  // The smallest of: the request's own timeout (or the policy's), and what the caller of the
  // request being handled has left (see withIncomingDeadline).
  let total = config.timeout ? config.timeout : policy.timeout.total;
  const inherited = remainingDeadline();
  if (inherited !== undefined && (total === false || inherited < total)) total = inherited;
  const call = newCall({
    service,
    method,
    path: url,
    hashKey: config.hashKey,
    // As the sidecar does: an Idempotency-Key header makes any method safe to send twice.
    idempotent:
      config.idempotent ?? (IDEMPOTENT_METHODS.has(method) || config.headers.has('idempotency-key')),
    replayable: !isStream(config.data),
    request: config,
    signal: (config.signal as MeshSignal | undefined) ?? mesh.shutdown,
    deadline: total === false ? Number.POSITIVE_INFINITY : mesh.clock.now() + total,
  });
  try {
    return settle(await handler(call), config);
  } catch (err) {
    if (config.signal?.aborted && !(err instanceof CanceledError))
      throw new CanceledError(undefined, undefined, config);
    throw err;
  }
}

function isStream(data: unknown): boolean {
  return typeof (data as { pipe?: unknown } | null)?.pipe === 'function';
}

/** Apply the caller's `validateStatus` once, after the mesh is done, as axios's `settle` does. */
function settle(reply: AxiosResponse, config: InternalAxiosRequestConfig): AxiosResponse {
  reply.config = config;
  const validate = config.validateStatus;
  if (!validate || validate(reply.status)) return reply;
  throw new AxiosError(
    `Request failed with status code ${reply.status}`,
    reply.status >= 400 && reply.status < 500 ? AxiosError.ERR_BAD_REQUEST : AxiosError.ERR_BAD_RESPONSE,
    config,
    reply.request,
    reply,
  );
}
