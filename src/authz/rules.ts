/**
 * Local authorization rules, compiled once: deny rules first (any match denies), then allow rules
 * (any match allows); what none matches is left to the next source (Consul intentions) or denied.
 * Paths are compared on their normal form (RFC 3986 section 5.2.4 dot-segment removal, with
 * percent-encoded unreserved characters decoded first, as section 6.2.2.2 allows), so that
 * `/public/../admin` cannot pass for `/public`; a request whose path is not in normal form at all
 * is refused before any rule is read (see {@link normalPath}).
 */
import { IdentityPattern, matchesAny } from '../identity/spiffe.js';
import type { AuthorizationPolicy } from './options.js';

/** Who is calling, as the inbound listener verified it. */
export interface Caller {
  /** The caller's SPIFFE ID. */
  id: string;
  /** Its certificate's serial number, colon-hex. */
  serial: string;
}

/** What a rule set says about one request. */
export type RuleVerdict = { allowed: boolean; reason: string } | undefined;

interface CompiledRule {
  index: number;
  from: IdentityPattern[] | undefined;
  methods: ReadonlySet<string> | undefined;
  paths: string[] | undefined;
}

/** Decode percent-encoded unreserved characters (RFC 3986 section 2.3), which mean the same decoded. */
function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : all.toUpperCase();
  });
}

/** Remove `.` and `..` segments (RFC 3986 section 5.2.4). */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.') {
      if (i === segments.length - 1) out.push('');
    } else if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segments.length - 1) out.push('');
    } else out.push(s);
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * The path of a request target (without its query) in normal form, and whether the target was in
 * normal form already (false also for a backslash or an encoded slash, read as separators by some
 * servers and not by others).
 */
export function normalPath(target: string): { path: string; normal: boolean } {
  const q = target.search(/[?#]/);
  const raw = q < 0 ? target : target.slice(0, q);
  if (!raw.startsWith('/')) return { path: raw, normal: false };
  const path = removeDotSegments(decodeUnreserved(raw));
  const ambiguous = raw.includes('\\') || /%2f|%5c/i.test(raw);
  return { path, normal: path === raw && !ambiguous };
}

function pathMatches(path: string, prefix: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix) || path === prefix.slice(0, -1);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** A compiled rule set. */
export class Rules {
  readonly #deny: CompiledRule[] = [];
  readonly #allow: CompiledRule[] = [];
  /** Whether any rule reads the path (then an unnormalized path is refused). */
  readonly readsPaths: boolean;

  constructor(rules: AuthorizationPolicy['rules']) {
    rules.forEach((rule, index) => {
      const compiled: CompiledRule = {
        index,
        from: rule.from?.map((p) => new IdentityPattern(p)),
        methods: rule.methods ? new Set(rule.methods) : undefined,
        paths: rule.paths,
      };
      (rule.action === 'deny' ? this.#deny : this.#allow).push(compiled);
    });
    this.readsPaths = rules.some((r) => r.paths !== undefined);
  }

  get empty(): boolean {
    return this.#deny.length === 0 && this.#allow.length === 0;
  }

  /** The verdict of the rules, or `undefined` when no rule matched. */
  judge(caller: Caller | undefined, method: string, path: string): RuleVerdict {
    for (const rule of this.#deny) {
      if (matches(rule, caller, method, path))
        return { allowed: false, reason: `denied by rule ${rule.index}` };
    }
    for (const rule of this.#allow) {
      if (matches(rule, caller, method, path))
        return { allowed: true, reason: `allowed by rule ${rule.index}` };
    }
    return undefined;
  }
}

function matches(rule: CompiledRule, caller: Caller | undefined, method: string, path: string): boolean {
  if (rule.from && !(caller && matchesAny(rule.from, caller.id))) return false;
  if (rule.methods && !rule.methods.has(method)) return false;
  if (rule.paths && !rule.paths.some((p) => pathMatches(path, p))) return false;
  return true;
}
