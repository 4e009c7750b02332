/**
 * The fat client's position: requests are axios configs (headers in an `AxiosHeaders`), replies
 * are `AxiosResponse`s, and the transport is axios's own http adapter or an undici pool under
 * the same axios API (`transport`), with one set of keep-alive agents per client. A service in
 * `mode: 'sidecar'` is handed to its sidecar over the http adapter, the service in `Host`. With
 * `tls`, attempts to mesh endpoints go over mutual TLS (`mtls.ts`).
 */
import http, { STATUS_CODES } from 'node:http';
import https from 'node:https';
import { AxiosHeaders, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { Agent } from 'undici';
import type { Call, Handler } from '../core/call.js';
import { FAULT_HEADER } from '../fault/fault.js';
import type { MeshTls } from '../identity/connect.js';
import type { MtlsPolicy } from '../identity/options.js';
import type { Position } from '../mesh/position.js';
import { axiosTransport } from '../transport/axios.js';
import { undiciAxiosTransport } from '../transport/axios-undici.js';
import { sidecarTransport } from '../transport/via-sidecar.js';
import { withMtls } from './mtls.js';

type AxiosHandler = Handler<InternalAxiosRequestConfig, AxiosResponse>;

/** One header value as a string: repeated headers joined as HTTP combines them. */
function asString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.join(', ');
  return undefined;
}

/** A header of the axios request (case-insensitive). */
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

/** The AxiosResponse of an injected abort (empty body, `x-mesh-fault: abort`). */
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

/** The fat client's position, with the keep-alive agents its transports share. */
export class ClientPosition implements Position<InternalAxiosRequestConfig, AxiosResponse> {
  readonly name = 'client';
  /** The agents every axios instance of the client uses. */
  readonly httpAgent = new http.Agent({ keepAlive: true });
  readonly httpsAgent = new https.Agent({ keepAlive: true });
  readonly #axios = axiosTransport();
  #undici: { agent: Agent; transport: AxiosHandler } | undefined;
  #tls: MeshTls | undefined;

  /** Dial mesh endpoints with mutual TLS through `tls` (set once, before the first request). */
  useTls(tls: MeshTls): void {
    this.#tls = tls;
  }

  header(call: Call<InternalAxiosRequestConfig>, name: string): string | undefined {
    return axiosHeader(call, name);
  }

  faultReply(status: number, call: Call<InternalAxiosRequestConfig>): AxiosResponse {
    return axiosFaultReply(status, call);
  }

  transport(policy: { transport: 'axios' | 'undici'; mtls: MtlsPolicy }): AxiosHandler {
    const plain = this.#plain(policy.transport);
    return this.#tls ? withMtls(plain, policy.transport, policy.mtls, this.#tls) : plain;
  }

  #plain(transport: 'axios' | 'undici'): AxiosHandler {
    if (transport === 'axios') return this.#axios;
    if (!this.#undici) {
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      this.#undici = { agent, transport: undiciAxiosTransport(agent) };
    }
    return this.#undici.transport;
  }

  toSidecar(sidecar: { url: string }, service: string): AxiosHandler {
    return sidecarTransport(sidecar.url, service);
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    await this.#undici?.agent.close();
    await this.#tls?.close();
    await this.#tls?.source.close();
  }
}
