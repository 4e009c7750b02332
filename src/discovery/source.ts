/**
 * A discovery source the `discovery` option can name: the schema of its option block and how to
 * build a {@link Discovery} from it. A source is one file exporting its definition, registered
 * by name in `sources.ts`; the option's forms come from that list.
 */
import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Discovery } from './discovery.js';

/** What a source may use besides its options. */
export interface SourceContext {
  clock: Clock;
  random: () => number;
}

/** What a source builds: the discovery, and the services to watch from the start. */
export interface SourceInstance {
  discovery: Discovery;
  /** Services whose watches start at construction (their endpoints are known before the first request). */
  watch?: readonly string[];
}

/** One discovery source. */
export interface DiscoverySource<Schema extends z.ZodType = z.ZodType> {
  /** The schema of the source's option block (`discovery: { <name>: {...} }`). */
  readonly schema: Schema;
  /** Build the discovery from the parsed block. */
  create(options: z.output<Schema>, ctx: SourceContext): SourceInstance;
}

/** Declare a source (typed, so `create` receives what its schema parses to). */
export function defineSource<Schema extends z.ZodType>(
  source: DiscoverySource<Schema>,
): DiscoverySource<Schema> {
  return source;
}
