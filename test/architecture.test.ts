/**
 * The shape of the source tree, checked: no import cycles (type-only imports included), the core
 * depends on nothing above it, concerns never import the options assembly (options -> concerns,
 * one way), and the benchmarks use only the public API. Imports are read from the files as
 * text: every `import ... from`, `export ... from` and dynamic `import()` with a relative path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The relative imports of `file`, as repository paths of `.ts` files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(dirname(join(ROOT, file)), spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

/** The import graph among `files`. */
function graphOf(files: string[]): Map<string, string[]> {
  return new Map(files.map((f) => [f, importsOf(f).filter((i) => files.includes(i))]));
}

/** Every cycle of `graph` (file -> files it imports), by Tarjan's strongly connected components. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const f of graph.keys()) if (!index.has(f)) visit(f);
  return found;
}

const library = filesUnder('src').filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.bench.ts'));

describe('source tree', () => {
  it('has no import cycles, type-only imports included', () => {
    expect(cycles(graphOf(library))).toEqual([]);
  });

  it('finds the cycles and imports it is meant to find', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c'], ['e']]);
    // Type-only and re-exporting imports count too.
    expect(importsOf('src/mesh/mesh.ts')).toContain('src/mesh/position.ts');
    expect(importsOf('src/index.ts')).toContain('src/client/client.ts');
  });

  it('keeps core/ free of anything above it', () => {
    const outside = library
      .filter((f) => f.startsWith('src/core/'))
      .flatMap((f) => importsOf(f).map((i) => [f, i]))
      .filter(([, i]) => !i!.startsWith('src/core/'));
    expect(outside).toEqual([]);
  });

  it('has concerns import no part of the options assembly (options -> concerns, one way)', () => {
    const above = ['src/options/', 'src/mesh/', 'src/client/', 'src/sidecar/'];
    const concerns = library.filter((f) => !above.some((a) => f.startsWith(a)) && f !== 'src/index.ts');
    const wrong = concerns
      .flatMap((f) => importsOf(f).map((i) => [f, i]))
      .filter(
        ([, i]) =>
          i === 'src/options/index.ts' || i === 'src/options/schema.ts' || i === 'src/options/merge.ts',
      );
    expect(wrong).toEqual([]);
  });

  it('has the benchmarks use the public API only', () => {
    const internal = filesUnder('bench')
      .flatMap((f) => importsOf(f).map((i) => [f, i]))
      .filter(([, i]) => i!.startsWith('src/'));
    expect(internal).toEqual([]);
  });
});
