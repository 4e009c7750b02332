/**
 * docs/configuration.md is generated from the options schema (scripts/gen-config-docs.ts); this
 * fails when an option, default or description changed without regenerating it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, renderConfigDocs } from '../scripts/gen-config-docs.js';

describe('docs/configuration.md', () => {
  it('is up to date with the options schema (else: npm run docs:config)', { timeout: 120_000 }, () => {
    const expected = renderConfigDocs();
    const actual = readFileSync(CONFIG_DOC, 'utf8');
    expect(actual === expected, 'docs/configuration.md is stale: run npm run docs:config').toBe(true);
  });

  it('covers every top-level option, the telemetry block included', () => {
    const text = readFileSync(CONFIG_DOC, 'utf8');
    for (const path of [
      'discovery',
      'services',
      'retry.budget.ratio',
      'telemetry.metrics.registry',
      'logger',
      'listen',
    ]) {
      expect(text).toContain(`| \`${path}\` |`);
    }
  });
});
