/**
 * Where a pipeline runs, as the mesh needs to know it. The two positions differ only in the
 * request and reply types they carry (an axios config and an AxiosResponse in the fat client, a
 * proxied request and a streamed reply in the sidecar), and each supplies this object: how to
 * read a request header, how to build the reply of an injected fault, the transport at the
 * bottom of the pipeline, (the fat client) how to hand a request to a sidecar, and (the sidecar's
 * inbound listener) how to authorize the caller. Nothing below
 * the positions imports axios or undici types for this.
 */
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import type { SidecarPolicy } from '../handoff/options.js';
import type { ServicePolicy } from '../options/index.js';

/** Which position: in the app's process, or a sidecar. */
export type PositionName = 'client' | 'sidecar';

/** What a position supplies to the mesh. */
export interface Position<Req = unknown, Rep extends Reply = Reply> {
  readonly name: PositionName;
  /** A request header (case-insensitive), the way the position's request carries it. */
  header(call: Call<Req>, name: string): string | undefined;
  /** The reply of an injected abort (an empty body, `x-mesh-fault: abort`). */
  faultReply(status: number, call: Call<Req>): Rep;
  /** The transport at the bottom of a service's pipeline. */
  transport(policy: ServicePolicy): Handler<Req, Rep>;
  /** The transport to a sidecar, for `mode: 'sidecar'`; absent where requests cannot be handed on. */
  toSidecar?(sidecar: SidecarPolicy, service: string): Handler<Req, Rep>;
  /**
   * The inbound listener's `authorization` stage for `service` (the caller's verified identity,
   * the rules); absent, or `undefined`, where requests do not arrive from other workloads.
   */
  authorization?(service: string): Filter | undefined;
  /**
   * This process's share (0 to 1) of limits that bound a whole deployment of several processes:
   * a sidecar worker of N carries 1/N, so the configured `limits.concurrency` and `limits.rate`
   * still hold summed over the workers. Absent: the whole limit.
   */
  readonly limitShare?: number | undefined;
  /** Release what the position's transports hold (pooled sockets). */
  close?(): Promise<void>;
}
