/**
 * HAProxy set up as a sidecar comparable to mesh-sidecar's defaults, for the side-by-side runs of
 * the hostile-input suite: routing by `Host`, `timeout http-request` as the sidecar's
 * `headersTimeout`, the client's keep-alive timeout as its `keepAliveTimeout`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    const dir = mkdtempSync(join(tmpdir(), 'mesh-hostile-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // HAProxy prints nothing when ready: poll its port until it accepts, or it exits.
    for (let tries = 0; ; tries++) {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (tries > 500) throw new Error(`haproxy did not listen: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new HostileHAProxy(port, child);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
