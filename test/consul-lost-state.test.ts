/**
 * Lost state and churn, as Consul really behaves: a snapshot restore lowers every index (and wakes
 * every blocking query), an agent restart can bring the same index back with other data, a missing
 * KV key's index is the whole KV table's and moves with unrelated writes, and a buggy agent may
 * answer index 0. The client must reset its index (after an error, and when it goes backwards),
 * never block on 0, compare values rather than indexes, and pace its wake-ups with a jittered token
 * bucket: never a hot loop. Figures (KV requests per second on a missing key) are printed for
 * docs/discovery.md.
 *
 * Emulator only: restores, outages and the index-0 bug are the emulator's levers.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { KvWatch, type KvWatchContext } from '../src/control/consul-kv.js';
import { ManualClock, systemClock } from '../src/core/clock.js';
import { BlockingIndex, WakeupLimiter } from '../src/discovery/consul/pace.js';
import { ConsulEmulator } from '../testkit/consul-emulator.js';
import { discovery, REAL, Recorder, unique, until } from './support/consul-target.js';

async function emulator(): Promise<ConsulEmulator> {
  const em = await ConsulEmulator.start();
  onTestFinished(() => em.close());
  return em;
}

async function instance(em: ConsulEmulator, name: string, id: string, port: number): Promise<void> {
  const res = await fetch(`http://${em.address}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({
      Name: name,
      ID: id,
      Address: '127.0.0.1',
      Port: port,
      Check: { TTL: '600s', Status: 'passing' },
    }),
  });
  expect(res.status).toBe(200);
}

/** The GETs of `key` the emulator received (the client sends the key URL-encoded). */
function kvGets(em: ConsulEmulator, key: string) {
  return em.requests.filter((r) => r.method === 'GET' && decodeURIComponent(r.path) === `/v1/kv/${key}`);
}

/** A KV watch on `key` recording what it hands on. */
function watchKey(
  em: ConsulEmulator,
  key: string,
  options: { wait?: number; minWakeupInterval?: number } = {},
  clock = systemClock,
) {
  const values: (string | undefined)[] = [];
  const errors: Error[] = [];
  const ctx: KvWatchContext = {
    clock,
    random: () => 0.5,
    onValue: (value) => values.push(value),
    onError: (error) => errors.push(error),
  };
  const watch = new KvWatch(
    key,
    { key, consul: { host: '127.0.0.1', port: em.port }, backoffBase: 20, backoffMax: 100, ...options },
    ctx,
  );
  watch.start();
  onTestFinished(() => watch.close());
  const gets = () => kvGets(em, key).length;
  return { values, errors, gets };
}

describe('Consul blocking-index rules (unit)', () => {
  it('an index going backwards resets to 0, 0 or garbage becomes 1, and a reset forgets it', () => {
    const index = new BlockingIndex();
    expect(index.param).toBe('0');
    expect(index.accept('42')).toBe('ok');
    expect(index.param).toBe('42');
    expect(index.accept('17')).toBe('backwards');
    expect(index.param).toBe('0');
    expect(index.accept('0')).toBe('zero');
    expect(index.param).toBe('1');
    expect(index.accept(undefined)).toBe('zero');
    expect(index.param).toBe('1');
    index.accept('99');
    index.reset();
    expect([index.param, index.blocking]).toEqual(['0', false]);
  });

  it('wake-ups pass a token bucket of 2, then one per interval, stretched by up to 25 % of jitter', () => {
    const clock = new ManualClock();
    let r = 0;
    const limiter = new WakeupLimiter(clock, 100, () => r);
    expect([limiter.next(), limiter.next()]).toEqual([0, 0]);
    expect(limiter.next()).toBe(100);
    clock.advance(100);
    r = 1;
    expect(limiter.next()).toBe(125);
    clock.advance(125);
    clock.advance(1_000); // quiet for a while: the burst is back
    expect([limiter.next(), limiter.next()]).toEqual([0, 0]);
  });
});

