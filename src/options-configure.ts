/**
 * Runtime configuration: what `MeshClient.configure(partial)` accepts and how it is merged into
 * the options in force. A partial may name any policy option, globally or under `services`
 * (per service); it is validated by the same schema fields as the constructor's options (so the
 * same error messages and paths), merged onto the options the client was given (objects merge,
 * `false`, arrays and values replace; `routing`'s fields replace as a whole, so a new split is
 * not mixed with an old subset), and the merged whole is validated again with its defaults.
 */
import { z } from 'zod';
import type { MeshClientOptions, PolicyOptions } from './options.js';
import { parseWith } from './options-parse.js';
import { serviceSchema } from './options-schema.js';

/** What `MeshClient.configure()` takes: any policy option, globally or per service. */
export interface ConfigureOptions extends PolicyOptions {
  /** Per-service overrides, merged onto those in force. @defaultValue `{}` */
  services?: Record<string, PolicyOptions>;
}

/** Validation of {@link ConfigureOptions}: the per-service policy fields (no defaults), plus `services`. */
export const configureSchema = serviceSchema.extend({
  services: z.record(z.string().min(1), serviceSchema).optional().describe('Per-service overrides.'),
});

/** Validate a partial; throws `MESH_BAD_OPTIONS` naming the offending path under `root`. */
export function parseConfigure(raw: unknown, root = 'options'): ConfigureOptions {
  return parseWith(configureSchema, raw, root) as ConfigureOptions;
}

/** `partial` merged onto the raw options `base` (neither is modified). */
export function mergeOptions(base: MeshClientOptions, partial: ConfigureOptions): MeshClientOptions {
  return merge(base, partial, []) as MeshClientOptions;
}

/** `routing` globally or under `services.<name>`. */
function isRouting(path: readonly string[]): boolean {
  return (
    (path.length === 1 && path[0] === 'routing') ||
    (path.length === 3 && path[0] === 'services' && path[2] === 'routing')
  );
}

function merge(base: unknown, over: unknown, path: readonly string[]): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(over) || !isPlainObject(base)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    // Routing's parts replace as a whole: merging `{ split }` onto `{ subset }` would mean neither.
    out[k] = isRouting(path) ? v : merge(out[k], v, [...path, k]);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
