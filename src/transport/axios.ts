/**
 * Direct transport for the fat client: axios's own Node http adapter, pointed at the endpoint
 * the balancer chose. The mesh is installed as the axios adapter, so interceptors, transforms,
 * params and auth have already run; per attempt only the base URL, the abort signal and the
 * status check change. Every status resolves here (the filters judge statuses); the ingress
 * applies the caller's `validateStatus` once, after the last attempt.
 */
import axios, { type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import type { Call, Handler } from '../core/call.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

export function axiosTransport(): Handler<InternalAxiosRequestConfig, AxiosResponse> {
  return (call: Call<InternalAxiosRequestConfig>) => {
    const config = call.request;
    return httpAdapter({
      ...config,
      baseURL: call.endpoint!.url + (config.baseURL ?? ''),
      signal: call.signal,
      timeout: 0,
      validateStatus: null,
    });
  };
}
