/**
 * Every discovery source, under the name the `discovery` option takes (`{ static: {...} }`,
 * `{ consul: {...} }`). One line per source: the option's forms and the construction both come
 * from here, so a source is its file plus its line below.
 */
export { consulSource as consul } from './consul/source.js';
export { dnsSource as dns } from './dns/source.js';
export { staticSource as static } from './static.js';
