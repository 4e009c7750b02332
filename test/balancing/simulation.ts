/**
 * A discrete-event simulation of load balancing: N clients, each with its own view of M backends
 * (its own endpoint pool and balancer, as separate processes have), sending requests that take
 * the time each backend's latency distribution draws. The balancers, load metrics and pools are
 * the library's own; only the network is simulated: no sockets, a virtual clock, seeded random
 * sources, so a run is deterministic and takes milliseconds.
 *
 * Clients send open-loop (Poisson arrivals at a rate), or closed-loop (each of `concurrency`
 * workers sends its next request when the previous one ends). A request that would take longer
 * than the timeout fails at the timeout, and the balancer's load metric is told so, as the
 * mesh's balance stage tells it of a per-try timeout. Backends answer independently of their
 * load (no queueing): what differs between balancers is only where they send.
 */
import type { Balancer } from '../../src/balance/balancer.js';
import { BALANCERS, type BalancerPolicy, type LoadBalancerPolicy } from '../../src/balance/options.js';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { EndpointPool } from '../../src/core/pool.js';
import { seededRandom } from '../../src/core/random.js';

/** How one backend answers. */
export type Behaviour =
  /** Latency drawn from a log-normal distribution with this median (ms) and spread (sigma). */
  | { kind: 'ok'; medianMs: number; sigma?: number }
  /** Answers after `ms`, always (a stalled backend: longer than any timeout). */
  | { kind: 'fixed'; ms: number }
  /** Fails fast: a 503 after `ms`. */
  | { kind: 'fail'; ms: number };

export interface SimBackend {
  name: string;
  behaviour: Behaviour;
  /** Endpoint weight. @defaultValue 1 */
  weight?: number;
  /** Joins the clients' pools at this time (ms); until then it is not listed. @defaultValue 0 */
  joinsAt?: number;
}

export interface Scenario {
  backends: SimBackend[];
  policy: BalancerPolicy;
  /** Load-balancer tuning on top of the policy's defaults. */
  tuning?: Partial<LoadBalancerPolicy>;
  clients: number;
  /** Open loop: requests per second per client. */
  rate?: number;
  /** Closed loop: workers per client, each sending its next request when the last ended. */
  concurrency?: number;
  /** Requests per client (closed loop), or the run's length in ms (open loop). */
  requests?: number;
  durationMs?: number;
  timeoutMs: number;
  seed: number;
  /** Only requests started at or after this time are counted (ms). @defaultValue 0 */
  measureFrom?: number;
}

export interface SimResult {
  requests: number;
  successRate: number;
  p50: number;
  p99: number;
  /** Share of the counted requests each backend received, by name. */
  share: Record<string, number>;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** A min-heap of events by time (and insertion order). */
class Events {
  readonly #heap: Event[] = [];
  #seq = 0;

  push(at: number, run: () => void): void {
    const heap = this.#heap;
    heap.push({ at, seq: this.#seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): Event | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A clock the simulation moves: only `now()` is read by balancers and load metrics. */
class SimClock implements Clock {
  time = 0;
  now(): number {
    return this.time;
  }
  setTimeout(): TimerHandle {
    throw new Error('the simulation schedules its own events');
  }
  clearTimeout(): void {}
}

/** A standard normal draw (Box-Muller). */
function gaussian(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function draw(b: Behaviour, random: () => number): { ms: number; failed: boolean } {
  switch (b.kind) {
    case 'ok':
      return { ms: b.medianMs * Math.exp((b.sigma ?? 0.3) * gaussian(random)), failed: false };
    case 'fixed':
      return { ms: b.ms, failed: false };
    case 'fail':
      return { ms: b.ms, failed: true };
  }
}

/** Run `scenario` to the end. */
export function simulate(scenario: Scenario): SimResult {
  const clock = new SimClock();
  const events = new Events();
  const latency = seededRandom(scenario.seed);
  const arrivals = seededRandom(scenario.seed + 1);
  const measureFrom = scenario.measureFrom ?? 0;
  const byUrl = new Map(scenario.backends.map((b) => [`http://${b.name}`, b]));
  const counts = new Map(scenario.backends.map((b) => [b.name, 0]));
  const durations: number[] = [];
  let succeeded = 0;

  const clients = Array.from({ length: scenario.clients }, (_, i) => {
    const pool = new EndpointPool('svc', clock);
    const balancer: Balancer = BALANCERS[scenario.policy].create(
      {
        decay: 10_000,
        failurePenalty: 1_000,
        latencyTolerance: 2,
        ...scenario.tuning,
        policy: scenario.policy,
      },
      { clock, random: seededRandom(scenario.seed * 1_000 + i) },
    );
    return { pool, balancer };
  });

  const listed = (t: number) =>
    scenario.backends
      .filter((b) => (b.joinsAt ?? 0) <= t)
      .map((b) => ({ url: `http://${b.name}`, weight: b.weight ?? 1 }));
  for (const c of clients) c.pool.update(listed(0));
  for (const at of new Set(scenario.backends.map((b) => b.joinsAt ?? 0))) {
    if (at > 0)
      events.push(at, () => {
        for (const c of clients) c.pool.update(listed(at));
      });
  }

  const send = (client: (typeof clients)[number], then: (() => void) | undefined) => {
    const started = clock.time;
    const ep: Endpoint | undefined = client.balancer.pick(client.pool, { tried: [], hashKey: undefined });
    if (!ep) throw new Error('no endpoint ready');
    const backend = byUrl.get(ep.url)!;
    ep.inFlight++;
    ep.requests++;
    const answer = draw(backend.behaviour, latency);
    const timedOut = answer.ms >= scenario.timeoutMs;
    const ms = timedOut ? scenario.timeoutMs : answer.ms;
    const failed = timedOut || answer.failed;
    events.push(started + ms, () => {
      ep.inFlight--;
      client.balancer.load?.observe?.(ep, ms, failed, clock.time);
      if (started >= measureFrom) {
        counts.set(backend.name, counts.get(backend.name)! + 1);
        durations.push(ms);
        if (!failed) succeeded++;
      }
      then?.();
    });
  };

  if (scenario.rate !== undefined) {
    const end = scenario.durationMs ?? 10_000;
    const gap = () => (-Math.log(1 - arrivals()) * 1000) / scenario.rate!;
    for (const client of clients) {
      const next = (at: number) => {
        if (at >= end) return;
        events.push(at, () => {
          send(client, undefined);
          next(clock.time + gap());
        });
      };
      next(gap());
    }
  } else {
    const perClient = scenario.requests ?? 1_000;
    for (const client of clients) {
      let left = perClient;
      const worker = () => {
        if (left-- <= 0) return;
        send(client, worker);
      };
      for (let w = 0; w < (scenario.concurrency ?? 1); w++) events.push(0, worker);
    }
  }

  for (let e = events.pop(); e; e = events.pop()) {
    clock.time = e.at;
    e.run();
  }

  durations.sort((a, b) => a - b);
  const total = durations.length;
  const at = (p: number) => durations[Math.min(total - 1, Math.ceil((p / 100) * total) - 1)] ?? 0;
  return {
    requests: total,
    successRate: succeeded / total,
    p50: at(50),
    p99: at(99),
    share: Object.fromEntries([...counts].map(([name, n]) => [name, n / total])),
  };
}
