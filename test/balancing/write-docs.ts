/**
 * `npm run sim`: run the balancing simulation (test/balancing/scenarios.ts) and write its table
 * into docs/benchmarks.md, between the `simulation` markers. The runs are deterministic, so the
 * table changes only when the balancers do; test/balancing/balancing.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSimulationTable } from './scenarios.js';

const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
const START = '<!-- simulation:start -->';
const END = '<!-- simulation:end -->';

const doc = readFileSync(DOC, 'utf8');
const at = doc.indexOf(START);
const end = doc.indexOf(END);
if (at < 0 || end < at) throw new Error(`${DOC} has no ${START} ... ${END} section`);
writeFileSync(DOC, `${doc.slice(0, at + START.length)}\n${renderSimulationTable()}\n${doc.slice(end)}`);
process.stdout.write(`wrote the simulation table into ${DOC}\n`);
