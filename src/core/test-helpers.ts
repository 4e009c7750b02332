/** Small builders shared by the unit tests beside the modules (not part of the public surface). */

import { type Call, newCall } from './call.js';
import { type Clock, ManualClock } from './clock.js';
import { type Endpoint, EndpointHold, type EndpointInfo } from './endpoint.js';
import type { EventSink } from './events.js';
import { EndpointPool } from './pool.js';
import { seededRandom } from './random.js';
import type { Picker } from './view.js';

/** A first-attempt GET with nothing tried; override any field. */
export function makeCall(overrides: Partial<Call> = {}): Call {
  const call = newCall<unknown>({
    service: 'svc',
    method: 'GET',
    path: '/',
    hashKey: undefined,
    idempotent: true,
    replayable: true,
    request: undefined,
    signal: new AbortController().signal,
    deadline: Number.POSITIVE_INFINITY,
  });
  call.attempt = 1;
  return Object.assign(call, overrides);
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
export function makePool(infos: EndpointInfo[] | number, clock: Clock = new ManualClock()) {
  const pool = new EndpointPool('svc', clock);
  pool.update(typeof infos === 'number' ? endpointInfos(infos) : infos);
  return pool;
}

/** A balancer context on a ManualClock with a seeded random source. */
export function makeContext(
  seed = 1,
  clock = new ManualClock(),
): { clock: ManualClock; random: () => number } {
  return { clock, random: seededRandom(seed) };
}

/** Pick `times` times and count picks per endpoint id (`undefined` picks fail the count). */
export function tally(balancer: Picker, pool: EndpointPool, times: number, call = makeCall()) {
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

/** A hold standing in for a breaker in the balancer tests. */
const TEST_HOLD = new EndpointHold('test');

/** Take `ep` out of rotation (`ready` false) or put it back, as a breaker would. */
export function setReady(pool: EndpointPool, ep: Endpoint, ready: boolean): void {
  pool.hold(ep, TEST_HOLD, !ready);
}

/** A sink that hands every event to `emit` (its payload typed by the events the sink is for). */
export function sink<Events>(
  emit: (event: keyof Events & string, payload: Events[keyof Events]) => unknown,
): EventSink<Events> {
  return { wants: () => true, emit: (event, payload) => void emit(event, payload) };
}
