/**
 * The wait of a Consul blocking query, shared by the emulator's health, catalog and KV endpoints:
 * hold the response until the watched index moves past the one the client knows, the wait runs out,
 * the state store is abandoned (a snapshot restore: Consul wakes every blocking query then, and they
 * answer with the restored, lower index), or the client goes away
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking).
 */
import type { ServerResponse } from 'node:http';

/** The blocking queries waiting on one emulator. */
export class Waiters {
  readonly #checks = new Set<(abandoned: boolean) => void>();

  /** How many are waiting right now. */
  get size(): number {
    return this.#checks.size;
  }

  add(check: (abandoned: boolean) => void): void {
    this.#checks.add(check);
  }

  delete(check: (abandoned: boolean) => void): void {
    this.#checks.delete(check);
  }

  /** Something was written: each waiter re-checks its index. */
  wake(): void {
    for (const check of [...this.#checks]) check(false);
  }

  /** The state was replaced: every waiter answers now. */
  abandon(): void {
    for (const check of [...this.#checks]) check(true);
  }
}

/** Resolve when `moved()` turns true (re-checked on each wake), on abandon, after `waitMs`, or when `res` closes. */
export function blockUntil(
  res: ServerResponse,
  waiters: Waiters,
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
    const check = (abandoned: boolean) => {
      if (abandoned || moved()) done();
    };
    const timer = setTimeout(done, waitMs);
    waiters.add(check);
    res.on('close', done);
  });
}
