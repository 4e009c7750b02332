/**
 * Direct transport for the fat client: axios's own Node http adapter, pointed at the endpoint
 * the balancer chose. The mesh is installed as the axios adapter, so interceptors, transforms,
 * params and auth have already run; per attempt only the base URL, the abort signal and the
 * status check change. Every status resolves here (the filters judge statuses); the ingress
 * applies the caller's `validateStatus` once, after the last attempt.
 *
 * The adapter is given the attempt's signal, not the caller's; a streamed body outlives the
 * attempt, so the caller's `signal` / `cancelToken` are listened to until that body ends, as
 * axios does. What would route around the chosen endpoint (`socketPath`, `//host` URLs) is
 * refused (see axios-shared.ts).
 */
import axios, {
  type AxiosAdapter,
  type AxiosResponse,
  type CancelToken,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from '../core/call.js';
import { AttemptSignal, type MeshSignal } from '../core/signal.js';
import { cancelBodyOnAbort, refuseUnexpressible } from './axios-shared.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

/**
 * How the attempt can be aborted, in the form axios's http adapter handles cheapest: an
 * {@link AttemptSignal} as a CancelToken (a listener array), a real AbortSignal as `signal`.
 * Either way the adapter rejects with the abort reason when it is not an Event.
 */
export function abortWith(signal: MeshSignal): { cancelToken?: CancelToken; signal?: AbortSignal } {
  return signal instanceof AttemptSignal
    ? { cancelToken: signal as unknown as CancelToken, signal: undefined }
    : { signal: signal as AbortSignal, cancelToken: undefined };
}

export function axiosTransport(): Handler<InternalAxiosRequestConfig, AxiosResponse> {
  return (call: Call<InternalAxiosRequestConfig>) => {
    const config = call.request;
    try {
      refuseUnexpressible(config, call.service);
    } catch (err) {
      return Promise.reject(err);
    }
    // axios builds a fresh headers object per request: this attempt's additions can go on it.
    if (call.headers) config.headers.set(call.headers);
    const pending = httpAdapter({
      ...config,
      baseURL: call.endpoint!.url + (config.baseURL ?? ''),
      ...abortWith(call.signal),
      timeout: 0,
      validateStatus: null,
    });
    if (config.responseType !== 'stream' || !(config.signal || config.cancelToken)) return pending;
    return pending.then((response) => {
      cancelBodyOnAbort(response.data, config, response.request);
      return response;
    });
  };
}
