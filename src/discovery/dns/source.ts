/**
 * `discovery: { dns: {...} }`: A/AAAA or SRV names resolved with node:dns and re-resolved on
 * their TTL ({@link DnsDiscovery}): Kubernetes headless Services, Consul DNS, any registry that
 * answers DNS. The services the block lists are watched from construction on.
 */

import { defineSource } from '../source.js';
import { DnsDiscovery } from './discovery.js';
import { dnsDiscoverySchema } from './options.js';

/** The `dns` discovery source. */
export const dnsSource = defineSource({
  schema: dnsDiscoverySchema,
  create: (options, ctx) => {
    const discovery = new DnsDiscovery({ ...options, clock: ctx.clock, random: ctx.random });
    return { discovery, watch: discovery.services() };
  },
});
