/**
 * Every example runs as the README says (`npx tsx examples/<name>.ts`), exits 0, and leaves no
 * process behind. Each runs as the leader of a process group of its own, so whatever it started
 * (HAProxy, the compiler service of tsx) is found by group after it exits. The HAProxy example
 * runs where haproxy is installed; the Consul example runs against the Consul emulator, and
 * once without any agent, where it must say what it needs and exit 1.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { haproxyInstalled } from '../testkit/haproxy.js';
import { cleanEnv, ROOT } from './packaging/scratch.js';

const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));

/** Processes (not zombies) whose process group is `pgid`, with their command lines. */
function group(pgid: number): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) {
        found.push(`${entry}: ${readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
      }
    } catch {
      // The process ended while being read.
    }
  }
  return found;
}

/** Run one example to its end; its exit code, output, and what it left running. */
async function runExample(file: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', join('examples', file)], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const pgid = child.pid!;
  const closed = once(child, 'close');
  const [code] = (await once(child, 'exit')) as [number | null];
  // The pipes close when every process holding them has ended: the example's children included.
  // One still open after 10 s is a process left behind, which the group scan then names.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
  const left = group(pgid);
  if (left.length > 0) process.kill(-pgid, 'SIGKILL');
  return { code, out, left };
}

let consul: ConsulEmulator;
beforeAll(async () => {
  consul = await ConsulEmulator.start();
});
afterAll(async () => {
  await consul.close();
});

describe('examples', () => {
  it('are all covered here', () => {
    expect(EXAMPLES.sort()).toEqual(['basic.ts', 'canary.ts', 'consul.ts', 'haproxy.ts', 'sidecar.ts']);
  });

  for (const file of ['basic.ts', 'canary.ts', 'sidecar.ts']) {
    it(`${file} exits 0 and leaves nothing running`, async () => {
      const { code, out, left } = await runExample(file);
      expect(code, out).toBe(0);
      expect(left).toEqual([]);
    }, 60_000);
  }

  it.skipIf(!haproxyInstalled())(
    'haproxy.ts exits 0 and stops HAProxy',
    async () => {
      const { code, out, left } = await runExample('haproxy.ts');
      expect(code, out).toBe(0);
      expect(out).toContain('through HAProxy:');
      expect(out).toContain('after HAProxy stopped:');
      expect(left).toEqual([]);
    },
    60_000,
  );

  it('consul.ts registers, calls itself through Consul and shuts down gracefully', async () => {
    const { code, out, left } = await runExample('consul.ts', {
      CONSUL_HTTP_ADDR: consul.address,
      EXAMPLE_EXIT_AFTER_CALL: '1',
      DRAIN_GRACE_MS: '0',
    });
    expect(code, out).toBe(0);
    expect(out).toMatch(/called hello: \{"service":"hello"/);
    expect(out).toContain('bye');
    expect(left).toEqual([]);
  }, 60_000);

  it('consul.ts without an agent says what it needs and how to get it, and exits 1', async () => {
    const { code, out, left } = await runExample('consul.ts', { CONSUL_HTTP_ADDR: '127.0.0.1:1' });
    expect(code).toBe(1);
    expect(out).toContain('examples/consul.ts needs a Consul agent at 127.0.0.1:1 (CONSUL_HTTP_ADDR)');
    expect(out).toContain('consul agent -dev');
    expect(out).not.toMatch(/^\s+at /m);
    expect(left).toEqual([]);
  }, 60_000);
});
