/**
 * HAProxy with a config of the test's own, for the mutual-TLS interop cases: HAProxy dialing our
 * inbound with a client certificate, or terminating mutual TLS in front of an app.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running HAProxy; `files` are written beside its config, which may name them by `{{name}}`. */
export class HAProxyProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(config: string, files: Record<string, string>, port: number): Promise<HAProxyProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-haproxy-tls-'));
    let text = config;
    for (const [name, content] of Object.entries(files)) {
      const path = join(dir, name);
      writeFileSync(path, content);
      text = text.replaceAll(`{{${name}}}`, path);
    }
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
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
    return new HAProxyProcess(child, dir);
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
