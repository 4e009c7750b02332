/**
 * The sidecar's position: requests are proxied requests ({@link ProxyRequest}, lower-case
 * header names), replies come back whole or streaming ({@link ProxyReply}), and the transport is
 * one undici agent shared by every service. A sidecar delivers directly: it hands nothing on.
 */
import { Agent } from 'undici';
import type { Call, Handler } from '../core/call.js';
import { FAULT_HEADER } from '../fault/fault.js';
import type { Position } from '../mesh/position.js';
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

  /** @param buffering - without it, every response streams (no buffer, no budget). */
  constructor(buffering?: ResponseBuffering) {
    const admission = buffering?.admission;
    this.#transport = undiciTransport(
      this.#agent,
      admission && {
        maxBytes: buffering.responseBufferBytes,
        reserve: (bytes) => admission.reserve(bytes),
        release: (bytes) => admission.release(bytes),
      },
    );
  }

  header(call: Call<ProxyRequest>, name: string): string | undefined {
    return proxyHeader(call, name);
  }

  faultReply(status: number): ProxyReply {
    return proxyFaultReply(status);
  }

  transport(): Handler<ProxyRequest, ProxyReply> {
    return this.#transport;
  }

  async close(): Promise<void> {
    // Idempotent: a second close() (a test's and its cleanup's) finds the agent closed already.
    if (!this.#agent.closed && !this.#agent.destroyed) await this.#agent.close();
  }
}
