/**
 * Generates docs/configuration.md, the reference of every option with its default, from the
 * sources the library itself uses, so the reference cannot drift: `npm run docs:config` rewrites
 * it and test/config-docs.test.ts fails when it is stale.
 *
 * Where each column comes from:
 * - option paths, types and defaults: the zod schema of the sidecar's config file (the options of
 *   `MeshClient` plus the sidecar's own keys); the defaults are the very values parsing applies;
 * - descriptions: the TSDoc of the schema's fields, read through the TypeScript type derived from
 *   the schema (`SidecarConfigFile`), which is what editors show;
 * - defaults the schema cannot hold (Consul's come from the environment, a clock's is the system
 *   clock): the field's `@defaultValue` tag, used only where the schema has no default.
 *
 * An option without a description fails generation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { z } from 'zod';
import { policySchema } from '../src/options/index.js';
import { sidecarConfigSchema, sidecarProcessKeys } from '../src/sidecar/options.js';

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

// ---------------------------------------------------------------- TSDoc, through the derived type

/** Every property's TSDoc under the type `typeName` of `file`, by dotted path (records as `<name>`). */
function typeDocs(file: string, typeName: string): Map<string, Doc> {
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
  // Properties declared in the library (or made by its mapped types, which have no declaration).
  const ours = (prop: ts.Symbol) =>
    !prop.declarations || prop.declarations.some((d) => d.getSourceFile().fileName.startsWith(`${root}src/`));

  const walk = (type: ts.Type, prefix: string, depth: number) => {
    if (depth > 6) return;
    const parts = type.isUnion() ? type.types : [type];
    for (const part of parts) {
      if (!(part.flags & ts.TypeFlags.Object) || part.getCallSignatures().length > 0) continue;
      if (checker.isArrayType(part)) {
        const [element] = checker.getTypeArguments(part as ts.TypeReference);
        if (element) walk(element, `${prefix.replace(/\.$/, '')}[].`, depth + 1);
        continue;
      }
      const index = part.getStringIndexType();
      if (index) walk(index, `${prefix}<name>.`, depth + 1);
      for (const prop of part.getProperties()) {
        if (!ours(prop)) continue;
        const path = `${prefix}${prop.name}`;
        const tag = prop.getJsDocTags(checker).find((t) => t.name === 'defaultValue');
        const text = ts.displayPartsToString(prop.getDocumentationComment(checker));
        if (!docs.has(path) || (!docs.get(path)!.text && text)) {
          docs.set(path, {
            text: oneLine(text),
            defaultValue: tag?.text ? oneLine(ts.displayPartsToString(tag.text)) : undefined,
          });
        }
        const decl = prop.valueDeclaration ?? prop.declarations?.[0];
        const propType = decl ? checker.getTypeOfSymbolAtLocation(prop, decl) : checker.getTypeOfSymbol(prop);
        walk(checker.getNonNullableType(propType), `${path}.`, depth + 1);
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

type Schema = z.core.$ZodType;

function def(schema: Schema): z.core.$ZodTypeDef & Record<string, unknown> {
  return schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
}

/** The schema under optional/default/prefault/readonly wrappers, and the first default met. */
function unwrap(schema: Schema): { core: Schema; defaultValue?: { value: unknown } } {
  let defaultValue: { value: unknown } | undefined;
  let core = schema;
  for (;;) {
    const d = def(core);
    if (d.type === 'default' || d.type === 'prefault') defaultValue ??= { value: d.defaultValue };
    if (d.type === 'pipe') {
      core = d.in as Schema;
      continue;
    }
    if (!['optional', 'default', 'prefault', 'nullable', 'readonly'].includes(d.type)) break;
    core = d.innerType as Schema;
  }
  return { core, defaultValue };
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
    case 'boolean':
      return 'boolean';
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
    case 'transform':
      return typeOf(unwrap(d.in as Schema).core, path);
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

/**
 * Object schemas reachable from `schema` through unions, records and arrays (`retry: false | {...}`),
 * each with what its fields' paths add to the option's: `.`, `.<name>.` or `[].`.
 */
function objectsIn(schema: Schema): Array<[string, Record<string, Schema>]> {
  const d = def(schema);
  if (d.type === 'object') return [['.', d.shape as Record<string, Schema>]];
  if (d.type === 'union') return (d.options as Schema[]).flatMap((o) => objectsIn(unwrap(o).core));
  if (d.type === 'record')
    return objectsIn(unwrap(d.valueType as Schema).core).map(([p, s]) => [`.<name>${p}`, s]);
  if (d.type === 'array') return objectsIn(unwrap(d.element as Schema).core).map(([p, s]) => [`[]${p}`, s]);
  return [];
}

/** Descriptions of the few schema nodes that carry none (a source block of the discovery union). */
const FALLBACK: Record<string, string> = {
  'discovery.static':
    'Static endpoints: `{ service: [url or { url, id, weight, tags, meta }, ...] }`; see `StaticDiscovery`.',
  'discovery.consul': 'Consul blocking queries on the agent; the fields below (see docs/discovery.md).',
  'discovery.dns': 'A/AAAA or SRV names resolved over DNS; the fields below (see docs/kubernetes.md).',
};

function rows(shape: Record<string, Schema>, prefix: string, docs: Map<string, Doc>, out: Row[]): void {
  for (const [key, field] of Object.entries(shape)) {
    const path = `${prefix}${key}`;
    const { core, defaultValue } = unwrap(field);
    const doc = docs.get(path) ?? docs.get(path.replace(/^services\.<name>\./, ''));
    const shown =
      defaultValue !== undefined
        ? `\`${render(defaultValue.value)}\``
        : doc?.defaultValue
          ? doc.defaultValue
          : 'none';
    const text = doc?.text || FALLBACK[path];
    if (!text) throw new Error(`${path} has no description: document its schema field`);
    out.push({
      path,
      type: typeOf(core, path),
      defaultValue: shown,
      description: text.replace(/\|/g, '\\|'),
    });
    if (path === 'services') continue; // the policy options, documented once
    for (const [sub, nested] of objectsIn(core)) rows(nested, `${path}${sub}`, docs, out);
  }
}

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

/** The whole reference, as `docs/configuration.md` must read. */
export function renderConfigDocs(): string {
  const docs = typeDocs('src/sidecar/options.ts', 'SidecarConfigFile');
  const all: Row[] = [];
  rows(def(sidecarConfigSchema).shape as Record<string, Schema>, '', docs, all);
  const processKeys = new Set<string>(sidecarProcessKeys);
  const sections = new Map<string, Row[]>();
  for (const row of all) {
    const top = row.path.split('.')[0]!;
    const section = processKeys.has(top) ? '(sidecar)' : top;
    sections.set(section, [...(sections.get(section) ?? []), row]);
  }
  const policy = Object.keys(def(policySchema).shape as object);
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
    'with the same fields: what it names is layered onto the global option (objects merge field by',
    'field; `false`, arrays and values replace; the fields of `routing` replace as a whole), so a',
    'field it leaves out comes from the global option, and defaults fill what neither names.',
    '',
    'Times are in milliseconds unless the name says otherwise. "none" means the option is unset unless given.',
  ];
  for (const [top, list] of sections) {
    if (top === '(sidecar)') continue;
    out.push('', `## \`${top}\``, '', table(list));
  }
  out.push(
    '',
    '## Sidecar-only keys',
    '',
    'Only in the `mesh-sidecar` config file (see [sidecar.md](sidecar.md)).',
    '',
    table(sections.get('(sidecar)') ?? []),
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
