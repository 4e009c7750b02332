/**
 * Workload identities as SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md):
 * `spiffe://<trust-domain>/<path>`, carried as the one URI SAN of an X.509 certificate. Two path
 * shapes have a meaning here, because they name the workload the way the meshes that issue them do:
 *
 * - Consul Connect: `/ns/<namespace>/dc/<datacenter>/svc/<service>`;
 * - Istio (and SPIRE's Kubernetes registrar): `/ns/<namespace>/sa/<service-account>`.
 *
 * Any other path is a valid identity too; it just names no service. Patterns select identities for
 * policy: an exact ID, or a glob where `*` matches within one path segment and `**` matches any
 * run of segments (`spiffe://prod.consul/ns/default/dc/` + `*` + `/svc/web` selects `web` in every datacenter;
 * `spiffe://prod.consul/` + `**` selects the whole trust domain).
 */

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  /** The ID as written (`spiffe://td/path`). */
  readonly id: string;
  /** The trust domain, lower case. */
  readonly trustDomain: string;
  /** The path, with its leading `/` (empty for the trust domain's own ID). */
  readonly path: string;
  /** Which mesh's shape the path has. */
  readonly shape: 'consul' | 'istio' | 'other';
  /** The namespace of a Consul or Istio ID. */
  readonly namespace?: string | undefined;
  /** The datacenter of a Consul ID. */
  readonly datacenter?: string | undefined;
  /** The service of a Consul ID, or the service account of an Istio one: what names the workload. */
  readonly workload?: string | undefined;
}

/** The SPIFFE spec's limit on an ID's length, in bytes. */
const MAX_ID_BYTES = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Why `text` is not a SPIFFE ID, or `undefined` when it is one. */
export function spiffeIdProblem(text: string): string | undefined {
  if (Buffer.byteLength(text) > MAX_ID_BYTES) return `longer than ${MAX_ID_BYTES} bytes`;
  if (!text.startsWith('spiffe://')) return 'does not start with spiffe://';
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  if (td === '') return 'has no trust domain';
  if (!TRUST_DOMAIN.test(td))
    return 'trust domain may hold only lower-case letters, digits, ".", "-" and "_"';
  if (slash < 0) return undefined;
  const segments = rest.slice(slash + 1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'has an empty path segment (or a trailing /)';
    if (segment === '.' || segment === '..') return 'has a "." or ".." path segment';
    if (!SEGMENT.test(segment)) return 'path segments may hold only letters, digits, ".", "-" and "_"';
  }
  return undefined;
}

/** Parse a SPIFFE ID; `undefined` when `text` is not one. */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  if (spiffeIdProblem(text) !== undefined) return undefined;
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const s = path.split('/').slice(1);
  if (s.length === 6 && s[0] === 'ns' && s[2] === 'dc' && s[4] === 'svc') {
    return {
      id: text,
      trustDomain,
      path,
      shape: 'consul',
      namespace: s[1],
      datacenter: s[3],
      workload: s[5],
    };
  }
  if (s.length === 4 && s[0] === 'ns' && s[2] === 'sa') {
    return { id: text, trustDomain, path, shape: 'istio', namespace: s[1], workload: s[3] };
  }
  return { id: text, trustDomain, path, shape: 'other' };
}

/** Why `text` is not a usable identity pattern, or `undefined` when it is one. */
export function patternProblem(text: string): string | undefined {
  if (!text.startsWith('spiffe://')) return 'does not start with spiffe://';
  if (/\*{3,}/.test(text)) return 'has more than two * in a row';
  // With its wildcards replaced by a character they may stand for, a pattern must be an ID.
  const probe = text.replace(/\*\*/g, 'x').replace(/\*/g, 'x');
  const problem = spiffeIdProblem(probe);
  return problem === undefined ? undefined : problem;
}

/** A compiled identity pattern: exact, or a glob. */
export class IdentityPattern {
  readonly #exact: string | undefined;
  readonly #regex: RegExp | undefined;

  /** @throws Error when `pattern` is not a pattern (see {@link patternProblem}). */
  constructor(readonly pattern: string) {
    const problem = patternProblem(pattern);
    if (problem) throw new Error(`"${pattern}" ${problem}`);
    if (!pattern.includes('*')) {
      this.#exact = pattern;
      return;
    }
    const source = pattern
      .split('**')
      .map((part) =>
        part
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*'),
      )
      .join('.*');
    this.#regex = new RegExp(`^${source}$`);
  }

  /** Whether `id` is selected by this pattern. */
  matches(id: string): boolean {
    return this.#exact !== undefined ? id === this.#exact : this.#regex!.test(id);
  }

  toString(): string {
    return this.pattern;
  }
}

/** Patterns that select the identities of the workload named `service` in `trustDomain`, in both shapes. */
export function workloadPatterns(trustDomain: string, service: string): IdentityPattern[] {
  return [
    new IdentityPattern(`spiffe://${trustDomain}/ns/*/dc/*/svc/${service}`),
    new IdentityPattern(`spiffe://${trustDomain}/ns/*/sa/${service}`),
  ];
}

/** Whether `id` matches one of `patterns`. */
export function matchesAny(patterns: readonly IdentityPattern[], id: string): boolean {
  for (const p of patterns) if (p.matches(id)) return true;
  return false;
}

/** A service name usable in a SPIFFE ID path segment. */
export function isSegment(name: string): boolean {
  return SEGMENT.test(name) && name !== '.' && name !== '..';
}
