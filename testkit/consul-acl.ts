/**
 * ACLs of the Consul emulator (TEST DOUBLE, see consul-emulator.ts), after Consul's documented and
 * coded behaviour:
 *
 * - a token the servers do not know gets 403 `ACL not found`;
 * - a request without a token uses the anonymous token (no rights unless given some);
 * - reads are FILTERED, not refused: `/v1/health/service/:name`, `/v1/health/state/any`,
 *   `/v1/catalog/services` and `/v1/agent/services` leave out what the token may not read
 *   (`service:read` on the service, `node:read` on its node) and answer 200, with
 *   `X-Consul-Results-Filtered-By-ACLs: true` when something was left out AND a token was sent
 *   (Consul's `agent/consul/health_endpoint.go`; the header is withheld from anonymous requests so
 *   as not to leak what exists);
 * - writes and KV reads without the right get 403 with Consul's long text, e.g.
 *   `Permission denied: token with AccessorID '…' lacks permission 'service:write' on "web"`.
 */

/** What one token may do; anything not listed is denied. */
export interface AclRules {
  /** Services it may read (`true`: all, or a list of names). @defaultValue none */
  serviceRead?: boolean | readonly string[];
  /** Services it may register, heart-beat and deregister (implies read). @defaultValue none */
  serviceWrite?: boolean | readonly string[];
  /** Read every node (needed to see instances and node checks). @defaultValue `false` */
  nodeRead?: boolean;
  /** Read KV keys. @defaultValue `false` */
  keyRead?: boolean;
  /** Write KV keys (implies read). @defaultValue `false` */
  keyWrite?: boolean;
  /** Read the agent's own configuration (`/v1/agent/self`). @defaultValue `false` */
  agentRead?: boolean;
}

/** Every right: what a management token (the emulator's `token` option) has. */
export const MANAGEMENT: AclRules = {
  serviceWrite: true,
  nodeRead: true,
  keyWrite: true,
  agentRead: true,
};

/** The caller of one request. */
export class Caller {
  constructor(
    /** The rules in force, or undefined when ACLs are off. */
    private readonly rules: AclRules | undefined,
    /** The token the request carried, if any. */
    readonly token: string | undefined,
    private readonly accessor: string,
  ) {}

  /** Whether the filtered-results header may be sent (only to an authenticated caller). */
  get authenticated(): boolean {
    return this.token !== undefined;
  }

  serviceRead(name: string): boolean {
    return !this.rules || allows(this.rules.serviceRead, name) || allows(this.rules.serviceWrite, name);
  }

  serviceWrite(name: string): boolean {
    return !this.rules || allows(this.rules.serviceWrite, name);
  }

  nodeRead(): boolean {
    return !this.rules || this.rules.nodeRead === true;
  }

  keyRead(): boolean {
    return !this.rules || this.rules.keyRead === true || this.rules.keyWrite === true;
  }

  keyWrite(): boolean {
    return !this.rules || this.rules.keyWrite === true;
  }

  agentRead(): boolean {
    return !this.rules || this.rules.agentRead === true;
  }

  /** Consul's refusal text for a missing permission (Consul's `acl/errors.go` wording). */
  denied(permission: string, resource: string): string {
    const who = this.token === undefined ? 'anonymous token' : `token with AccessorID '${this.accessor}'`;
    const text = `Permission denied: ${who} lacks permission '${permission}' on ${JSON.stringify(resource)}`;
    return this.token === undefined
      ? `${text}. The anonymous token is used implicitly when a request does not specify a token.`
      : text;
  }
}

function allows(rule: boolean | readonly string[] | undefined, name: string): boolean {
  return rule === true || (Array.isArray(rule) && rule.includes(name));
}
