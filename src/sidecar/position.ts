/**
 * The sidecar's position: requests are proxied requests ({@link ProxyRequest}, lower-case
 * header names), replies come back whole or streaming ({@link ProxyReply}), and the transport is
 * one undici agent shared by every service. A sidecar delivers directly: it hands nothing on.
 *
 * With `tls`, an attempt to an endpoint the service's `mtls` policy dials with mutual TLS goes
 * through an undici agent of {@link MeshTls} instead (one per expected identity), with the same
 * reply buffering.
 */
import { Agent, type Dispatcher } from 'undici';
import type { Call, Handler } from '../core/call.js';
import { FAULT_HEADER } from '../fault/fault.js';
import { dialsMtls, type MeshTls } from '../identity/connect.js';
import type { Position } from '../mesh/position.js';
import type { ServicePolicy } from '../options/index.js';
import { type ProxyReply, type ProxyRequest, undiciTransport } from '../transport/undici.js';
import type { Admission } from './admission.js';

/** One header value as a string: repeated headers joined as HTTP combines them. */
function asString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A header of the proxied request (names are lower-case). */
export function proxyHeader(call: Call<ProxyRequest>, name: string): string | undefined {
  return asString(call.request.headers[name.toLowerCase()]);
}

/** The streamed reply of an injected abort (empty body, `x-mesh-fault: abort`). */
export function proxyFaultReply(status: number): ProxyReply {
  return {
    status,
    headers: { [FAULT_HEADER]: 'abort', 'content-length': '0' },
    body: Buffer.alloc(0),
    discard() {},
  };
}

/** How the sidecar buffers responses for retries. */
export interface ResponseBuffering {
  /** Responses up to this size are read whole within the attempt (0: every response streams). */
  responseBufferBytes: number;
  /** The budget buffered bytes are held against. */
  admission?: Admission | undefined;
}

/** The sidecar's position, with the undici agent its transport uses. */
export class SidecarPosition implements Position<ProxyRequest, ProxyReply> {
  readonly name = 'sidecar';
  readonly #agent = new Agent({ keepAliveTimeout: 30_000 });
  readonly #transport: Handler<ProxyRequest, ProxyReply>;
  readonly #buffering: ResponseBuffering | undefined;
  #tls: MeshTls | undefined;

  /**
   * @param buffering - without it, every response streams (no buffer, no budget).
   * @param limitShare - a worker's share of the policy limits (1/N of N workers); absent: all of them.
   */
  constructor(
    buffering?: ResponseBuffering,
    readonly limitShare?: number,
  ) {
    this.#buffering = buffering;
    this.#transport = this.#over(this.#agent);
  }

  /** Dial mesh endpoints with mutual TLS through `tls` (before the first request). */
  useTls(tls: MeshTls): void {
    this.#tls = tls;
  }

  header(call: Call<ProxyRequest>, name: string): string | undefined {
    return proxyHeader(call, name);
  }

  faultReply(status: number): ProxyReply {
    return proxyFaultReply(status);
  }

  transport(policy?: ServicePolicy): Handler<ProxyRequest, ProxyReply> {
    const tls = this.#tls;
    const mtls = policy?.mtls;
    if (!tls || !mtls || mtls.mode === 'off') return this.#transport;
    const plain = this.#transport;
    const secure = new Map<string, Handler<ProxyRequest, ProxyReply>>();
    return (call) => {
      if (!dialsMtls(call.endpoint, mtls)) return plain(call);
      let handler = secure.get(call.service);
      if (!handler) {
        handler = this.#over(tls.dispatcher(call.service, mtls));
        secure.set(call.service, handler);
      }
      return handler(call);
    };
  }

  async close(): Promise<void> {
    // Idempotent: a second close() (a test's and its cleanup's) finds the agent closed already.
    if (!this.#agent.closed && !this.#agent.destroyed) await this.#agent.close();
  }

  /** The transport over `dispatcher`, buffering replies for retries as configured. */
  #over(dispatcher: Dispatcher): Handler<ProxyRequest, ProxyReply> {
    const admission = this.#buffering?.admission;
    return undiciTransport(
      dispatcher,
      admission && {
        maxBytes: this.#buffering!.responseBufferBytes,
        reserve: (bytes) => admission.reserve(bytes),
        release: (bytes) => admission.release(bytes),
      },
    );
  }
}
