/** Small builders shared by the balancer unit tests (not part of the public surface). */
import type { Call } from '../core/call.js';
import { type Clock, ManualClock } from '../core/clock.js';
import type { Endpoint, EndpointInfo } from '../core/endpoint.js';
import { EndpointPool } from '../core/pool.js';
import { seededRandom } from '../core/random.js';
import type { Balancer, BalancerContext } from './balancer.js';

/** A first-attempt GET with nothing tried; override any field. */
export function makeCall(overrides: Partial<Call> = {}): Call {
  return {
    service: 'svc',
    method: 'GET',
    path: '/',
    hashKey: undefined,
    idempotent: true,
    replayable: true,
    request: undefined,
    signal: new AbortController().signal,
    deadline: Number.POSITIVE_INFINITY,
    attempt: 1,
    tried: [],
    endpoint: undefined,
    ...overrides,
  };
}

/** `n` distinct endpoint descriptions (`http://10.a.b.c:80`), with optional per-index weights. */
export function endpointInfos(n: number, weight?: (i: number) => number): EndpointInfo[] {
  const infos: EndpointInfo[] = [];
  for (let i = 0; i < n; i++) {
    const url = `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`;
    infos.push(weight ? { url, weight: weight(i) } : { url });
  }
  return infos;
}

/** A pool holding `infos` (or `n` unweighted endpoints). */
export function makePool(infos: EndpointInfo[] | number, clock: Clock = new ManualClock(), initialRtt = 30) {
  const pool = new EndpointPool('svc', clock, initialRtt);
  pool.update(typeof infos === 'number' ? endpointInfos(infos) : infos);
  return pool;
}

/** A balancer context on a ManualClock with a seeded random source. */
export function makeContext(seed = 1, clock = new ManualClock()): BalancerContext & { clock: ManualClock } {
  return { clock, random: seededRandom(seed) };
}

/** Pick `times` times and count picks per endpoint id (`undefined` picks fail the count). */
export function tally(balancer: Balancer, pool: EndpointPool, times: number, call = makeCall()) {
  const counts = new Map<string, number>();
  for (const ep of pool.all) counts.set(ep.id, 0);
  for (let i = 0; i < times; i++) {
    const ep = balancer.pick(pool, call);
    if (!ep) throw new Error(`pick ${i} returned undefined`);
    counts.set(ep.id, (counts.get(ep.id) ?? 0) + 1);
  }
  return counts;
}

/** The count for an endpoint in a {@link tally}. */
export function countOf(counts: Map<string, number>, ep: Endpoint): number {
  return counts.get(ep.id) ?? 0;
}
