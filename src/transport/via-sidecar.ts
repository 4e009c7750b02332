/**
 * The fat client's transport to a sidecar (ours, HAProxy, Envoy, any proxy that routes by
 * `Host`): axios's http adapter pointed at the sidecar, with the logical service in `Host`.
 * Redirects follow the same policy as in direct mode, "the endpoint" being the sidecar: a
 * relative `Location` (which follow-redirects resolves against `Host`, the service's name) goes
 * back through the sidecar to the service.
 */
import axios, {
  type AxiosAdapter,
  AxiosHeaders,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from '../core/call.js';
import { abortWith } from './axios.js';
import { attemptConfig, RedirectGuard } from './axios-shared.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

/** Send to the sidecar at `url` with `service` in `Host`. */
export function sidecarTransport(
  url: string,
  service: string,
): Handler<InternalAxiosRequestConfig, AxiosResponse> {
  const base = url.endsWith('/') ? url.slice(0, -1) : url;
  const host = service.toLowerCase();
  return (call: Call<InternalAxiosRequestConfig>) => {
    const config = call.request;
    const redirects = new RedirectGuard(call, base, host);
    const pending = httpAdapter(
      attemptConfig(config, {
        baseURL: base + (config.baseURL ?? ''),
        headers: AxiosHeaders.from(config.headers)
          .set(call.headers ?? {})
          .set('Host', service),
        ...abortWith(call.signal),
        maxRedirects: redirects.maxRedirects,
        beforeRedirect: redirects.beforeRedirect,
        timeout: 0,
        validateStatus: null,
      }),
    );
    return redirects.maxRedirects > 0 ? pending.catch((err) => redirects.recover(err, config)) : pending;
  };
}
