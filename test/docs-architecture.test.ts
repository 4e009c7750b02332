/** docs/architecture.md's stage table is the code's: same roles, order, layers and options. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STACK } from '../src/mesh/stack.js';

const DOC = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8');

/** The rows of the table whose header starts with `| role |`. */
function stageRows(): Array<{ role: string; layer: string; options: string[] }> {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| role |'));
  const rows = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [role, layer, options] = line
      .split('|')
      .slice(1, 4)
      .map((c) => c.trim());
    rows.push({
      role: role!.replace(/`/g, ''),
      layer: layer!,
      options: [...options!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
    });
  }
  return rows;
}

describe('docs/architecture.md', () => {
  it('lists every stage of the table in order, with its layer and options', () => {
    expect(stageRows()).toEqual(
      STACK.map((s) => ({ role: s.role, layer: s.layer, options: s.options.map((o) => o.path) })),
    );
  });
});
