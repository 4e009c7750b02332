/**
 * What both axios transports (axios's http adapter, undici) do the same way: refuse the axios
 * options a mesh cannot express, and keep listening to the caller's cancellation while a
 * streamed response body is being read, as axios's adapter does until the stream ends.
 */
import { finished, type Readable } from 'node:stream';
import { CanceledError, type InternalAxiosRequestConfig } from 'axios';
import { MeshError } from '../errors/mesh-error.js';

/**
 * Throws MESH_BAD_REQUEST for what would route around the endpoint the mesh chose: a
 * `socketPath` (axios would send to the socket and ignore the host), or a protocol-relative URL
 * (`//host/path`, which axios resolves to another host).
 */
export function refuseUnexpressible(config: InternalAxiosRequestConfig, service: string): void {
  if (config.socketPath) {
    throw new MeshError(
      'MESH_BAD_REQUEST',
      'socketPath is not supported: the mesh chooses the endpoint the request goes to',
      { service },
    );
  }
  if (config.url?.startsWith('//') || config.baseURL?.startsWith('//')) {
    throw new MeshError(
      'MESH_BAD_REQUEST',
      'URLs must be relative: the mesh chooses the host (got a //host URL)',
      {
        service,
      },
    );
  }
}

interface TokenLike {
  subscribe(listener: (reason: unknown) => void): void;
  unsubscribe(listener: (reason: unknown) => void): void;
}

/**
 * Destroy `body` with the caller's cancellation once it comes, until the body is done: a
 * CanceledError ('canceled') for `config.signal`, the token's own reason for `config.cancelToken`.
 * Nothing is subscribed when the caller gave neither.
 */
export function cancelBodyOnAbort(
  body: Readable,
  config: InternalAxiosRequestConfig,
  request?: unknown,
): void {
  const signal = config.signal as AbortSignal | undefined;
  const token = config.cancelToken as TokenLike | undefined;
  if (!signal && !token) return;
  const onSignal = () => body.destroy(new CanceledError(undefined, config, request));
  const onToken = (reason: unknown) =>
    body.destroy(reason instanceof Error ? reason : new CanceledError(undefined, config, request));
  if (signal?.aborted) {
    onSignal();
    return;
  }
  signal?.addEventListener?.('abort', onSignal);
  token?.subscribe(onToken);
  const stop = finished(body, () => {
    stop();
    signal?.removeEventListener?.('abort', onSignal);
    token?.unsubscribe(onToken);
  });
}
