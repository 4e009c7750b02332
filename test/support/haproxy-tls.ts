/**
 * HAProxy with a config of the test's own, for the mutual-TLS interop cases: HAProxy dialing our
 * inbound with a client certificate, or terminating mutual TLS in front of an app.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { spawnHAProxy } from '../../testkit/haproxy.js';

export { freePort } from '../../testkit/haproxy.js';

/** A running HAProxy; `files` are written beside its config, which may name them by `{{name}}`. */
export class HAProxyProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(config: string, files: Record<string, string>, port: number): Promise<HAProxyProcess> {
    return new HAProxyProcess(await spawnHAProxy(config, port, files));
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
