/**
 * The fixture of the DNS discovery tests: one real DNS server (named) per test file, a ManualClock
 * that tells when the refresh loop sets its next timer, and a recorder of what a subscription heard.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { ManualClock, type TimerHandle } from '../../src/core/clock.js';
import type { EndpointInfo } from '../../src/core/endpoint.js';
import type { Subscription } from '../../src/discovery/discovery.js';
import { DnsDiscovery, type DnsOptions } from '../../src/discovery/dns/discovery.js';
import { type DnsRecord, DnsServer } from '../../testkit/dns-server.js';

/** The Kubernetes name of service `users` in namespace `default`, relative to `cluster.local`. */
export const USERS = 'users.default.svc';

/** An A record. */
export const A = (name: string, address: string, ttl?: number): DnsRecord => ({
  name,
  type: 'A',
  address,
  ttl,
});

/** Everything a subscription heard. */
export class Recorder {
  readonly updates: EndpointInfo[][] = [];
  readonly errors: Error[] = [];
  onUpdate = (endpoints: readonly EndpointInfo[]) => {
    this.updates.push([...endpoints]);
  };
  onError = (error: Error) => {
    this.errors.push(error);
  };
  get latest(): EndpointInfo[] | undefined {
    return this.updates.at(-1);
  }
  get urls(): string[] | undefined {
    return this.latest?.map((e) => e.url);
  }
}

/**
 * A ManualClock that also tells when the next timer is set. The refresh loop sets one right after
 * it has taken an answer (or a failure) and told its subscribers: that is the test's signal.
 */
export class ObservedClock extends ManualClock {
  #armed: Array<() => void> = [];
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = super.setTimeout(fn, ms);
    for (const notify of this.#armed.splice(0)) notify();
    return handle;
  }
  /** Resolves at the next setTimeout. */
  nextTimer(): Promise<void> {
    return new Promise((resolve) => this.#armed.push(resolve));
  }
}

/** The file's server and the test's clock, with helpers bound to them. */
export interface DnsFixture {
  readonly server: DnsServer;
  clock: ObservedClock;
  /** A discovery on the server and the clock, closed after the test; no jitter unless asked. */
  discovery(options?: DnsOptions): DnsDiscovery;
  /** Subscribe a new recorder to `service` (default `users`). */
  watch(d: DnsDiscovery, service?: string): { rec: Recorder; sub: Subscription };
  /**
   * Move the clock by `ms`, which must fire the refresh timer, and wait until the loop has taken
   * the answer and set its next timer: updates and errors are delivered by then.
   */
  refresh(ms: number): Promise<void>;
  /** Move the clock by `ms`; true when the one refresh timer is still waiting (it did not fire). */
  stillWaitingAfter(ms: number): boolean;
}

/** Start named for this file, restart or thaw it before each test, close each test's discoveries. */
export function useDnsFixture(): DnsFixture {
  let server: DnsServer | undefined;
  const open: DnsDiscovery[] = [];
  beforeAll(async () => {
    server = await DnsServer.start();
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(async () => {
    fixture.clock = new ObservedClock();
    if (!fixture.server.running) await fixture.server.restart();
    fixture.server.resume();
    return async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    };
  });
  const fixture: DnsFixture = {
    get server() {
      if (!server) throw new Error('the DNS server is not started yet');
      return server;
    },
    clock: new ObservedClock(),
    discovery(options = {}) {
      const d = new DnsDiscovery({
        servers: [fixture.server.address],
        clock: fixture.clock,
        random: () => 0,
        ...options,
      });
      open.push(d);
      return d;
    },
    watch(d, service = 'users') {
      const rec = new Recorder();
      const sub = d.subscribe(service, rec.onUpdate, rec.onError);
      return { rec, sub };
    },
    async refresh(ms) {
      const taken = fixture.clock.nextTimer();
      fixture.clock.advance(ms);
      expect(fixture.clock.pending, 'the refresh timer fired').toBe(0);
      await taken;
    },
    stillWaitingAfter(ms) {
      fixture.clock.advance(ms);
      return fixture.clock.pending === 1;
    },
  };
  return fixture;
}
