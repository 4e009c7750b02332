/**
 * The sidecar's `inbound` block: a second listener, for traffic to the local app from other
 * workloads (their sidecars, or fat clients that join the mesh directly). It runs the same pipeline
 * model as the outbound side, on a mesh of its own whose one service is the app: the app's server-
 * side policy (limits, the deadline, authorization) comes from here.
 */
import { z } from 'zod';
import { authorizationOption } from '../../authz/options.js';
import { limitsOption } from '../../limit/options.js';
import { hostPort } from '../address.js';

const ms = z.number().positive().finite();

const inboundSchema = z.strictObject({
  /** Where the inbound listener accepts traffic for the local app, `host:port` (`0.0.0.0:15006` to accept it from the network). */
  listen: hostPort.default('127.0.0.1:15006'),
  /** The local app, `http://host:port` (the sidecar forwards to it in plaintext, on the same host). Required. */
  app: z.url({ protocol: /^http$/, error: 'expected an http:// URL of the local app' }),
  /**
   * The app's service name: in metrics, spans and `/stats`, and the target of Consul intentions.
   * @defaultValue the service named by this workload's SPIFFE ID (Consul's `svc`, Istio's `sa`), else `'app'`
   */
  service: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'expected a service name')
    .optional(),
  /**
   * Istio's PeerAuthentication modes: `'strict'`, mutual TLS only (a plaintext request gets 426
   * `MESH_TLS_REQUIRED`, a TLS client without a valid certificate is refused in the handshake);
   * `'permissive'`, mutual TLS and plaintext on the same port (a caller without a verified
   * certificate has no identity); `'off'`, plaintext only.
   * @defaultValue `'strict'` when the sidecar has `tls`, else `'off'`
   */
  mtls: z.enum(['strict', 'permissive', 'off']).optional(),
  /** Concurrency and rate limits on the requests to the app. */
  limits: limitsOption,
  /** Deadline (ms) of a request to the app, bounded by the caller's `x-mesh-deadline-ms`; `false` for none. */
  timeout: z.union([z.literal(false), ms]).default(30_000),
  /** Who may call the app: rules on the caller's identity, method and path, and Consul intentions. `false` for none. */
  authorization: authorizationOption,
  /** Distinct caller identities labelled in the caller metric, per service; the rest count as `_other`. */
  maxCallerLabels: z.number().int().min(1).max(10_000).default(100),
});

/** The `inbound` option of the sidecar's config file. @defaultValue none (outbound only) */
export const inboundOption = inboundSchema.optional();

/**
 * The sidecar's inbound listener.
 * @interface
 */
export type InboundOptions = z.input<typeof inboundSchema>;

/** The inbound block after parsing. */
export type InboundPolicy = z.output<typeof inboundSchema>;
