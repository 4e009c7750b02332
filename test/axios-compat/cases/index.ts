/** Every compatibility case, in the order the matrix lists them. */
import type { Case } from '../support/harness.js';
import { basics } from './basics.js';
import { bodies } from './bodies.js';
import { cancel } from './cancel.js';
import { decompress } from './decompress.js';
import { errors } from './errors.js';
import { network } from './network.js';
import { redirects } from './redirects.js';
import { redirectPolicy } from './redirects-policy.js';
import { streams } from './streams.js';
import { timeouts } from './timeouts.js';

export const CASES: readonly Case[] = [
  ...basics,
  ...bodies,
  ...decompress,
  ...redirects,
  ...redirectPolicy,
  ...timeouts,
  ...cancel,
  ...streams,
  ...network,
  ...errors,
];

const ids = new Set<string>();
for (const c of CASES) {
  if (ids.has(c.id)) throw new Error(`duplicate case id ${c.id}`);
  ids.add(c.id);
}
