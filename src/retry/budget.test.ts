import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { RetryBudget } from './budget.js';

function budget(ratio: number, minPerSecond: number, window = 10_000, clock = new ManualClock()) {
  return { clock, budget: new RetryBudget({ ratio, minPerSecond, window }, clock) };
}

/** Withdraw until refused; how many were allowed. */
function drain(b: RetryBudget, limit = 10_000): number {
  let n = 0;
  while (n < limit && b.tryWithdraw()) n++;
  return n;
}

describe('RetryBudget', () => {
  it('allows ratio x requests retries in the window', () => {
    const { budget: b } = budget(0.2, 0);
    for (let i = 0; i < 100; i++) b.deposit();
    expect(drain(b)).toBe(20);
    expect(b.tryWithdraw()).toBe(false);
  });

  it('allows the minPerSecond x window reserve with no traffic', () => {
    const { budget: b } = budget(0.2, 10, 10_000);
    expect(drain(b)).toBe(100);
    const { budget: short } = budget(0.2, 10, 1_000);
    expect(drain(short)).toBe(10);
  });

  it('adds the reserve to the ratio share', () => {
    const { budget: b } = budget(0.5, 1, 5_000);
    for (let i = 0; i < 10; i++) b.deposit();
    // 10 x 0.5 + 1/s x 5 s
    expect(drain(b)).toBe(10);
  });

  it('earns more retries as requests come in', () => {
    const { budget: b } = budget(0.25, 0);
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 4; i++) b.deposit();
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 4; i++) b.deposit();
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
  });

  it('never allows a retry with no ratio and no reserve', () => {
    const { budget: b } = budget(0, 0);
    for (let i = 0; i < 1_000; i++) b.deposit();
    expect(b.tryWithdraw()).toBe(false);
  });

  it('forgets requests once they slide out of the window', () => {
    const { clock, budget: b } = budget(0.2, 0, 10_000);
    for (let i = 0; i < 100; i++) b.deposit();
    clock.advance(9_000);
    expect(drain(b, 5)).toBe(5);
    // Just before the window has fully passed, the requests still count.
    clock.advance(999);
    expect(drain(b)).toBe(15);
    // t = 10 s: the 100 requests left; with them 10 new ones would earn 2, but the 20 retries
    // taken at t = 9 s are still in the window.
    clock.advance(1);
    for (let i = 0; i < 10; i++) b.deposit();
    expect(drain(b)).toBe(0);
    // t = 19 s: those retries left too; the 10 requests of t = 10 s remain.
    clock.advance(9_000);
    expect(drain(b)).toBe(2);
  });

  it('slides bucket by bucket: requests and retries age out with their bucket', () => {
    const { clock, budget: b } = budget(1, 0, 10_000);
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 10; i++) b.deposit();
      clock.advance(1_000);
    }
    // t = 10 s: the t = 0 s bucket left; t = 1..9 s remain.
    expect(drain(b)).toBe(90);
    // t = 15 s: only 40 requests (t = 6..9 s) remain, against the 90 retries of t = 10 s.
    clock.advance(5_000);
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 100; i++) b.deposit();
    expect(drain(b)).toBe(50);
    // t = 20 s: the t = 10 s retries left; the 100 requests and 50 retries of t = 15 s remain.
    clock.advance(5_000);
    expect(drain(b)).toBe(50);
  });

  it('recovers after a long idle gap', () => {
    const { clock, budget: b } = budget(0.2, 1, 10_000);
    for (let i = 0; i < 50; i++) b.deposit();
    expect(drain(b)).toBe(20);
    clock.advance(1_000_000);
    expect(drain(b)).toBe(10);
  });

  it('refuses retries beyond the reserve while old retries still count', () => {
    const { clock, budget: b } = budget(0, 1, 10_000);
    expect(drain(b)).toBe(10);
    clock.advance(5_000);
    expect(b.tryWithdraw()).toBe(false);
    clock.advance(5_000);
    expect(drain(b)).toBe(10);
  });
});
