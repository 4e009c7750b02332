/**
 * A plain-JavaScript copy of `src/` for the sidecar process, so mesh-sidecar runs the way it is
 * deployed (`node dist/sidecar/cli.js`) rather than under the tsx loader, whose compiler and
 * caches would add some 30 MB to the RSS the comparison reports. Made from the current sources
 * (never from a possibly stale `dist/`), file by file with TypeScript's `transpileModule` (no
 * type check: `npm run typecheck` does that), into a folder under bench/results/ (git-ignored)
 * so the repository's node_modules resolve. The floor proxy (./node-proxy.ts) is built the same
 * way, so both proxies are plain `node` processes, and so is the client `npm run bench:profile`
 * profiles (./client-load.ts): tsx's transform (which wraps every closure it creates in a naming
 * helper) would otherwise show in the client's profile.
 *
 * Each build goes into a folder named by a hash of its sources, written under a temporary name
 * and renamed into place: processes that build at the same time (a test file beside a demo
 * run) never see a half-written copy, and a copy a running proxy uses is never deleted under it.
 * Copies unused for a day are removed.
 *
 * When anything goes wrong the proxy runs from the sources under tsx instead (noted in the
 * report).
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root (bench/..). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** How to start a proxy: node arguments before its own. */
export interface SidecarCommand {
  args: string[];
  /** `build` (plain node on a fresh JS copy) or `tsx` (the sources, through the loader). */
  mode: 'build' | 'tsx';
}

const DAY_MS = 24 * 3600 * 1000;

/** Bare specifiers and the source files they stand for. */
type Aliases = Readonly<Record<string, string>>;

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
  return out.sort();
}

/**
 * Transpile `files` (under ROOT) into `outDir`, keeping their paths; throws on a syntax error.
 * `aliases` maps a bare specifier (`mesh-client`) to the source file it stands for (as tsconfig's
 * `paths` do for tsx); imports of it are rewritten to that file's copy.
 */
function transpile(files: ReadonlyMap<string, string>, outDir: string, aliases: Aliases = {}): void {
  const options: ts.CompilerOptions = {
    // ES modules out (the package is "type": "module"); NodeNext would guess CommonJS per file here.
    module: ts.ModuleKind.ES2022,
    target: ts.ScriptTarget.ES2023,
    verbatimModuleSyntax: true,
    sourceMap: false,
  };
  for (const [file, text] of files) {
    const { outputText, diagnostics } = ts.transpileModule(text, {
      compilerOptions: options,
      fileName: file,
      reportDiagnostics: true,
    });
    if (diagnostics?.length)
      throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
    const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
    let js = outputText;
    for (const [specifier, source] of Object.entries(aliases)) {
      const copy = join(outDir, relative(ROOT, source)).replace(/\.ts$/, '.js');
      let path = relative(dirname(target), copy);
      if (!path.startsWith('.')) path = `./${path}`;
      js = js.replaceAll(`from '${specifier}'`, `from '${path}'`);
    }
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
}

/**
 * The JS copy of `files` under bench/results/`name`/<hash of the sources>/, made unless it exists;
 * returns the path of `entry` (a .ts path under ROOT) in it.
 */
function build(name: string, files: readonly string[], entry: string, aliases: Aliases = {}): string {
  const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
  const hash = createHash('sha256');
  for (const [file, text] of texts) hash.update(`${relative(ROOT, file)}\0${text}\0`);
  const base = join(ROOT, 'bench', 'results', name);
  const outDir = join(base, hash.digest('hex').slice(0, 16));
  const entryOut = join(outDir, relative(ROOT, entry)).replace(/\.ts$/, '.js');
  if (!existsSync(outDir)) {
    const tmp = `${outDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    transpile(texts, tmp, aliases);
    try {
      renameSync(tmp, outDir);
    } catch (err) {
      // Another process put the same build in place first: use that one.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(outDir)) throw err;
    }
  } else {
    // Marks it used, so the pruning below in another process keeps it.
    const at = new Date();
    utimesSync(outDir, at, at);
  }
  const now = Date.now();
  for (const other of readdirSync(base)) {
    const path = join(base, other);
    if (path === outDir) continue;
    try {
      if (now - statSync(path).mtimeMs > DAY_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by another process meanwhile
    }
  }
  return entryOut;
}

let sidecar: SidecarCommand | undefined;

/** How to start the sidecar CLI (before `-c <config>`): built once per process, else tsx. */
export function sidecarCommand(): SidecarCommand {
  if (sidecar) return sidecar;
  const cli = join(ROOT, 'src', 'sidecar', 'cli.ts');
  try {
    sidecar = { args: [build('.sidecar-build', sources(join(ROOT, 'src')), cli)], mode: 'build' };
  } catch {
    sidecar = { args: ['--import', 'tsx', cli], mode: 'tsx' };
  }
  return sidecar;
}

let floor: SidecarCommand | undefined;

/** How to start the floor proxy (./node-proxy.ts): built once per process, else tsx. */
export function floorCommand(): SidecarCommand {
  if (floor) return floor;
  const source = join(ROOT, 'bench', 'harness', 'node-proxy.ts');
  try {
    floor = { args: [build('.node-proxy-build', [source], source)], mode: 'build' };
  } catch {
    floor = { args: ['--import', 'tsx', source], mode: 'tsx' };
  }
  return floor;
}

let clientLoad: SidecarCommand | undefined;

/** How to start the profiled client process (./client-load.ts, with src/): built once per process, else tsx. */
export function clientLoadCommand(): SidecarCommand {
  if (clientLoad) return clientLoad;
  const source = join(ROOT, 'bench', 'harness', 'client-load.ts');
  try {
    const files = [...sources(join(ROOT, 'src')), source];
    const aliases = { 'mesh-client': join(ROOT, 'src', 'index.ts') };
    clientLoad = { args: [build('.client-load-build', files, source, aliases)], mode: 'build' };
  } catch {
    clientLoad = { args: ['--import', 'tsx', source], mode: 'tsx' };
  }
  return clientLoad;
}
