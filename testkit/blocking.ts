/**
 * The wait of a Consul blocking query, shared by the emulator's health and KV endpoints: hold the
 * response until the watched index moves past the one the client knows, the wait runs out, or
 * the client goes away (https://developer.hashicorp.com/consul/api-docs/features/blocking).
 */
import type { ServerResponse } from 'node:http';

/**
 * Resolve when `moved()` turns true (re-checked each time a waiter in `waiters` is called),
 * after `waitMs`, or when `res` closes.
 */
export function blockUntil(
  res: ServerResponse,
  waiters: Set<() => void>,
  moved: () => boolean,
  waitMs: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
      res.off('close', done);
      resolve();
    };
    const check = () => {
      if (moved()) done();
    };
    const timer = setTimeout(done, waitMs);
    waiters.add(check);
    res.on('close', done);
  });
}
