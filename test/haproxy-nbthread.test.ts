/**
 * testkit/haproxy.ts's `nbthread` option, which the benchmarks' scaling part uses: the HAProxy
 * process really runs that many threads (read from /proc), and a bad count is refused before
 * HAProxy is started.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HAProxy, haproxyConfig, haproxyInstalled } from '../testkit/haproxy.js';

const threads = (pid: number) =>
  Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

describe('HAProxy nbthread', () => {
  it.runIf(haproxyInstalled() && process.platform === 'linux')('runs the threads asked for', async () => {
    for (const n of [1, 2]) {
      const proxy = await HAProxy.start({ users: ['http://127.0.0.1:1'] }, { nbthread: n });
      try {
        expect(threads(proxy.pid!)).toBe(n);
      } finally {
        await proxy.close();
      }
    }
  });

  it('is absent from the config unless asked for, and refuses a count that is not a positive integer', () => {
    expect(haproxyConfig(1, { users: ['http://127.0.0.1:1'] })).not.toContain('nbthread');
    expect(haproxyConfig(1, { users: ['http://127.0.0.1:1'] }, { nbthread: 2 })).toMatch(
      /^global\n.*\n {2}nbthread 2\n/,
    );
    expect(() => haproxyConfig(1, {}, { nbthread: 0 })).toThrow(/nbthread must be a positive integer/);
    expect(() => haproxyConfig(1, {}, { nbthread: 1.5 })).toThrow(/nbthread must be a positive integer/);
  });
});
