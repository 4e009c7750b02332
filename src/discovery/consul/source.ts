/**
 * `discovery: { consul: {...} }`: Consul's health endpoint, kept current with blocking queries
 * ({@link ConsulDiscovery}). The services the block lists are watched from construction on.
 */

import { requirePeer } from '../../errors/peer.js';
import { defineSource } from '../source.js';
import { ConsulDiscovery } from './discovery.js';
import { consulDiscoverySchema } from './options.js';

/** The `consul` discovery source. */
export const consulSource = defineSource({
  schema: consulDiscoverySchema,
  create: ({ services = [], ...consul }, ctx) => {
    // The `consul` package is an optional peer: said at construction, naming the option that needs it.
    requirePeer('consul', 'options.discovery.consul');
    return {
      // CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN fill what the options leave out (ConsulDiscovery reads them).
      discovery: new ConsulDiscovery({ ...consul, clock: ctx.clock, random: ctx.random }),
      watch: services,
    };
  },
});
