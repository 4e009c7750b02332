/**
 * The wait of a Consul blocking query, shared by the emulator's health, catalog and KV endpoints:
 * hold the response until the watched index moves past the one the client knows, the wait runs out,
 * the state store is abandoned (a snapshot restore: Consul wakes every blocking query then, and they
 * answer with the restored, lower index), or the client goes away
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking).
 */
import type { ServerResponse } from 'node:http';
import { parseGoDuration } from './consul-catalog.js';

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

/**
 * A blocking query's `index` and `wait` (default 5m, capped at 10m, plus up to wait/16 of jitter),
 * read as Consul does: answers 400 `Invalid wait time` / `Invalid index` itself and resolves
 * `undefined` then; else waits while the watched index is not past the one the client knows, and
 * resolves with the index to answer with.
 */
export async function awaitIndex(
  q: URLSearchParams,
  res: ServerResponse,
  reply: (status: number, payload?: unknown) => void,
  waiters: Waiters,
  index: () => number,
): Promise<number | undefined> {
  const wait = Math.min(parseGoDuration(q.get('wait') ?? '5m') ?? Number.NaN, 600_000);
  if (Number.isNaN(wait)) {
    reply(400, 'Invalid wait time');
    return undefined;
  }
  const raw = q.get('index') ?? '0';
  if (!/^\d+$/.test(raw)) {
    reply(400, 'Invalid index');
    return undefined;
  }
  const known = Number(raw);
  if (known > 0 && index() <= known) {
    await blockUntil(res, waiters, () => index() > known, wait + Math.random() * (wait / 16));
  }
  return index();
}
