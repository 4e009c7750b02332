/**
 * DNS names and resolver addresses for DNS discovery (internal): the service-to-name template, the
 * syntax a name must have before it is sent to a resolver, and the `host[:port]` forms that
 * `Resolver.setServers()` accepts. The option schema and the discovery both use these checks, so a
 * bad template or server fails at construction and a bad service name never reaches the wire.
 */
import { isIP } from 'node:net';

/** The Kubernetes name of a Service: `<service>.<namespace>.svc.<cluster domain>` (default domain). */
export const DEFAULT_TEMPLATE = '{service}.{namespace}.svc.cluster.local';

/** The placeholders a template may use. */
const PLACEHOLDERS = new Set(['service', 'namespace']);
const PLACEHOLDER = /\{([^{}]*)\}/g;
/** One label: letters, digits, `-`, and `_` (SRV names such as `_http._tcp` start with one). */
const LABEL = /^[A-Za-z0-9_-]{1,63}$/;
/** RFC 1035: at most 255 octets on the wire, which is 253 characters without the trailing dot. */
const MAX_NAME = 253;

/** Why `template` is not a usable name template, or undefined when it is. */
export function templateProblem(template: string): string | undefined {
  for (const [, key] of template.matchAll(PLACEHOLDER)) {
    if (!PLACEHOLDERS.has(key!)) return `unknown placeholder {${key}}: use {service} and {namespace}`;
  }
  // Check the fixed parts with placeholders standing in for a one-letter value.
  const sample = template.replace(PLACEHOLDER, 'x');
  if (/[{}]/.test(sample)) return 'unbalanced { or }';
  return nameProblem(sample);
}

/** The DNS name `template` gives for `service` in `namespace`. */
export function expand(template: string, service: string, namespace: string): string {
  return template.replace(PLACEHOLDER, (_, key: string) => (key === 'service' ? service : namespace));
}

/** Why `name` is not a DNS name a resolver can be asked for, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0) return 'empty name';
  if (bare.length > MAX_NAME) return `longer than ${MAX_NAME} characters`;
  for (const label of bare.split('.')) {
    if (label === '') return `empty label in "${name}"`;
    if (!LABEL.test(label)) {
      return `label "${label.slice(0, 70)}" must be 1 to 63 letters, digits, "-" or "_"`;
    }
  }
  return undefined;
}

/** Why `server` is not an address `Resolver.setServers()` takes (`ip`, `ip:port`, `[ipv6]:port`). */
export function serverProblem(server: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(server);
  if (bracketed) {
    if (isIP(bracketed[1]!) !== 6) return `"${server}": not an IPv6 address in brackets`;
    return portProblem(server, bracketed[2]);
  }
  if (isIP(server) !== 0) return undefined;
  const withPort = /^([^:]+):(\d{1,5})$/.exec(server);
  if (withPort && isIP(withPort[1]!) === 4) return portProblem(server, withPort[2]);
  return `"${server}": expected an IP address, ip:port or [ipv6]:port (resolvers are addresses, not names)`;
}

function portProblem(server: string, port: string | undefined): string | undefined {
  if (port === undefined) return undefined;
  const n = Number(port);
  return n >= 1 && n <= 65_535 ? undefined : `"${server}": port out of range`;
}
