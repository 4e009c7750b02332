/** Listener addresses of the sidecar's config file: `host:port`, checked when the config is read. */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/** A `host:port` option value. */
export const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:15001')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port out of range')
  .refine(validHost, 'not an IP address: expected four numbers 0-255 (IPv4) or [IPv6]');

/** A host that looks like an IP literal must be one (`256.1.1.1` would fail only at listen time). */
function validHost(v: string): boolean {
  const host = v.slice(0, v.lastIndexOf(':'));
  if (host.startsWith('[')) return isIPv6(host.slice(1, -1));
  return /^[\d.]+$/.test(host) ? isIPv4(host) : true;
}

/** A parsed host:port. */
export interface Address {
  host: string;
  port: number;
}

/** Split a validated `host:port` (an IPv6 literal loses its brackets). */
export function address(hostPort: string): Address {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}
