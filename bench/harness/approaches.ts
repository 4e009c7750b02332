/**
 * The clients being compared, as the load driver builds them: one {@link Client} per approach,
 * all sending the same {@link PreparedRequest}s and reporting the same {@link Outcome}s.
 *
 * - bare axios: the no-mesh baseline; round-robin over the URLs by hand, keep-alive agents, a
 *   timeout, no retries.
 * - bare undici: the same with undici's `request` (the baseline for an undici transport).
 * - fat client: `MeshClient` in this process (discovery, balancing, breakers, retries,
 *   deadlines), over its axios http transport.
 * - fat client (undici transport): the same with `transport: 'undici'`, when the installed
 *   MeshClient accepts that option (see {@link undiciTransportAvailable}).
 * - mesh-sidecar / bare Node proxy (the floor, ./node-proxy.ts) / HAProxy sidecar: `MeshClient` in
 *   `mode: 'sidecar'` with `fallback: 'none'`, so the proxy does the delivery and its failures
 *   stay visible; the mesh (./mesh.ts) the same, to an outbound mesh-sidecar that dials one inbound
 *   mesh-sidecar per upstream with mutual TLS.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosRequestConfig, isAxiosError } from 'axios';
import { isMeshError, MeshClient, type MeshClientOptions, StaticDiscovery } from 'mesh-client';
import { Agent, request as undiciRequest } from 'undici';
import type { Outcome, PreparedRequest } from './load.js';
import type { ApproachKind, RunSpec } from './protocol.js';

/** A client under test. */
export interface Client {
  send(request: PreparedRequest): Promise<Outcome>;
  /** Retries this client made itself so far (only the fat client can tell). */
  retries(): number | undefined;
  /** Registry churn: the endpoint set becomes `urls`. */
  setEndpoints(urls: string[]): void;
  close(): Promise<void>;
}

/** Whether this MeshClient accepts `transport: 'undici'` (the fat client's undici transport). */
export function undiciTransportAvailable(): boolean {
  try {
    const probe = new MeshClient(withTransport({}));
    void probe.close();
    return true;
  } catch {
    return false;
  }
}

/** Options plus `transport: 'undici'`, which the options type may not declare yet. */
function withTransport(options: MeshClientOptions): MeshClientOptions {
  const extended: Record<string, unknown> = { ...options, transport: 'undici' };
  return extended as MeshClientOptions;
}

/** Build the client a run compares. */
export function createClient(spec: RunSpec): Client {
  switch (spec.approach) {
    case 'bare-axios':
      return bareAxios(spec);
    case 'bare-undici':
      return bareUndici(spec);
    case 'fat-client':
    case 'fat-client-undici':
      return fatClient(spec, spec.approach);
    case 'mesh-sidecar':
    case 'node-proxy':
    case 'haproxy':
    case 'mesh-mtls':
      return viaSidecar(spec);
  }
}

/** The failure code of a rejected request, as the tables show it. */
export function failureCode(err: unknown): string {
  if (isAxiosError(err) && err.response) {
    const meshCode = err.response.headers['x-mesh-error'];
    return typeof meshCode === 'string'
      ? `HTTP ${err.response.status} ${meshCode}`
      : `HTTP ${err.response.status}`;
  }
  if (isMeshError(err)) return err.code;
  // The fat client's timeouts are axios's ECONNABORTED, the mesh's code as their cause.
  if (isAxiosError(err) && isMeshError(err.cause)) return err.cause.code;
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string' && e.code !== 'ERR_NETWORK' && e.code !== 'ERR_BAD_RESPONSE') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.name === 'string' ? e.name : 'ERROR';
}

function bareAxios(spec: RunSpec): Client {
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  const ax = axios.create({ httpAgent, httpsAgent, timeout: spec.timeoutMs });
  let urls = [...spec.urls];
  let next = 0;
  return {
    async send(r) {
      const baseURL = urls[next++ % urls.length];
      try {
        await ax.request({ baseURL, url: r.path, method: r.method, data: r.body, headers: r.headers });
        return { ok: true };
      } catch (err) {
        return { ok: false, code: failureCode(err) };
      }
    },
    retries: () => 0,
    setEndpoints(list) {
      urls = [...list];
    },
    async close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function bareUndici(spec: RunSpec): Client {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  let urls = [...spec.urls];
  let next = 0;
  return {
    async send(r) {
      const base = urls[next++ % urls.length];
      try {
        const hasBody = r.body !== undefined;
        const res = await undiciRequest(base + r.path, {
          dispatcher: agent,
          method: r.method as 'GET',
          body: hasBody ? JSON.stringify(r.body) : undefined,
          headers: hasBody ? { 'content-type': 'application/json', ...r.headers } : r.headers,
          signal: AbortSignal.timeout(spec.timeoutMs),
        });
        await res.body.text();
        return res.statusCode < 400 ? { ok: true } : { ok: false, code: `HTTP ${res.statusCode}` };
      } catch (err) {
        return { ok: false, code: failureCode(err) };
      }
    },
    retries: () => 0,
    setEndpoints(list) {
      urls = [...list];
    },
    close: () => agent.close(),
  };
}

/** `send` for a client that is an axios instance: the request's own fields, plus `extra`. */
function sendThrough(
  instance: AxiosInstance,
  extra: (r: PreparedRequest) => AxiosRequestConfig,
): Client['send'] {
  return async (r) => {
    try {
      await instance.request({ url: r.path, method: r.method, data: r.body, ...extra(r) });
      return { ok: true };
    } catch (err) {
      return { ok: false, code: failureCode(err) };
    }
  };
}

function fatClient(spec: RunSpec, kind: ApproachKind): Client {
  const discovery = new StaticDiscovery({ [spec.service]: spec.urls });
  const options: MeshClientOptions = {
    ...(spec.policy as MeshClientOptions),
    discovery: (spec.discovery as MeshClientOptions['discovery']) ?? discovery,
  };
  const mesh = new MeshClient(kind === 'fat-client-undici' ? withTransport(options) : options);
  let retries = 0;
  mesh.on('retry', () => {
    retries++;
  });
  const instance = mesh.service(spec.service);
  return {
    send: sendThrough(instance, (r) => ({ headers: r.headers, hashKey: r.hashKey })),
    retries: () => retries,
    setEndpoints(urls) {
      discovery.set(spec.service, urls);
    },
    async close() {
      await mesh.close();
      await discovery.close();
    },
  };
}

function viaSidecar(spec: RunSpec): Client {
  if (!spec.sidecarUrl) throw new Error(`${spec.approach} needs a sidecar URL`);
  const mesh = new MeshClient({
    mode: 'sidecar',
    sidecar: { url: spec.sidecarUrl, fallback: 'none' },
    // The sidecar runs the policy; the client keeps only the caller's deadline.
    timeout: { total: spec.timeoutMs, perTry: false },
    retry: false,
    circuitBreaker: false,
  });
  const instance = mesh.service(spec.service);
  return {
    // Our sidecar reads the ring-hash key from this header; the floor and HAProxy pass it on.
    send: sendThrough(instance, (r) => ({ headers: { ...r.headers, 'x-mesh-hash-key': r.hashKey } })),
    retries: () => undefined,
    setEndpoints() {
      throw new Error('registry churn is not reachable from outside a sidecar process');
    },
    close: () => mesh.close(),
  };
}
