/**
 * Generates docs/configuration.md, the reference of every option with its default, from the
 * options schema itself (`optionsSchema` in src/options.ts), so the reference cannot drift:
 * `npm run docs:config` rewrites it and test/config-docs.test.ts fails when it is stale.
 *
 * Where each column comes from:
 * - option paths, types and defaults: the zod schema (the defaults are the very values parsing
 *   applies; nested objects are walked through unions, optionals, defaults and prefaults);
 * - descriptions: the TSDoc of the option's TypeScript interface (what editors show), else the
 *   schema's `.describe()` text;
 * - defaults the schema cannot hold (Consul's come from the environment, the sidecar-only keys
 *   live in another schema): the TSDoc `@defaultValue`.
 *
 * Where the schema and the TSDoc both state a literal default, they must agree: generation fails
 * otherwise, which catches a default changed in one place only. The sidecar-only keys are checked
 * against what `parseSidecarConfig({})` actually applies.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { z } from 'zod';
import { optionsSchema } from '../src/options.js';
import { parseSidecarConfig } from '../src/sidecar/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Where the reference is written. */
export const CONFIG_DOC = `${root}docs/configuration.md`;

interface Doc {
  text: string;
  defaultValue: string | undefined;
}

interface Row {
  path: string;
  type: string;
  defaultValue: string;
  description: string;
}

// ---------------------------------------------------------------- TSDoc of the option interfaces

/** Every property's TSDoc under `typeName`, by dotted path (index signatures as `<name>`). */
function interfaceDocs(file: string, typeName: string): Map<string, Doc> {
  const program = ts.createProgram([`${root}${file}`], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    strict: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(`${root}${file}`);
  if (!source) throw new Error(`cannot read ${file}`);
  const moduleSymbol = checker.getSymbolAtLocation(source)!;
  const symbol = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === typeName);
  if (!symbol) throw new Error(`${file} exports no ${typeName}`);
  const docs = new Map<string, Doc>();
  const ours = (type: ts.Type) =>
    (type.getSymbol()?.declarations ?? []).some((d) => d.getSourceFile().fileName.startsWith(`${root}src/`));

  const walk = (type: ts.Type, prefix: string, depth: number) => {
    if (depth > 5) return;
    const parts = type.isUnion() ? type.types : [type];
    for (const part of parts) {
      if (!(part.flags & ts.TypeFlags.Object) || !ours(part) || part.getCallSignatures().length > 0) continue;
      const index = part.getStringIndexType();
      if (index) walk(index, `${prefix}<name>.`, depth + 1);
      for (const prop of part.getProperties()) {
        const path = `${prefix}${prop.name}`;
        const tag = prop.getJsDocTags(checker).find((t) => t.name === 'defaultValue');
        const text = ts.displayPartsToString(prop.getDocumentationComment(checker));
        if (!docs.has(path)) {
          docs.set(path, {
            text: oneLine(text),
            defaultValue: tag?.text ? oneLine(ts.displayPartsToString(tag.text)) : undefined,
          });
        }
        const decl = prop.valueDeclaration ?? prop.declarations?.[0];
        if (decl)
          walk(
            checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(prop, decl)),
            `${path}.`,
            depth + 1,
          );
      }
    }
  };
  walk(checker.getDeclaredTypeOfSymbol(symbol), '', 0);
  return docs;
}

/** TSDoc as one Markdown line: `{@link X}` becomes `X`. */
function oneLine(text: string): string {
  return text
    .replace(
      /\{@link\s+([^}|\s]+)(?:\s*\|\s*([^}]+))?\}/g,
      (_, name: string, label?: string) => `\`${label ?? name}\``,
    )
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

// ---------------------------------------------------------------- the zod schema

type Schema = z.core.$ZodType & { description?: string };

function def(schema: Schema): z.core.$ZodTypeDef & Record<string, unknown> {
  return schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
}

/** The schema under optional/default/prefault wrappers, the first default met, and any description. */
function unwrap(schema: Schema): { core: Schema; defaultValue?: { value: unknown }; description?: string } {
  let description = schema.description;
  let defaultValue: { value: unknown } | undefined;
  let core = schema;
  for (;;) {
    const d = def(core);
    if (d.type === 'default' || d.type === 'prefault') defaultValue ??= { value: d.defaultValue };
    if (d.type !== 'optional' && d.type !== 'default' && d.type !== 'prefault' && d.type !== 'nullable')
      break;
    core = d.innerType as Schema;
    description ??= core.description;
  }
  return { core, defaultValue, description };
}

