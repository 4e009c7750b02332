/**
 * The `discovery` option: one block naming a source (`{ static: {...} }`, `{ consul: {...} }`),
 * or a {@link Discovery} object of your own. The forms come from `sources.ts`.
 */
import { z } from 'zod';
import type { Discovery } from './discovery.js';
import type { DiscoverySource } from './source.js';
import * as SOURCES from './sources.js';

/** A discovery source name. */
export type SourceName = keyof typeof SOURCES;

/** Every source, by name. */
export const DISCOVERY_SOURCES: Readonly<Record<SourceName, DiscoverySource>> = SOURCES;

type Schema<K extends SourceName> = (typeof SOURCES)[K]['schema'];

/** The forms of the `discovery` option, as written: one source block, or a {@link Discovery}. */
export type DiscoveryOptions =
  | { [K in SourceName]: { [P in K]: z.input<Schema<K>> } }[SourceName]
  | Discovery;

/** The `discovery` option after parsing. */
export type DiscoveryPolicy =
  | { [K in SourceName]: { [P in K]: z.output<Schema<K>> } }[SourceName]
  | Discovery;

const custom = z.custom<Discovery>(
  (v) => typeof v === 'object' && v !== null && typeof (v as Discovery).subscribe === 'function',
  {
    message: `expected ${Object.keys(DISCOVERY_SOURCES)
      .map((name) => `{ ${name}: {...} }`)
      .join(', ')} or a Discovery object`,
  },
);

const blocks = Object.entries(DISCOVERY_SOURCES).map(([name, source]) =>
  z.strictObject({ [name]: source.schema }),
);

/** The `discovery` option. Default: `{ static: {} }` (no services). */
export const discoveryOption = z
  .union([...blocks, custom] as unknown as [z.ZodType<DiscoveryPolicy, DiscoveryOptions>])
  .default({ static: {} });

/** The source a parsed `discovery` block names, with its options; `undefined` for a Discovery object. */
export function sourceOf(discovery: DiscoveryPolicy): [SourceName, unknown] | undefined {
  if ('subscribe' in discovery && typeof discovery.subscribe === 'function') return undefined;
  const [entry] = Object.entries(discovery) as Array<[SourceName, unknown]>;
  return entry;
}
