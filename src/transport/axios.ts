/**
 * Direct transport for the fat client: axios's own Node http adapter, pointed at the endpoint
 * the balancer chose. The mesh is installed as the axios adapter, so interceptors, transforms,
 * params and auth have already run; per attempt only the base URL, the abort signal, the
 * redirect settings and the status check change. Every status resolves here (the filters judge
 * statuses); the edge applies the caller's `validateStatus` once, after the last attempt.
 *
 * The adapter is given the attempt's signal, not the caller's; a streamed body outlives the
 * attempt, so the caller's `signal` / `cancelToken` are listened to until that body ends, as
 * axios does. Redirects are followed by axios (follow-redirects) within the mesh's policy (see
 * axios-shared.ts).
 */
import axios, {
  type AxiosAdapter,
  type AxiosResponse,
  type CancelToken,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from '../core/call.js';
import type { MeshSignal } from '../core/signal.js';
import { attemptConfig, cancelBodyOnAbort, RedirectGuard } from './axios-shared.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

/** What axios's adapter takes for an Event: it then rejects with its own CanceledError, request included. */
const ABORT_EVENT = Object.freeze({ type: 'abort' });

/**
 * The attempt's signal as the CancelToken axios's http adapter subscribes to (a listener list,
 * no EventTarget). An abort reaches the adapter as an Event, so it rejects with its own
 * `CanceledError` carrying the request it made; the signal's reason (which timeout, or the
 * caller) is read by the stages above.
 */
class AttemptToken {
  #listener: ((reason: unknown) => void) | undefined;
  #relay: (() => void) | undefined;

  constructor(readonly signal: MeshSignal) {}

  subscribe(listener: (reason: unknown) => void): void {
    this.#listener = listener;
    this.#relay = () => listener(ABORT_EVENT);
    this.signal.addEventListener('abort', this.#relay);
  }

  unsubscribe(listener: (reason: unknown) => void): void {
    if (listener === this.#listener && this.#relay) this.signal.removeEventListener('abort', this.#relay);
  }
}

/** How axios's http adapter is told to abort the attempt (never the caller's own token or signal). */
export function abortWith(signal: MeshSignal): { cancelToken: CancelToken; signal: undefined } {
  return { cancelToken: new AttemptToken(signal) as unknown as CancelToken, signal: undefined };
}

export function axiosTransport(): Handler<InternalAxiosRequestConfig, AxiosResponse> {
  return (call: Call<InternalAxiosRequestConfig>) => {
    const config = call.request;
    // axios builds a fresh headers object per request: this attempt's additions can go on it.
    if (call.headers) config.headers.set(call.headers);
    const endpoint = call.endpoint!.url;
    const redirects = new RedirectGuard(call, endpoint, undefined);
    let pending = httpAdapter(
      attemptConfig(config, {
        baseURL: endpoint + (config.baseURL ?? ''),
        ...abortWith(call.signal),
        maxRedirects: redirects.maxRedirects,
        beforeRedirect: redirects.beforeRedirect,
        timeout: 0,
        validateStatus: null,
      }),
    );
    if (redirects.maxRedirects > 0) pending = pending.catch((err) => redirects.recover(err, config));
    if (config.responseType !== 'stream' || !(config.signal || config.cancelToken)) return pending;
    return pending.then((response) => {
      cancelBodyOnAbort(response.data, config, response.request);
      return response;
    });
  };
}