function typeOf(schema: Schema, path: string): string {
  const d = def(schema);
  switch (d.type) {
    case 'union':
      return (d.options as Schema[]).map((o) => typeOf(unwrap(o).core, path)).join(' \\| ');
    case 'literal':
      return (d.values as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
    case 'enum':
      return Object.values(d.entries as Record<string, string>)
        .map((v) => `'${v}'`)
        .join(' \\| ');
    case 'number': {
      const checks = ((d.checks as unknown as Array<{ _zod: { def: Record<string, unknown> } }>) ?? []).map(
        (c) => c._zod.def,
      );
      const integer = checks.some((c) => c.check === 'number_format');
      const bounds = checks.flatMap((c) => {
        if (c.check === 'greater_than') return [`${c.inclusive ? '≥' : '>'} ${c.value}`];
        if (c.check === 'less_than') return [`${c.inclusive ? '≤' : '<'} ${c.value}`];
        return [];
      });
      return `${integer ? 'integer' : 'number'}${bounds.length ? ` (${bounds.join(', ')})` : ''}`;
    }
    case 'string':
      return d.format === 'url' ? 'URL' : 'string';
    case 'array': {
      const element = typeOf(unwrap(d.element as Schema).core, path);
      return element.includes(' ') ? `(${element})[]` : `${element}[]`;
    }
    case 'record':
      return `{ [name]: ${typeOf(unwrap(d.valueType as Schema).core, path)} }`;
    case 'object': {
      const keys = Object.keys(d.shape as object);
      return keys.length === 1 ? `{ ${keys[0]} }` : 'object';
    }
    case 'custom':
      return customType(path);
    case 'unknown':
      return 'any';
    default:
      return String(d.type);
  }
}

function render(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(render).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => `${k}: ${render(v)}`);
    return entries.length ? `{ ${entries.join(', ')} }` : '{}';
  }
  return String(value);
}

/** Object schemas reachable from `schema` through unions (the shape of `retry: false | {...}`). */
function objectsIn(schema: Schema): Array<Record<string, Schema>> {
  const d = def(schema);
  if (d.type === 'object') return [d.shape as Record<string, Schema>];
  if (d.type === 'union') return (d.options as Schema[]).flatMap((o) => objectsIn(unwrap(o).core));
  return [];
}

function rows(shape: Record<string, Schema>, prefix: string, docs: Map<string, Doc>, out: Row[]): void {
  for (const [key, field] of Object.entries(shape)) {
    const path = `${prefix}${key}`;
    const { core, defaultValue, description } = unwrap(field);
    const doc = docs.get(path.replace(/^services\.<name>\./, ''));
    const schemaDefault = defaultValue === undefined ? undefined : render(defaultValue.value);
    const tsDefault = doc?.defaultValue;
    if (schemaDefault !== undefined && tsDefault && /^`[^`]*`$/.test(tsDefault)) {
      if (tsDefault.slice(1, -1).replace(/\s/g, '') !== schemaDefault.replace(/\s/g, '')) {
        throw new Error(`${path}: the schema's default ${schemaDefault} and the TSDoc's ${tsDefault} differ`);
      }
    }
    const shown =
      tsDefault && (schemaDefault === undefined || schemaDefault === '{}')
        ? tsDefault
        : schemaDefault === undefined
          ? 'none'
          : `\`${schemaDefault}\``;
    const text = doc?.text || description || FALLBACK[path];
    if (!text)
      throw new Error(`${path} has no description: add .describe() to its schema or TSDoc to its type`);
    out.push({
      path,
      type: typeOf(core, path),
      defaultValue: shown,
      description: text.replace(/\|/g, '\\|'),
    });
    if (path === 'services') continue; // documented once, below
    for (const nested of objectsIn(core)) rows(nested, `${path}.`, docs, out);
  }
}

/** Descriptions of the few schema nodes that carry none (union branches). */
const FALLBACK: Record<string, string> = {
  'discovery.static':
    'Static endpoints: `{ service: [url or { url, id, weight, tags, meta }, ...] }`; see `StaticDiscovery`.',
  'discovery.consul': 'Consul blocking queries on the agent; the fields below (see docs/discovery.md).',
};

