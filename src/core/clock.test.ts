import { describe, expect, it } from 'vitest';
import { ManualClock, sleep, systemClock } from './clock.js';

describe('ManualClock', () => {
  it('starts where told and moves only on advance', () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    expect(new ManualClock().now()).toBe(0);
  });

  it('fires due timers in deadline order, ties in creation order, with now at each deadline', () => {
    const clock = new ManualClock();
    const fired: Array<[string, number]> = [];
    const at = (name: string) => () => fired.push([name, clock.now()]);
    clock.setTimeout(at('c'), 30);
    clock.setTimeout(at('a'), 10);
    clock.setTimeout(at('b1'), 20);
    clock.setTimeout(at('b2'), 20);
    clock.setTimeout(at('late'), 100);
    expect(clock.pending).toBe(5);

    clock.advance(30);
    expect(fired).toEqual([
      ['a', 10],
      ['b1', 20],
      ['b2', 20],
      ['c', 30],
    ]);
    expect(clock.now()).toBe(30);
    expect(clock.pending).toBe(1);
    clock.advance(69);
    expect(fired).toHaveLength(4);
    clock.advance(1);
    expect(fired.at(-1)).toEqual(['late', 100]);
  });

  it('fires timers that callbacks schedule within the same advance', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
      clock.setTimeout(() => fired.push(clock.now()), 50);
    }, 10);
    clock.advance(20);
    expect(fired).toEqual([10, 15]);
    clock.advance(40);
    expect(fired).toEqual([10, 15, 60]);
  });

  it('fires zero and negative delays on the next advance, even advance(0)', () => {
    const clock = new ManualClock(5);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('zero'), 0);
    clock.setTimeout(() => fired.push('negative'), -10);
    expect(fired).toEqual([]);
    clock.advance(0);
    expect(fired).toEqual(['zero', 'negative']);
    expect(clock.now()).toBe(5);
  });

  it('clearTimeout cancels, and ignores fired or unknown handles', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push('a'), 10);
    const b = clock.setTimeout(() => fired.push('b'), 10);
    clock.clearTimeout(a);
    expect(clock.pending).toBe(1);
    clock.advance(10);
    expect(fired).toEqual(['b']);
    clock.clearTimeout(b);
    clock.clearTimeout({});
    expect(clock.pending).toBe(0);
  });

  it('lets a timer cancel a later one that is due in the same advance', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const later = clock.setTimeout(() => fired.push('later'), 20);
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(later);
    }, 10);
    clock.advance(100);
    expect(fired).toEqual(['first']);
  });
});

describe('sleep', () => {
  it('resolves once the clock passes the delay', async () => {
    const clock = new ManualClock();
    let done = false;
    const p = sleep(clock, 100).then(() => {
      done = true;
    });
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await p;
    expect(done).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('resolves at once for zero or negative delays, without a timer', async () => {
    const clock = new ManualClock();
    await sleep(clock, 0);
    await sleep(clock, -5);
    expect(clock.pending).toBe(0);
  });

  it('rejects with the abort reason and clears its timer', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const p = sleep(clock, 1_000, controller.signal);
    expect(clock.pending).toBe(1);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(clock.pending).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const clock = new ManualClock();
    const reason = new Error('already');
    await expect(sleep(clock, 10, AbortSignal.abort(reason))).rejects.toBe(reason);
    await expect(sleep(clock, 0, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(clock.pending).toBe(0);
  });

  it('is unaffected by an abort after it resolved', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const p = sleep(clock, 10, controller.signal);
    clock.advance(10);
    await p;
    controller.abort(new Error('late'));
    await expect(p).resolves.toBeUndefined();
  });
});

describe('systemClock', () => {
  it('schedules and cancels real timers', () => {
    const handle = systemClock.setTimeout(() => {
      throw new Error('should have been cancelled');
    }, 60_000);
    systemClock.clearTimeout(handle);
    expect(typeof systemClock.now()).toBe('number');
  });
});
