/**
 * The fat client joins the mesh directly: with `tls`, an attempt to an endpoint the service's
 * `mtls` policy dials with mutual TLS (an inbound sidecar, a Connect-native service) presents this
 * process's certificate and accepts the endpoint only when its SPIFFE ID is one the service may
 * present, on either transport:
 *
 * - `transport: 'axios'`: axios's http adapter, given the keep-alive agent of {@link MeshTls}
 *   whose sockets are mutual TLS (the attempt's copy of the config carries it);
 * - `transport: 'undici'`: the axios-over-undici transport over the undici agent of
 *   {@link MeshTls}, one per service.
 *
 * Every other attempt takes the plain transport. A refusal in the handshake reaches the caller as
 * the `MeshError` it is (`MESH_PEER_UNTRUSTED`, `MESH_PEER_IDENTITY`, `MESH_TLS_UNAVAILABLE`),
 * not wrapped in an AxiosError, after the retry stage has tried another endpoint with it (nothing
 * was sent).
 */
import type { AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { Call, Handler } from '../core/call.js';
import { isMeshError, type MeshError } from '../errors/mesh-error.js';
import { dialsMtls, MeshTls } from '../identity/connect.js';
import { checkMtls, openIdentity } from '../identity/open.js';
import type { MtlsPolicy } from '../identity/options.js';
import type { Mesh } from '../mesh/mesh.js';
import { attemptConfig } from '../transport/axios-shared.js';
import { undiciAxiosTransport } from '../transport/axios-undici.js';

type AxiosHandler = Handler<InternalAxiosRequestConfig, AxiosResponse>;

/** What the client's position takes. */
export interface TlsHolder {
  useTls(tls: MeshTls): void;
}

/**
 * Open the `tls` material of `mesh`'s options and hand the dialing side to `position`; refuse
 * `mtls.mode: 'on'` without `tls`. A problem closes the mesh and throws `MESH_BAD_OPTIONS`.
 */
export function attachTls(mesh: Mesh<InternalAxiosRequestConfig, AxiosResponse>, position: TlsHolder): void {
  const { options } = mesh;
  try {
    checkMtls(options);
    if (!options.tls) return;
    const discovery = options.discovery;
    const identity = openIdentity(options.tls, {
      clock: mesh.clock,
      random: mesh.random,
      events: mesh.events,
      defaultConnection: 'consul' in discovery ? discovery.consul : undefined,
    });
    const { sessionCacheSize, connectTimeout } = options.tls;
    position.useTls(new MeshTls(identity, { clock: mesh.clock, sessionCacheSize, connectTimeout }));
  } catch (error) {
    // Nobody gets a handle to close: release the watches the mesh opened.
    void mesh.close().catch(() => undefined);
    throw error;
  }
}

/** `plain`, with the attempts `mtls` dials with mutual TLS going through `tls` instead. */
export function withMtls(
  plain: AxiosHandler,
  transport: 'axios' | 'undici',
  mtls: MtlsPolicy,
  tls: MeshTls,
): AxiosHandler {
  if (mtls.mode === 'off') return plain;
  const secure = new Map<string, AxiosHandler>();
  const over = (service: string): AxiosHandler => {
    let handler = secure.get(service);
    if (!handler) {
      handler =
        transport === 'undici'
          ? undiciAxiosTransport(tls.dispatcher(service, mtls))
          : (call) => plain(withAgents(call, tls, mtls));
      secure.set(service, handler);
    }
    return handler;
  };
  return (call) => {
    if (!dialsMtls(call.endpoint, mtls)) return plain(call);
    return over(call.service)(call).catch((error: unknown) => {
      throw tlsRefusal(error) ?? error;
    });
  };
}

/** The attempt with the mutual-TLS agents on its copy of the config (the request's own is left as it is). */
function withAgents(
  call: Call<InternalAxiosRequestConfig>,
  tls: MeshTls,
  mtls: MtlsPolicy,
): Call<InternalAxiosRequestConfig> {
  const request = attemptConfig(call.request, {
    httpAgent: tls.httpAgent(call.service, mtls, 'http:'),
    httpsAgent: tls.httpAgent(call.service, mtls, 'https:'),
  });
  return { ...call, request };
}

const TLS_CODES: ReadonlySet<string> = new Set([
  'MESH_PEER_UNTRUSTED',
  'MESH_PEER_IDENTITY',
  'MESH_TLS_UNAVAILABLE',
]);

/** The mesh's TLS refusal inside a transport's error (axios wraps socket errors), if that is what it is. */
function tlsRefusal(error: unknown): MeshError | undefined {
  let e = error as { cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++, e = e.cause as typeof e) {
    if (isMeshError(e) && TLS_CODES.has(e.code)) return e;
  }
  return undefined;
}
