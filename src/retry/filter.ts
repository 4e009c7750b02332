/**
 * The retry filter, on p-retry: p-retry runs the attempt loop; this filter decides, per failed
 * attempt, whether another is safe ({@link ./policy}), allowed ({@link RetryBudget}) and in time
 * (the next attempt must start before the deadline), and waits the jittered backoff on the
 * mesh clock. Each attempt gets its own call object, so the filters below can set the endpoint
 * and the per-try signal without touching the request; `call.tried` is shared so the balancer
 * can steer the next attempt to an endpoint not tried yet.
 */
import pRetry from 'p-retry';
import { attemptOf, type Call, type Filter, type Handler, type Reply } from '../core/call.js';
import { type Clock, sleep } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { errorCode } from '../errors/classify.js';
import { fullJitter } from './backoff.js';
import type { RetryBudget } from './budget.js';
import type { RetryPolicy } from './options.js';
import { retryableError, retryableReply } from './policy.js';
import { attemptsBelow } from './stacking.js';

/** A failed attempt is about to be retried. */
export interface RetryEvent {
  service: string;
  /** The attempt that failed. */
  attempt: number;
  /** Where the failed attempt went. */
  endpoint: string | undefined;
  /** Status or error code that caused the retry. */
  reason: string;
  /** Backoff before the next attempt (ms). */
  delayMs: number;
}

/** A retry was allowed by the policy but refused by the retry budget. */
export interface BudgetExhaustedEvent {
  service: string;
  attempt: number;
  reason: string;
}

/** The events of the retry stage. */
export interface RetryEvents {
  retry: RetryEvent;
  'retry-budget-exhausted': BudgetExhaustedEvent;
}

/** A reply worth retrying, carried through p-retry as a rejection. */
class RetryableReply extends Error {
  constructor(readonly reply: Reply) {
    super(`status ${reply.status}`);
  }
}

export interface RetryContext {
  service: string;
  policy: Exclude<RetryPolicy, false>;
  budget: RetryBudget | undefined;
  clock: Clock;
  random: () => number;
  events: EventSink<RetryEvents>;
}

/**
 * Counts each request into `budget` where no retry filter does (retries off, hedging on), so
 * hedged backups are paid for by a share of the traffic, as retries are.
 */
export function budgetDeposit(budget: RetryBudget): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      budget.deposit();
      return next(call);
    };
}

export function retry(ctx: RetryContext): Filter {
  const policy = ctx.policy;
  const statuses = policy.statuses;

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      ctx.budget?.deposit();
      // The first attempt runs inline: p-retry's loop (and its closures) only on the slow path.
      const first = attemptOf(call, 1);
      let failure: unknown;
      try {
        const reply = await next(first);
        if (retriedBelow(ctx, policy, reply) || !retryableReply(reply, call, statuses)) return reply;
        failure = new RetryableReply(reply);
      } catch (err) {
        failure = err;
      } finally {
        if (first.endpoint) call.tried.push(first.endpoint);
      }
      return retryAfter(ctx, policy, next, call, failure);
    };
}

/**
 * True when a mesh layer below already retried this reply: it is then final here, and the
 * attempts it took are charged to this layer's budget (see stacking.ts).
 */
function retriedBelow(ctx: RetryContext, policy: { stacking: 'avoid' | 'allow' }, reply: Reply): boolean {
  if (policy.stacking !== 'avoid') return false;
  const below = attemptsBelow(reply);
  if (below <= 1) return false;
  ctx.budget?.charge(below - 1);
  return true;
}

/** Attempts 2..n, after the first failed with `failure`. */
async function retryAfter<Req, Rep extends Reply>(
  ctx: RetryContext,
  policy: RetryContext['policy'],
  next: Handler<Req, Rep>,
  call: Call<Req>,
  failure: unknown,
): Promise<Rep> {
  const { attempts, statuses, backoff } = policy;
  const { budget, clock, events, service, random } = ctx;

  const attempt = async (attemptNumber: number): Promise<Rep> => {
    const own = attemptOf(call, attemptNumber);
    try {
      const reply = await next(own);
      if (retriedBelow(ctx, policy, reply)) return reply;
      if (attemptNumber < attempts && retryableReply(reply, call, statuses)) throw new RetryableReply(reply);
      return reply;
    } finally {
      if (own.endpoint) call.tried.push(own.endpoint);
    }
  };

  const shouldRetry = async (error: unknown, attemptNumber: number): Promise<boolean> => {
    const isReply = error instanceof RetryableReply;
    if (!isReply && !retryableError(error, call as Call<unknown>)) return false;
    const reason = isReply ? String(error.reply.status) : (errorCode(error) ?? 'ERROR');
    if (budget && !budget.tryWithdraw()) {
      if (events.wants('retry-budget-exhausted')) {
        events.emit('retry-budget-exhausted', { service, attempt: attemptNumber, reason });
      }
      return false;
    }
    const delayMs = fullJitter(backoff, attemptNumber, random);
    if (clock.now() + delayMs >= call.deadline) return false;
    if (isReply) error.reply.discard?.();
    if (events.wants('retry')) {
      const endpoint = call.tried.at(-1)?.url;
      events.emit('retry', { service, attempt: attemptNumber, endpoint, reason, delayMs });
    }
    await sleep(clock, delayMs, call.signal);
    return true;
  };

  try {
    if (!(await shouldRetry(failure, 1))) throw failure;
    return await pRetry((n) => attempt(n + 1), {
      retries: attempts - 2,
      minTimeout: 0,
      maxTimeout: 0,
      shouldRetry: ({ error, attemptNumber }) => shouldRetry(error, attemptNumber + 1),
    });
  } catch (error) {
    if (error instanceof RetryableReply) return error.reply as Rep;
    throw error;
  }
}
