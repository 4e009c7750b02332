/**
 * The `authorization` block of the sidecar's `inbound` listener: who may call the local app, by the
 * caller's verified identity (its certificate's SPIFFE ID), the method and the path. Rules are
 * Istio's AuthorizationPolicy in small: deny rules are checked first, then allow rules, and with
 * rules present a request no allow rule matches is denied. Consul intentions
 * (`/v1/agent/connect/authorize`) may decide what no local rule matched.
 */
import { z } from 'zod';
import { agentConnectionFields } from '../discovery/consul/options.js';
import { identityPattern } from '../identity/options.js';

const ms = z.number().positive().finite();

const ruleSchema = z.strictObject({
  /** `'allow'` or `'deny'`. Deny rules are checked before allow rules, whatever their order. */
  action: z.enum(['allow', 'deny']),
  /**
   * The callers it applies to: SPIFFE IDs or patterns (`*` within a segment, `**` across segments).
   * @defaultValue any caller, with or without a certificate
   */
  from: z.array(identityPattern).min(1).max(1000).optional(),
  /** The methods it applies to (upper case). @defaultValue any method */
  methods: z
    .array(z.string().regex(/^[A-Z][A-Z-]*$/, 'expected an upper-case method name'))
    .min(1)
    .optional(),
  /**
   * The paths it applies to, by prefix on whole segments: `/api` matches `/api`, `/api/` and
   * `/api/users`, not `/apix`. Matched on the path's normal form (RFC 3986: dot segments removed);
   * a request whose path is not in normal form is refused with 400. @defaultValue any path
   */
  paths: z.array(z.string().startsWith('/', 'expected a path starting with /')).min(1).max(1000).optional(),
});

const intentionsSchema = z.strictObject({
  /** The destination service intentions are looked up for. @defaultValue `inbound.service` */
  target: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'expected a Consul service name')
    .optional(),
  ...agentConnectionFields,
  /** ACL token with `service:write` on the target. @defaultValue as `discovery.consul`, else `CONSUL_HTTP_TOKEN` */
  token: z.string().min(1).optional(),
  /** How long (ms) the agent's answer for one caller certificate is reused before it is asked again. */
  cacheTtl: ms.default(5_000),
  /** Caller certificates whose answers are kept at once (least recently used go first). */
  cacheSize: z.number().int().min(1).max(1_000_000).default(1_000),
});

const authorizationSchema = z
  .strictObject({
    /** The rules, checked deny first, then allow; with rules present, what no allow rule matches is denied. */
    rules: z.array(ruleSchema).max(1000).default([]),
    /** Ask the Consul agent's intentions (`/v1/agent/connect/authorize`) about what no local rule matched. @defaultValue none */
    consul: intentionsSchema.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.consul) return;
    if (v.rules.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules'],
        message: 'no rule and no consul: nothing to decide by',
      });
    } else if (!v.rules.some((r) => r.action === 'allow')) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules'],
        message: 'no allow rule: every request would be denied',
      });
    }
  });

/** The `inbound.authorization` option. `false` (the default): every caller the listener accepts may call. */
export const authorizationOption = z.union([z.literal(false), authorizationSchema]).default(false);

/**
 * Authorization of the inbound listener.
 * @interface
 */
export type AuthorizationOptions = z.input<typeof authorizationSchema>;

/**
 * One authorization rule.
 * @interface
 */
export type AuthorizationRule = z.input<typeof ruleSchema>;

/** The authorization in force. */
export type AuthorizationPolicy = z.output<typeof authorizationSchema>;

/** The intentions block in force. */
export type IntentionsPolicy = z.output<typeof intentionsSchema>;
