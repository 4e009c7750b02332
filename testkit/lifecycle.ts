/**
 * What a test opens (upstreams, clients, sidecars, proxies) is closed after it, whether it
 * passed or not, so no test leaks sockets or timers into the next.
 */
import { afterEach } from 'vitest';

/** Anything with an async `close()`. */
export interface Closable {
  close(): Promise<void>;
}

/** A list to push what a test opens into; everything in it is closed after each test. */
export function closeAfterEach(): Closable[] {
  const open: Closable[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  return open;
}
