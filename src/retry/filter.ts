/**
 * The retry filter, on p-retry: p-retry runs the attempt loop; this filter decides, per failed
 * attempt, whether another is safe ({@link ./policy}), allowed ({@link RetryBudget}) and in time
 * (the next attempt must start before the deadline), and waits the jittered backoff on the
 * mesh clock. Each attempt gets its own call object, so the filters below can set the endpoint
 * and the per-try signal without touching the request; `call.tried` is shared so the balancer
 * can steer the next attempt to an endpoint not tried yet.
 */
import pRetry from 'p-retry';
import type { Call, Filter, Handler, Reply } from '../core/call.js';
import { type Clock, sleep } from '../core/clock.js';
import type { ServicePolicy } from '../options.js';
import type { MeshEmitter } from '../telemetry/events.js';
import { fullJitter } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { errorCode, retryableError, retryableReply } from './policy.js';

/** A reply worth retrying, carried through p-retry as a rejection. */
class RetryableReply extends Error {
  constructor(readonly reply: Reply) {
    super(`status ${reply.status}`);
  }
}

export interface RetryContext {
  service: string;
  retryPolicy: ServicePolicy['retry'];
  budget: RetryBudget | undefined;
  clock: Clock;
  random: () => number;
  events: MeshEmitter;
}

export function retry(ctx: RetryContext): Filter {
  const policy = ctx.retryPolicy;
  if (policy === false || policy.attempts <= 1) return (next) => next;
  const { attempts, statuses, backoff } = policy;
  const { budget, clock, events, service, random } = ctx;

  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    (call: Call<Req>) => {
      budget?.deposit();
      let lastEndpoint: string | undefined;

      const attempt = async (attemptNumber: number): Promise<Rep> => {
        const own: Call<Req> = { ...call, attempt: attemptNumber, endpoint: undefined };
        try {
          const reply = await next(own);
          if (attemptNumber < attempts && retryableReply(reply, call, statuses))
            throw new RetryableReply(reply);
          return reply;
        } finally {
          if (own.endpoint) {
            call.tried.push(own.endpoint);
            lastEndpoint = own.endpoint.url;
          }
        }
      };

      const shouldRetry = async ({ error, attemptNumber }: { error: Error; attemptNumber: number }) => {
        const isReply = error instanceof RetryableReply;
        if (!isReply && !retryableError(error, call as Call<unknown>)) return false;
        const reason = isReply ? String(error.reply.status) : (errorCode(error) ?? error.name);
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
          events.emit('retry', { service, attempt: attemptNumber, endpoint: lastEndpoint, reason, delayMs });
        }
        await sleep(clock, delayMs, call.signal);
        return true;
      };

      return pRetry(attempt, { retries: attempts - 1, minTimeout: 0, maxTimeout: 0, shouldRetry }).catch(
        (error: unknown) => {
          if (error instanceof RetryableReply) return error.reply as Rep;
          throw error;
        },
      );
    };
}
