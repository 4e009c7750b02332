/**
 * What routing and fault injection need from each position, ready to pass to their factories:
 * how to read a request header (the fat client's request is an axios config whose `headers` is
 * an `AxiosHeaders`; the sidecar's is a {@link ProxyRequest} with lower-case header names) and
 * how to build the reply of an aborted request in the position's reply type.
 */
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { AxiosHeaders, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import type { Call } from '../core/call.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import { FAULT_HEADER } from './fault.js';

/** One header value as a string: repeated headers joined as HTTP combines them. */
function asString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.join(', ');
  return undefined;
}

/** Fat client: a header of the axios request (case-insensitive). */
export function axiosHeader(call: Call<InternalAxiosRequestConfig>, name: string): string | undefined {
  const headers = call.request.headers as unknown;
  if (headers instanceof AxiosHeaders) return asString(headers.get(name));
  if (typeof headers !== 'object' || headers === null) return undefined;
  const record = headers as Record<string, unknown>;
  if (name in record) return asString(record[name]);
  const lower = name.toLowerCase();
  for (const key in record) if (key.toLowerCase() === lower) return asString(record[key]);
  return undefined;
}

/** Sidecar: a header of the proxied request (names are lower-case). */
export function proxyHeader(call: Call<ProxyRequest>, name: string): string | undefined {
  return asString(call.request.headers[name.toLowerCase()]);
}

/** Fat client: the AxiosResponse of an aborted request (empty body, `x-mesh-fault: abort`). */
export function axiosFaultReply(status: number, call: Call<InternalAxiosRequestConfig>): AxiosResponse {
  return {
    status,
    statusText: STATUS_CODES[status] ?? '',
    headers: new AxiosHeaders({ [FAULT_HEADER]: 'abort' }),
    config: call.request,
    data: '',
    request: undefined,
  };
}

/** Sidecar: the streamed reply of an aborted request (empty body, `x-mesh-fault: abort`). */
export function proxyFaultReply(status: number): ProxyReply {
  return {
    status,
    headers: { [FAULT_HEADER]: 'abort', 'content-length': '0' },
    body: Readable.from([]),
  };
}
