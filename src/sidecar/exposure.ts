/**
 * Where the sidecar listens, judged: a sidecar serves the one app beside it, so both listeners
 * belong on loopback. On any other address every host that can reach it may use the proxy port
 * (and reach every service the sidecar routes to), and the admin port shows the services,
 * endpoints and policy of the mesh. Both are allowed (a pod network may need it), never silently.
 */
import { isIPv4 } from 'node:net';
import type { Address } from './options.js';

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

function shown(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** One warning per listener that is not on loopback, naming the option. */
export function exposureWarnings(config: { listen: Address; admin: Address }): string[] {
  const warnings: string[] = [];
  const { listen, admin } = config;
  if (!isLoopback(listen.host)) {
    warnings.push(
      `options.listen is ${shown(listen)}, not loopback: any host that reaches it can send through the sidecar to every service it routes to`,
    );
  }
  if (!isLoopback(admin.host)) {
    warnings.push(
      `options.admin is ${shown(admin)}, not loopback: any host that reaches it can read /stats and /metrics`,
    );
  }
  return warnings;
}
