/**
 * The fat client's transport to a sidecar (ours, HAProxy, Envoy, any proxy that routes by
 * `Host`): axios's http adapter pointed at the sidecar, with the logical service in `Host`.
 */
import axios, {
  type AxiosAdapter,
  AxiosHeaders,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from '../core/call.js';
import { abortWith } from './axios.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

/** Send to the sidecar at `url` with `service` in `Host`. */
export function sidecarTransport(
  url: string,
  service: string,
): Handler<InternalAxiosRequestConfig, AxiosResponse> {
  const base = url.endsWith('/') ? url.slice(0, -1) : url;
  return (call: Call<InternalAxiosRequestConfig>) => {
    const config = call.request;
    return httpAdapter({
      ...config,
      baseURL: base + (config.baseURL ?? ''),
      headers: AxiosHeaders.from(config.headers)
        .set(call.headers ?? {})
        .set('Host', service),
      ...abortWith(call.signal),
      timeout: 0,
      validateStatus: null,
    });
  };
}
