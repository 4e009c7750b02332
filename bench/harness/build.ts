/**
 * A plain-JavaScript copy of `src/` for the sidecar process, so mesh-sidecar runs the way it is
 * deployed (`node dist/sidecar/cli.js`) rather than under the tsx loader, whose compiler and
 * caches would add some 30 MB to the RSS the comparison reports. Made fresh at the start of every
 * run from the current sources (never from a possibly stale `dist/`), file by file with
 * TypeScript's `transpileModule` (no type check: `npm run typecheck` does that), into a folder
 * under bench/results/ (git-ignored) so the repository's node_modules resolve.
 *
 * When anything goes wrong the sidecar runs from the sources under tsx instead (noted in the
 * report).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root (bench/..). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** How to start the sidecar CLI: node arguments before `-c <config>`. */
export interface SidecarCommand {
  args: string[];
  /** `build` (plain node on a fresh JS copy) or `tsx` (the sources, through the loader). */
  mode: 'build' | 'tsx';
}

const TSX: SidecarCommand = { args: ['--import', 'tsx', join(ROOT, 'src/sidecar/cli.ts')], mode: 'tsx' };
let cached: SidecarCommand | undefined;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (
      entry.name.endsWith('.ts') &&
      !entry.name.endsWith('.test.ts') &&
      !entry.name.endsWith('.d.ts')
    ) {
      out.push(path);
    }
  }
  return out;
}

/** Transpile src/ once per process; falls back to tsx on any error. */
export function sidecarCommand(): SidecarCommand {
  if (cached) return cached;
  const outDir = join(ROOT, 'bench', 'results', '.sidecar-build');
  try {
    rmSync(outDir, { recursive: true, force: true });
    const options: ts.CompilerOptions = {
      // ES modules out (the package is "type": "module"); NodeNext would guess CommonJS per file here.
      module: ts.ModuleKind.ES2022,
      target: ts.ScriptTarget.ES2023,
      verbatimModuleSyntax: true,
      sourceMap: false,
    };
    for (const file of sources(join(ROOT, 'src'))) {
      const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: options,
        fileName: file,
        reportDiagnostics: true,
      });
      if (diagnostics?.length)
        throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
      const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, outputText);
    }
    cached = { args: [join(outDir, 'src/sidecar/cli.js')], mode: 'build' };
  } catch {
    cached = TSX;
  }
  return cached;
}
