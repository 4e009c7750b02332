/**
 * Validation with errors a person can act on: every problem becomes one `MESH_BAD_OPTIONS`
 * message naming the option's path (`options.retry.attempts: Too small: ...`); for a union, the
 * branch that got furthest is reported, so the message names the deepest bad option.
 */
import type { z } from 'zod';
import { MeshError } from './mesh-error.js';

/** Validate `raw` against `schema`; throws `MESH_BAD_OPTIONS` naming the offending path under `root`. */
export function parseWith(schema: z.ZodType, raw: unknown, root: string): unknown {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new MeshError('MESH_BAD_OPTIONS', describeIssues(result.error.issues, root));
}

type Issue = z.core.$ZodIssue;

function describeIssues(issues: readonly Issue[], root: string): string {
  return issues
    .map((issue) => describeIssue(issue, []))
    .map(([path, msg]) => `${formatPath(root, path)}: ${msg}`)
    .join('; ');
}

/** For a union, report the branch that got furthest, so the message names the deepest bad option. */
function describeIssue(issue: Issue, prefix: PropertyKey[]): [PropertyKey[], string] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') return [[...path, issue.keys[0]!], 'unknown option'];
  if (issue.code === 'invalid_union' && issue.errors.length) {
    const branches = issue.errors.filter((b) => b.length);
    const deepest = branches.reduce((best, b) =>
      Math.max(...b.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 1 : 0))) >
      Math.max(...best.map((i) => i.path.length + (i.code === 'unrecognized_keys' ? 1 : 0)))
        ? b
        : best,
    );
    const first = deepest[0];
    const deep = first && (first.path.length > 0 || first.code === 'unrecognized_keys');
    if (first && deep) return describeIssue(first, path);
    return [path, unionMessage(branches) ?? issue.message];
  }
  return [path, issue.message];
}

/** `expected "a"|"b" or object, received string` from the branches' type and value issues. */
function unionMessage(branches: Issue[][]): string | undefined {
  const expected: string[] = [];
  let received = '';
  for (const [issue] of branches) {
    if (issue?.code === 'invalid_type') {
      expected.push(issue.expected);
      received ||= /received (\w+)/.exec(issue.message)?.[1] ?? '';
    } else if (issue?.code === 'invalid_value') {
      expected.push(issue.values.map((v) => JSON.stringify(v)).join('|'));
    } else if (issue?.code === 'custom') {
      return issue.message;
    } else {
      return undefined;
    }
  }
  return `Invalid input: expected ${expected.join(' or ')}${received ? `, received ${received}` : ''}`;
}

function formatPath(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const p of path) {
    out +=
      typeof p === 'number'
        ? `[${p}]`
        : /^[A-Za-z_$][\w$]*$/.test(String(p))
          ? `.${String(p)}`
          : `[${JSON.stringify(String(p))}]`;
  }
  return out;
}