describe.skipIf(!!REAL)('Consul lost state (emulator)', () => {
  it('after a snapshot restore lowers the index, a change is still seen at once (not after wait)', async () => {
    const em = await emulator();
    const name = unique('restored');
    const rec = new Recorder();
    discovery({ env: { CONSUL_HTTP_ADDR: em.address }, wait: 60_000 }).subscribe(
      name,
      rec.onUpdate,
      rec.onError,
    );
    await instance(em, name, `${name}-a`, 5101);
    await until(() => rec.latest?.length === 1, 'the instance');
    for (let i = 0; i < 20; i++) em.bumpIndex(); // the client now knows a high index
    await until(() => em.blockingQueries === 1, 'the feed to block on the high index');
    em.restore(5);
    await instance(em, name, `${name}-b`, 5102);
    const start = performance.now();
    await until(() => rec.latest?.length === 2, 'the change made after the restore', 5_000);
    console.log(
      `snapshot restore, then a registration: seen after ${(performance.now() - start).toFixed(1)} ms (wait 60 s)`,
    );
  });

  it('after an outage, the index is dropped: an agent back with a lower index is followed at once', async () => {
    const em = await emulator();
    const name = unique('restarted');
    const rec = new Recorder();
    discovery({ env: { CONSUL_HTTP_ADDR: em.address }, wait: 60_000 }).subscribe(
      name,
      rec.onUpdate,
      rec.onError,
    );
    await instance(em, name, `${name}-a`, 5201);
    await until(() => rec.latest?.length === 1, 'the instance');
    for (let i = 0; i < 20; i++) em.bumpIndex();
    await until(() => em.blockingQueries === 1, 'the feed to block on the high index');
    await em.stop();
    await until(() => rec.errors.length >= 1, 'the outage to be noticed');
    em.restore(5);
    await instance(em, name, `${name}-b`, 5202).catch(() => undefined); // refused: the agent is down
    await em.start();
    await instance(em, name, `${name}-b`, 5202);
    await until(() => rec.latest?.length === 2, 'the registration made after the restart', 5_000);
  });

  it('a missing KV key: unrelated writes wake the query, nothing is re-applied, and it never loops hot', async () => {
    const em = await emulator();
    const key = unique('mesh/config');
    const watch = watchKey(em, key, { minWakeupInterval: 200 });
    await until(() => watch.values.length === 1, 'the first (absent) value');
    expect(watch.values).toEqual([undefined]);
    const before = watch.gets();
    const end = performance.now() + 2_000;
    let writes = 0;
    while (performance.now() < end) {
      em.kv.put(`unrelated/${writes++ % 10}`, `v${writes}`); // each write moves the KV table's index
      await new Promise((r) => setTimeout(r, 5));
    }
    const rate = (watch.gets() - before) / 2;
    console.log(
      `missing key, ${writes} unrelated writes in 2 s: ${rate.toFixed(1)} KV requests/s (minWakeupInterval 200 ms), ` +
        `${watch.values.length - 1} re-applications`,
    );
    expect(watch.gets() - before).toBeGreaterThan(2); // the writes did wake it
    expect(rate).toBeLessThanOrEqual(1 + 1000 / 200); // paced: the burst, then one per interval
    expect(watch.values).toEqual([undefined]);
    em.kv.put(key, '{"retry":false}');
    await until(() => watch.values.length === 2, 'the real change');
  });

  it('an agent answering index 0 (an old Consul bug) is polled at the limiter pace, not in a hot loop', async () => {
    const em = await emulator();
    em.kv.zeroIndexBug = true;
    em.kv.put('some/other', 'x');
    const clock = new ManualClock();
    const key = unique('mesh/config');
    const watch = watchKey(em, key, {}, clock);
    // The first query and the burst of two answer at once; the next waits for the clock.
    await until(() => watch.gets() === 3 && clock.pending === 1, 'the burst to be spent');
    expect(kvGets(em, key).map((r) => r.query.get('index'))).toEqual(['0', '1', '1']);
    clock.advance(1_249); // minWakeupInterval 1000 (the default) * (1 + 0.5 / 4) = 1125 ms
    await until(() => watch.gets() === 4 && clock.pending === 1, 'one more query per interval');
    clock.advance(1_125);
    await until(() => watch.gets() === 5, 'and one more');
    expect(watch.values).toEqual([undefined]);

    // The wall-clock figure with the product's default pace.
    const live = watchKey(em, unique('mesh/live'));
    await until(() => live.gets() >= 1, 'the first query');
    const before = live.gets();
    await new Promise((r) => setTimeout(r, 3_000));
    const rate = (live.gets() - before) / 3;
    console.log(
      `index-0 agent, missing key, default minWakeupInterval 1000 ms: ${rate.toFixed(2)} KV requests/s`,
    );
    expect(rate).toBeLessThanOrEqual(3);
  });

  it('a KV change hidden behind the same index after an agent restart is still seen', async () => {
    const em = await emulator();
    const key = unique('mesh/config');
    em.kv.put(key, 'A');
    const watch = watchKey(em, key, { wait: 60_000, minWakeupInterval: 20 });
    await until(() => watch.values.length === 1, 'the value A');
    await until(() => em.blockingQueries === 1, 'the watch to block on the key');
    const known = Number(kvGets(em, key).at(-1)?.query.get('index'));
    expect(known).toBeGreaterThan(1);
    await em.stop();
    await until(() => watch.errors.length >= 1, 'the outage to be noticed');
    // The restarted agent's state: the key was rewritten, and its ModifyIndex is the one known.
    em.restore(known - 1);
    em.kv.put(key, 'B');
    await em.start();
    await until(() => watch.values.length === 2, 'the value B', 5_000);
    expect(watch.values).toEqual(['A', 'B']);
  });
});
