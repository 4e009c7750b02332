/**
 * HAProxy as a third-party sidecar for interop tests: routes by `Host` to one backend per
 * service, the way a team would put any off-the-shelf proxy beside a service.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when an `haproxy` binary is on PATH. */
export function haproxyInstalled(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The config: a Host-routing frontend and one round-robin backend per service. */
export function haproxyConfig(port: number, services: Record<string, string[]>): string {
  const lines = [
    'global',
    '  maxconn 1024',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  option http-keep-alive',
    `frontend mesh`,
    `  bind 127.0.0.1:${port}`,
  ];
  for (const name of Object.keys(services)) {
    lines.push(`  use_backend be_${name} if { req.hdr(host),field(1,:) -m str ${name} }`);
  }
  for (const [name, urls] of Object.entries(services)) {
    lines.push(`backend be_${name}`, '  balance roundrobin');
    urls.forEach((u, i) => {
      lines.push(`  server s${i} ${new URL(u).host}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

export class HAProxy {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(services: Record<string, string[]>): Promise<HAProxy> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mesh-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, haproxyConfig(port, services));
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // HAProxy says nothing when it is ready: wait until its port accepts, or it exits.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`haproxy did not listen: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new HAProxy(`http://127.0.0.1:${port}`, child);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