/** The TypeScript type users pass for the options the schema can only check by shape. */
function customType(path: string): string {
  const known: Record<string, string> = {
    discovery: '`Discovery`',
    clock: '`Clock`',
    random: '`() => number`',
    logger: '`Logger` (pino, console)',
    'telemetry.metrics.registry': 'prom-client `Registry`',
    'telemetry.tracing.tracer': 'OpenTelemetry `Tracer`',
  };
  return known[path] ?? 'object';
}

// ---------------------------------------------------------------- the document

function table(list: Row[]): string {
  const lines = ['| option | type | default | description |', '|---|---|---|---|'];
  for (const r of list) lines.push(`| \`${r.path}\` | ${r.type} | ${r.defaultValue} | ${r.description} |`);
  return lines.join('\n');
}

/** The sidecar-only keys, from their TSDoc, checked against the defaults parsing applies. */
function sidecarRows(): Row[] {
  const docs = interfaceDocs('src/sidecar/config.ts', 'SidecarProcessOptions');
  const { mesh: _, ...applied } = parseSidecarConfig({}) as unknown as Record<string, unknown>;
  const keys = [...docs.keys()];
  if (Object.keys(applied).sort().join() !== [...keys].sort().join()) {
    throw new Error(
      `sidecar keys ${keys.join()} differ from SidecarProcessOptions ${[...docs.keys()].join()}`,
    );
  }
  return keys.map((key) => {
    const value = applied[key] as unknown;
    const actual =
      typeof value === 'object' && value !== null
        ? `'${(value as { host: string }).host}:${(value as { port: number }).port}'`
        : render(value);
    const doc = docs.get(key)!;
    if (doc.defaultValue !== `\`${actual}\``) {
      throw new Error(`sidecar ${key}: TSDoc default ${doc.defaultValue} but parsing applies ${actual}`);
    }
    return {
      path: key,
      type: typeof value === 'number' ? 'integer' : 'string',
      defaultValue: doc.defaultValue,
      description: doc.text,
    };
  });
}

/** The whole reference, as `docs/configuration.md` must read. */
export function renderConfigDocs(): string {
  const docs = interfaceDocs('src/options.ts', 'MeshClientOptions');
  const all: Row[] = [];
  rows(def(optionsSchema as Schema).shape as Record<string, Schema>, '', docs, all);
  const sections = new Map<string, Row[]>();
  for (const row of all) {
    const top = row.path.split('.')[0]!;
    sections.set(top, [...(sections.get(top) ?? []), row]);
  }
  const policy = Object.keys(def(optionsSchema as Schema).shape as object).filter((k) =>
    ['mode', 'sidecar', 'loadBalancer', 'retry', 'circuitBreaker', 'timeout', 'axios'].includes(k),
  );
  const out = [
    '<!-- Generated by scripts/gen-config-docs.ts from the options schema: do not edit; run `npm run docs:config`. -->',
    '',
    '# Configuration reference',
    '',
    'Every option of `new MeshClient(options)` and of the `mesh-sidecar` config file (the same',
    'object, plus the sidecar-only keys at the end), with its default. A bad value fails construction',
    "(or the sidecar's start, exit status 2) with `MESH_BAD_OPTIONS` naming its path, e.g.",
    '`options.retry.attempts: Too small: expected number to be >=1`.',
    '',
    `**Per service.** \`services.<name>\` takes any of the policy options (${policy.map((p) => `\`${p}\``).join(', ')})`,
    'with the same fields and no defaults of its own: a field it leaves out comes from the global',
    'option; `false` (for `retry`, `circuitBreaker`, `budget`) replaces; objects merge field by field.',
    '',
    'Times are in milliseconds unless the name says otherwise. "none" means the option is unset unless given.',
  ];
  for (const [top, list] of sections) {
    out.push('', `## \`${top}\``, '', table(list));
  }
  out.push(
    '',
    '## Sidecar-only keys',
    '',
    'Only in the `mesh-sidecar` config file (see [sidecar.md](sidecar.md)).',
    '',
    table(sidecarRows()),
    '',
  );
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderConfigDocs();
  if (process.argv.includes('--check')) {
    if (readFileSync(CONFIG_DOC, 'utf8') !== text) {
      process.stderr.write('docs/configuration.md is stale: run npm run docs:config\n');
      process.exit(1);
    }
  } else {
    writeFileSync(CONFIG_DOC, text);
    process.stdout.write(`wrote ${CONFIG_DOC}\n`);
  }
}
