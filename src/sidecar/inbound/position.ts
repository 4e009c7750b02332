/**
 * The inbound listener's position: requests arrive from other workloads, each with the identity
 * its certificate proved (or none), and go to the local app over plaintext HTTP on the same host.
 * It is the sidecar's position in every other way (proxied requests, streamed replies), and it is
 * the one position that makes the `authorization` stage: the caller's identity is known here.
 */
import { Agent } from 'undici';
import type { Caller } from '../../authz/rules.js';
import type { Call, Filter, Handler } from '../../core/call.js';
import type { Position } from '../../mesh/position.js';
import { type ProxyReply, type ProxyRequest, undiciTransport } from '../../transport/undici.js';
import { proxyFaultReply, proxyHeader } from '../position.js';

export class InboundPosition implements Position<ProxyRequest, ProxyReply> {
  // Spans of requests that arrive are SERVER spans continuing the caller's trace, as in the sidecar.
  readonly name = 'sidecar';
  readonly #agent = new Agent({ keepAliveTimeout: 30_000 });
  readonly #transport = undiciTransport(this.#agent);
  /** The verified caller of each request, by its forwarded headers object (one per request). */
  readonly #callers = new WeakMap<object, Caller>();

  /**
   * @param stage - the `authorization` stage for a service, given how to find a call's caller.
   * @param limitShare - a worker's share of the app's limits (1/N of N workers); absent: all of them.
   */
  constructor(
    private readonly stage: (
      service: string,
      peerOf: (call: Call<ProxyRequest>) => Caller | undefined,
    ) => Filter | undefined,
    readonly limitShare?: number,
  ) {}

  /** Record the verified caller of the request whose forwarded headers are `headers`. */
  identify(headers: object, caller: Caller): void {
    this.#callers.set(headers, caller);
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

  authorization(service: string): Filter | undefined {
    return this.stage(service, (call) => this.#callers.get(call.request.headers));
  }

  async close(): Promise<void> {
    if (!this.#agent.closed && !this.#agent.destroyed) await this.#agent.close();
  }
}
