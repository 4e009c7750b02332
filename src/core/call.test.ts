import { describe, expect, it } from 'vitest';
import { type Call, compose, type Filter, type Handler, type Reply } from './call.js';
import { makeCall } from './test-helpers.js';

/** A filter that logs its name on the way in and out. */
function tracer(name: string, log: string[]): Filter {
  return <Req, Rep extends Reply>(next: Handler<Req, Rep>): Handler<Req, Rep> =>
    async (call: Call<Req>) => {
      log.push(`${name}>`);
      const reply = await next(call);
      log.push(`<${name}`);
      return reply;
    };
}

describe('compose', () => {
  it('runs filters outermost first: compose(a, b)(t) is a(b(t))', async () => {
    const log: string[] = [];
    const transport: Handler = async () => {
      log.push('transport');
      return { status: 204 };
    };
    const handler = compose(tracer('a', log), tracer('b', log), tracer('c', log))(transport);
    expect((await handler(makeCall())).status).toBe(204);
    expect(log).toEqual(['a>', 'b>', 'c>', 'transport', '<c', '<b', '<a']);
  });

  it('is the transport itself with no filters', () => {
    const transport: Handler = async () => ({ status: 200 });
    expect(compose()(transport)).toBe(transport);
  });

  it('lets an outer filter see what an inner filter set on the call, and errors propagate out', async () => {
    const seen: Array<number | undefined> = [];
    const setAttempt: Filter = (next) => async (call) => {
      call.attempt = 2;
      return next(call);
    };
    const observe: Filter = (next) => async (call) => {
      try {
        return await next(call);
      } finally {
        seen.push(call.attempt);
      }
    };
    const failing: Handler = async () => {
      throw new Error('boom');
    };
    await expect(compose(observe, setAttempt)(failing)(makeCall())).rejects.toThrow('boom');
    expect(seen).toEqual([2]);
  });
});
