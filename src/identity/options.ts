/**
 * The options of workload identity and mutual TLS:
 *
 * - `tls` (one per process): who this workload is and whom it trusts: its certificate, key and trust
 *   bundle (PEM text, or files re-read when they change), or Consul Connect's CA;
 * - `mtls` (a policy option, per service under `services`): which endpoints of a service are dialed
 *   with mutual TLS, and which identities they may present.
 */
import { z } from 'zod';
import { agentConnectionFields } from '../discovery/consul/options.js';
import { patternProblem, spiffeIdProblem } from './spiffe.js';

const ms = z.number().positive().finite();

/** An identity pattern: an exact SPIFFE ID, or a glob (`*` within a segment, `**` across segments). */
export const identityPattern = z.string().superRefine((v, ctx) => {
  const problem = patternProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a SPIFFE ID or pattern: ${problem}` });
});

/** A SPIFFE ID, exact. */
export const spiffeId = z.string().superRefine((v, ctx) => {
  const problem = spiffeIdProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a SPIFFE ID: ${problem}` });
});

/** PEM text, or the path of a file holding it. */
const pemOrPath = z.string().min(1);

const consulCaSchema = z.strictObject({
  /** The service whose leaf certificate this workload presents (`/v1/agent/connect/ca/leaf/:service`). Required. */
  service: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a Consul service name'),
  ...agentConnectionFields,
  /** ACL token with `service:write` on `service`, sent as `X-Consul-Token`. @defaultValue `discovery.consul`'s, else `CONSUL_HTTP_TOKEN` */
  token: z.string().min(1).optional(),
  /** How long one blocking query on the roots or the leaf may wait (ms; Consul's cap: 600000). */
  wait: ms.max(600_000).default(300_000),
  /** First retry delay after a failed query (ms); doubles per failure, with jitter. */
  backoffBase: ms.default(250),
  /** Largest retry delay after failed queries (ms). */
  backoffMax: ms.default(30_000),
  /** Rate limit of wake-ups: after a burst of two, at most one query per this many ms. */
  minWakeupInterval: ms.default(1_000),
});

const tlsSchema = z
  .strictObject({
    /**
     * This workload's certificate (an X.509-SVID: one SPIFFE ID as its URI SAN), followed by its
     * intermediates: PEM text, or the path of a PEM file, watched and re-read when it changes (what
     * cert-manager and SPIRE's helper write).
     */
    cert: pemOrPath.optional(),
    /** The certificate's private key: PEM text, or the path of a PEM file (re-read with the certificate). */
    key: pemOrPath.optional(),
    /** The trust bundle, the CA certificates peers must chain to: PEM text, or the path of a PEM file. */
    ca: pemOrPath.optional(),
    /** Take certificate, key and trust bundle from Consul Connect's CA instead of `cert`, `key`, `ca`. */
    consul: consulCaSchema.optional(),
    /**
     * The identity this workload must have (an exact SPIFFE ID or a pattern): material whose
     * certificate names another is refused. @defaultValue any identity
     */
    identity: identityPattern.optional(),
    /** How often (ms) the files are checked for a change, besides the file system's own notifications. */
    pollInterval: ms.default(10_000),
    /** How long (ms) the first connections wait for Consul's first certificate before they fail with `MESH_TLS_UNAVAILABLE`. */
    initialTimeout: ms.default(10_000),
    /** TLS sessions kept for resumption (per peer address and expected identity): a new connection to a known peer skips the full handshake. `0` turns resumption off. */
    sessionCacheSize: z.number().int().min(0).max(100_000).default(100),
    /** Time (ms) allowed to connect and complete the TLS handshake with a mesh endpoint. */
    connectTimeout: ms.default(10_000),
  })
  .superRefine((v, ctx) => {
    const files = ['cert', 'key', 'ca'] as const;
    if (v.consul) {
      for (const part of files) {
        if (v[part] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [part],
            message: 'not with consul: the Connect CA supplies it',
          });
        }
      }
      return;
    }
    for (const part of files) {
      if (v[part] === undefined) {
        ctx.addIssue({ code: 'custom', path: [part], message: 'required (or take all three from consul)' });
      }
    }
  });

/** The `tls` option: this workload's identity and trust bundle. */
export const tlsOption = tlsSchema.optional();

/**
 * This workload's identity for mutual TLS.
 * @interface
 */
export type TlsOptions = z.input<typeof tlsSchema>;

/** The `tls` option after parsing. */
export type TlsPolicy = z.output<typeof tlsSchema>;

/**
 * Consul Connect's CA as the source of the workload's certificate.
 * @interface
 */
export type ConsulCaOptions = z.input<typeof consulCaSchema>;

/** The `tls.consul` block after parsing. */
export type ConsulCaPolicy = z.output<typeof consulCaSchema>;

const mtlsSchema = z.strictObject({
  /**
   * Which endpoints are dialed with mutual TLS: `'auto'`, those marked as in the mesh (endpoint
   * meta `tls-mode: mtls`, or a Consul Connect-native instance); `'on'`, every endpoint (a
   * plaintext one is never used); `'off'`, none.
   */
  mode: z.enum(['auto', 'on', 'off']).default('auto'),
  /**
   * The identities the service's endpoints may present: exact SPIFFE IDs or patterns.
   * @defaultValue the service's own name in this workload's trust domain, in Consul's shape
   * (`spiffe://<td>/ns/<any>/dc/<any>/svc/<service>`) and Istio's (`spiffe://<td>/ns/<any>/sa/<service>`)
   */
  identity: z.union([identityPattern, z.array(identityPattern).min(1)]).optional(),
});

/** The `mtls` option (per service). */
export const mtlsOption = mtlsSchema.prefault({});

/**
 * How a service is dialed over mutual TLS.
 * @interface
 */
export type MtlsOptions = z.input<typeof mtlsSchema>;

/** The `mtls` policy in force for a service. */
export type MtlsPolicy = z.output<typeof mtlsSchema>;

/** Endpoint meta that marks an endpoint as in the mesh (its port speaks mutual TLS). */
export const TLS_MODE_META = 'tls-mode';
