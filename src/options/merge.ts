/**
 * The one way options are layered: a service's overrides onto the global policy, a
 * `configure()` partial onto the options in force, the control plane's overrides on top of
 * both. Plain objects merge key by key, recursively; anything else (`false`, arrays, values,
 * class instances such as a Discovery or a Registry) replaces; `undefined` changes nothing.
 *
 * Two forms need care. A shorthand is expanded first (`loadBalancer: 'round-robin'` means
 * `{ policy: 'round-robin' }`, so it keeps the tuning it is merged onto). And `routing`'s parts
 * replace as a whole: merging `{ split }` onto `{ subset }` would mean neither.
 */
import { loadBalancerShorthand } from '../balance/options.js';

/** Options whose shorthand value stands for an object. */
const SHORTHANDS: Readonly<Record<string, (value: unknown) => unknown>> = {
  loadBalancer: loadBalancerShorthand,
};

/** Options whose fields replace instead of merging. */
const REPLACE_FIELDS: ReadonlySet<string> = new Set(['routing']);

/** `over` layered onto `base` (neither is modified). */
export function mergeOptions<T>(base: T, over: unknown): T {
  return merge(base, over, undefined) as T;
}

function merge(base: unknown, over: unknown, key: string | undefined): unknown {
  if (over === undefined) return base;
  const expand = key === undefined ? undefined : SHORTHANDS[key];
  if (expand) {
    base = expand(base);
    over = expand(over);
  }
  if (!isPlainObject(over) || !isPlainObject(base)) return over;
  const out: Record<string, unknown> = { ...base };
  const replace = key !== undefined && REPLACE_FIELDS.has(key);
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = replace ? v : merge(out[k], v, k);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
