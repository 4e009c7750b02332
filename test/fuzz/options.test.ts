/**
 * Property-based fuzzing of the options (fast-check): random JSON, as a config file holds it,
 * given to `new MeshClient()` and to `new Sidecar()`. Each is either accepted (and then closes
 * cleanly) or refused with `MESH_BAD_OPTIONS` whose message names a path under `options`; never
 * another exception.
 *
 * The generator knows every option path (read from docs/configuration.md, which is generated
 * from the schema and checked against it), so random values land deep in the tree as well as at
 * the top, next to unknown keys and prototype names (`__proto__`, `constructor`), built as JSON
 * text so they are own keys, as `JSON.parse` makes them. Runs: `FUZZ_RUNS` (default 150 here;
 * `npm run fuzz` runs many more).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { isMeshError, MeshClient } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { Sidecar } from '../../src/sidecar/sidecar.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

const PATHS = [
  ...readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8').matchAll(
    /^\| `([^`]+)` \|/gm,
  ),
].map((m) => m[1]!);

const NAMES = ['users', 'orders', '__proto__', 'constructor', 'toString', ''];

/** A JSON value: scalars that sit on schema edges, plus arbitrary JSON. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1, 1.5, 65_536, 1e308, Number.MAX_SAFE_INTEGER, '', 'x', true, false, null),
  fc.constantFrom('http://127.0.0.1:1', '127.0.0.1:0', 'round-robin', 'peak-ewma', 'direct', 'sidecar'),
  fc.constantFrom('[::1]:0', '0.0.0.0:0', '256.1.1.1:1', 'http://u:p@127.0.0.1:1', '__proto__'),
  fc.integer({ min: -10, max: 100_000 }),
  fc.double({ noNaN: true }).filter(Number.isFinite),
  fc.string({ maxLength: 12 }),
  fc.array(fc.oneof(fc.integer({ min: 0, max: 600 }), fc.constantFrom('http://127.0.0.1:1', 'a')), {
    maxLength: 3,
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Set `v` at a dotted path (`<name>` picks a service name) in a tree of JSON entries. */
type Tree = Map<string, Tree | { leaf: unknown }>;
function put(tree: Tree, path: string[], v: unknown, name: string): void {
  const [head, ...rest] = path;
  const key = head === '<name>' ? name : head!;
  if (rest.length === 0) {
    tree.set(key, { leaf: v });
    return;
  }
  let sub = tree.get(key);
  if (!(sub instanceof Map)) tree.set(key, (sub = new Map()));
  put(sub, rest, v, name);
}

/** JSON text of a tree: keys written as given, so `__proto__` stays an own key after parsing. */
function text(node: Tree | { leaf: unknown }): string {
  if (!(node instanceof Map)) return JSON.stringify(node.leaf) ?? 'null';
  return `{${[...node].map(([k, v]) => `${JSON.stringify(k)}:${text(v)}`).join(',')}}`;
}

/** A random config: some known paths (and services.<name>.<policy path>), some unknown keys. */
const config = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...PATHS), value, fc.constantFrom(...NAMES)), { maxLength: 6 }),
    fc.array(fc.tuple(fc.constantFrom('nope', '__proto__', 'constructor', 'retry.nope'), value), {
      maxLength: 2,
    }),
    fc.boolean(),
  )
  .map(([known, unknown, serviceScoped]) => {
    const tree: Tree = new Map();
    // Sidecar-only keys must stay off real ports: listen and admin default to free ones here.
    put(tree, ['listen'], '127.0.0.1:0', '');
    put(tree, ['admin'], '127.0.0.1:0', '');
    for (const [path, v, name] of known) {
      const parts = path.split('.');
      const scoped = serviceScoped && !['discovery', 'services', 'listen', 'admin'].includes(parts[0]!);
      put(tree, scoped ? ['services', name, ...parts] : parts, v, name);
    }
    for (const [path, v] of unknown) put(tree, path.split('.'), v, '');
    return JSON.parse(text(tree)) as unknown;
  });

/** Accepted, or MESH_BAD_OPTIONS naming a path; anything else is returned as the failure. */
async function verdict(build: () => { close(): Promise<void> }): Promise<void> {
  let built: { close(): Promise<void> };
  try {
    built = build();
  } catch (err) {
    if (!isMeshError(err, 'MESH_BAD_OPTIONS')) throw err;
    expect(err.message).toMatch(/^MESH_BAD_OPTIONS: options([.[:]|$)/);
    return;
  }
  await built.close();
}

describe('options, fuzzed', () => {
  it('knows the option paths it fuzzes', () => {
    expect(PATHS).toContain('retry.budget.ratio');
    expect(PATHS).toContain('maxConnections');
  });

  it('new MeshClient(random JSON): accepted or MESH_BAD_OPTIONS naming a path', {
    timeout: 300_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(config, (raw) => verdict(() => new MeshClient(raw as never))),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('new Sidecar(random JSON): accepted or MESH_BAD_OPTIONS naming a path', {
    timeout: 300_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(config, (raw) => verdict(() => new Sidecar(raw))),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('arbitrary JSON at the top: the same', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), (raw) => verdict(() => new Sidecar(raw))),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
