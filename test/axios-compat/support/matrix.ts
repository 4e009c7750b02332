/**
 * The table of outcomes per case and target, written to MATRIX.md when the whole suite ran
 * (a filtered run leaves the file alone): pass counts per target, then every case with what
 * each target did, then the failing cells with the reason recorded for them.
 */
import { writeFileSync } from 'node:fs';
import type { Case, TargetName } from './harness.js';
import { TARGETS } from './harness.js';

export interface Cell {
  pass: boolean;
  observed: string;
}

export class Matrix {
  readonly #cells = new Map<string, Map<TargetName, Cell>>();

  constructor(readonly cases: readonly Case[]) {}

  record(id: string, target: TargetName, cell: Cell): void {
    let row = this.#cells.get(id);
    if (!row) this.#cells.set(id, (row = new Map()));
    row.set(target, cell);
  }

  get complete(): boolean {
    return this.cases.every((c) => this.#cells.get(c.id)?.size === TARGETS.length);
  }

  passes(target: TargetName): number {
    return this.cases.filter((c) => this.#cells.get(c.id)?.get(target)?.pass).length;
  }

  render(): string {
    const total = this.cases.length;
    const lines = [
      '# axios compatibility matrix',
      '',
      'Written by `npx vitest run test/axios-compat` (do not edit by hand). Each case runs against',
      'plain axios, the mesh on the default transport (`mesh`) and on `transport: "undici"`',
      '(`mesh-undici`), against real loopback servers. A case expects what plain axios does, or,',
      "where the mesh differs on purpose, the mesh's documented behaviour (see docs/axios.md).",
      '',
      '| target | passing |',
      '|---|---|',
      ...TARGETS.map((t) => `| ${t} | ${this.passes(t)} / ${total} |`),
      '',
      '| case | expected | axios | mesh | mesh-undici |',
      '|---|---|---|---|---|',
    ];
    const failures: string[] = [];
    for (const c of this.cases) {
      const row = this.#cells.get(c.id);
      const expected = c.mesh ? `${c.expect.label}; mesh: ${c.mesh.label}` : c.expect.label;
      const cells = TARGETS.map((t) => {
        const cell = row?.get(t);
        if (!cell) return 'not run';
        if (cell.pass) return 'pass';
        failures.push(`- \`${c.id}\` on ${t}: got ${cell.observed}`);
        return `**FAIL**: ${md(cell.observed)}`;
      });
      lines.push(`| ${c.id} | ${md(expected)} | ${cells.join(' | ')} |`);
    }
    lines.push('', '## Failing cells', '', ...(failures.length ? failures : ['None.']), '');
    return lines.join('\n');
  }

  write(path: string): void {
    writeFileSync(path, this.render());
  }
}

function md(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
