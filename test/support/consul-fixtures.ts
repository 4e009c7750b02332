/**
 * The fixtures of test/consul-contract/: example answers (and request bodies) from Consul's API
 * docs, each naming its source, and the check that an answer has the documented shape.
 */
import { readFileSync } from 'node:fs';

/** One documented answer. */
export interface Fixture {
  /** Where in Consul's docs it comes from. */
  source: string;
  /** Fields only Consul Enterprise sends. */
  enterpriseOnly?: string[];
  /** Fields the docs mark as situational. */
  optional?: string[];
  /** Response headers the docs name. */
  headers?: string[];
  /** The documented request body, where the endpoint takes one. */
  request?: unknown;
  body: unknown;
}

/** `test/consul-contract/<name>.json`. */
export function fixture(name: string): Fixture {
  return JSON.parse(
    readFileSync(new URL(`../consul-contract/${name}.json`, import.meta.url), 'utf8'),
  ) as Fixture;
}

/** Free-form maps (their keys in the docs are examples): only their type is compared. */
const MAPS = new Set(['Meta', 'Config']);

/** Where `actual` lacks a field of `documented`, or holds it with another JSON type; `skip` names fields not compared. */
export function drift(documented: unknown, actual: unknown, skip: ReadonlySet<string>, path = '$'): string[] {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (documented === null) return [];
  if (kind(documented) !== kind(actual))
    return [`${path}: documented ${kind(documented)}, got ${kind(actual)}`];
  if (Array.isArray(documented)) {
    const [doc] = documented;
    const [got] = actual as unknown[];
    return doc === undefined || got === undefined ? [] : drift(doc, got, skip, `${path}[0]`);
  }
  if (kind(documented) !== 'object') return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(documented as Record<string, unknown>)) {
    if (skip.has(key)) continue;
    const got = (actual as Record<string, unknown>)[key];
    if (got === undefined) out.push(`${path}.${key}: missing`);
    else if (MAPS.has(key)) out.push(...(kind(value) === kind(got) ? [] : [`${path}.${key}: type`]));
    else out.push(...drift(value, got, skip, `${path}.${key}`));
  }
  return out;
}

/** The fields of `f` a shape check leaves out: Enterprise-only and situational ones. */
export function skipOf(f: Fixture): Set<string> {
  return new Set([...(f.enterpriseOnly ?? []), ...(f.optional ?? [])]);
}
