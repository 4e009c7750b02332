/**
 * HAProxy set up as a sidecar comparable to mesh-sidecar's defaults, for the side-by-side runs of
 * the hostile-input suite: routing by `Host`, `timeout http-request` as the sidecar's
 * `headersTimeout`, the client's keep-alive timeout as its `keepAliveTimeout`.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { spawnHAProxy } from '../../testkit/haproxy.js';
import { freePort } from './wire.js';

export class HostileHAProxy {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(
    services: Record<string, string>,
    timeouts: { httpRequestMs: number; keepAliveMs: number },
  ): Promise<HostileHAProxy> {
    const port = await freePort();
    const lines = [
      'global',
      '  maxconn 1024',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 30s',
      `  timeout http-request ${timeouts.httpRequestMs}ms`,
      `  timeout http-keep-alive ${timeouts.keepAliveMs}ms`,
      '  option http-keep-alive',
      'frontend mesh',
      `  bind 127.0.0.1:${port}`,
      ...Object.keys(services).map(
        (name) => `  use_backend be_${name} if { req.hdr(host),field(1,:) -m str ${name} }`,
      ),
      ...Object.entries(services).flatMap(([name, url]) => [
        `backend be_${name}`,
        `  server s0 ${new URL(url).host}`,
      ]),
    ];
    const child = await spawnHAProxy(`${lines.join('\n')}\n`, port);
    return new HostileHAProxy(port, child);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
