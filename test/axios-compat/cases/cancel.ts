/**
 * Cancellation: an AbortSignal or a CancelToken, before the request, while it is in flight, and
 * after the headers of a streamed response (axios then destroys the body with ERR_CANCELED and
 * the connection closes).
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import axios, { type AxiosRequestConfig, CanceledError } from 'axios';
import { expect } from 'vitest';
import { rejects, resolves, type Thrown } from '../support/expect.js';
import type { Case, Ctx } from '../support/harness.js';

const canceled = (message: string) =>
  rejects(`CanceledError ERR_CANCELED: ${message}`, {
    cls: CanceledError,
    code: 'ERR_CANCELED',
    message,
    check: (err) => expect(axios.isCancel(err)).toBe(true),
  });

/** Resolves once the server has the request, or rejects with the request's own early failure. */
async function inFlight(c: Ctx, pending: Promise<unknown>): Promise<void> {
  await Promise.race([c.servers.observed.arrived(c.tag), pending.then(() => undefined)]);
}

/**
 * No mesh deadline at all: only the cancellation can end these requests (axios itself checks
 * the token again when the adapter finally settles, which would hide a late cancellation).
 * The harness bounds the wait instead.
 */
const BOUNDED = { timeout: { total: false as const, perTry: false as const } };

/** Send `config` to the hanging route with a CancelToken, and cancel it with `reason` once in flight. */
async function cancelTokenInFlight(c: Ctx, config: AxiosRequestConfig, reason: string): Promise<unknown> {
  const source = axios.CancelToken.source();
  const pending = c.request({ url: '/hang', ...config, cancelToken: source.token });
  await inFlight(c, pending);
  source.cancel(reason);
  return pending;
}

/** Cancel a streamed response after its first chunk; what the body does, and whether the server saw the client go. */
async function streamThenCancel(c: Ctx, how: 'signal' | 'token'): Promise<{ err: unknown; closed: boolean }> {
  const ac = new AbortController();
  const source = axios.CancelToken.source();
  const res = await c.request({
    url: '/endless',
    responseType: 'stream',
    ...(how === 'signal' ? { signal: ac.signal } : { cancelToken: source.token }),
  });
  const data = res.data as Readable;
  const left = c.servers.observed.left(c.tag);
  await once(data, 'data');
  const outcome = new Promise<unknown>((resolve) => {
    data.once('error', resolve);
    data.once('end', () => resolve('ended'));
  });
  if (how === 'signal') ac.abort();
  else source.cancel('stop streaming');
  data.resume();
  // Bounded: a body that is never stopped keeps going; report it instead of hanging.
  let bound: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    bound = setTimeout(() => resolve('still streaming after 5 s'), 5000);
  });
  const err = await Promise.race([outcome, timedOut]);
  const closed = await Promise.race([left.then(() => true), timedOut.then(() => false)]);
  clearTimeout(bound);
  data.destroy();
  return { err, closed };
}

export const cancel: Case[] = [
  {
    id: 'cancel/signal-before',
    run: (c) => {
      const ac = new AbortController();
      ac.abort();
      return c.request({ url: '/json', signal: ac.signal });
    },
    expect: canceled('canceled'),
  },
  {
    id: 'cancel/signal-in-flight',
    run: async (c) => {
      const ac = new AbortController();
      const pending = c.request({ url: '/hang', signal: ac.signal });
      await inFlight(c, pending);
      ac.abort();
      return pending;
    },
    expect: canceled('canceled'),
  },
  {
    id: 'cancel/signal-error-config',
    run: async (c) => {
      const ac = new AbortController();
      const pending = c.request({ url: '/hang', signal: ac.signal, headers: { 'x-mark': 'm' } });
      await inFlight(c, pending);
      ac.abort();
      return pending;
    },
    expect: rejects("CanceledError carrying the caller's config", {
      cls: CanceledError,
      check: (err) => {
        expect(err.config?.url).toBe('/hang');
        expect(err.config?.headers.get('x-mark')).toBe('m');
      },
    }),
  },
  {
    id: 'cancel/signal-reason-ignored',
    run: async (c) => {
      const ac = new AbortController();
      const pending = c.request({ url: '/hang', signal: ac.signal });
      await inFlight(c, pending);
      ac.abort(new Error('my reason'));
      return pending;
    },
    expect: canceled('canceled'),
  },
  {
    id: 'cancel/abort-signal-timeout',
    run: (c) => c.request({ url: '/hang', signal: AbortSignal.timeout(150) }),
    expect: canceled('canceled'),
  },
  {
    id: 'cancel/token-before',
    run: (c) => {
      const source = axios.CancelToken.source();
      source.cancel('not wanted');
      return c.request({ url: '/json', cancelToken: source.token });
    },
    expect: canceled('not wanted'),
  },
  {
    id: 'cancel/token-in-flight',
    meshOptions: BOUNDED,
    timeoutMs: 6000,
    run: (c) => cancelTokenInFlight(c, {}, 'changed my mind'),
    expect: canceled('changed my mind'),
  },
  {
    id: 'cancel/token-in-flight-post',
    meshOptions: BOUNDED,
    timeoutMs: 6000,
    run: (c) => cancelTokenInFlight(c, { method: 'post', data: 'x' }, 'stop the post'),
    expect: canceled('stop the post'),
  },
  {
    id: 'cancel/stream-signal-mid-body',
    run: (c) => streamThenCancel(c, 'signal'),
    expect: resolves<{ err: Thrown; closed: boolean }>(
      'the body errors with ERR_CANCELED and the connection closes',
      ({ err, closed }) => {
        expect(err).toBeInstanceOf(CanceledError);
        expect(err.code).toBe('ERR_CANCELED');
        expect(closed).toBe(true);
      },
    ),
  },
  {
    id: 'cancel/stream-token-mid-body',
    run: (c) => streamThenCancel(c, 'token'),
    expect: resolves<{ err: Thrown; closed: boolean }>(
      'the body errors with ERR_CANCELED (token message) and the connection closes',
      ({ err, closed }) => {
        expect(err).toBeInstanceOf(CanceledError);
        expect(err.message).toBe('stop streaming');
        expect(closed).toBe(true);
      },
    ),
  },
  {
    id: 'cancel/after-response',
    run: async (c) => {
      const ac = new AbortController();
      const res = await c.request({ url: '/json', signal: ac.signal });
      ac.abort();
      return res;
    },
    expect: resolves('aborting after a buffered response changes nothing', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'cancel/token-with-signal',
    meshOptions: BOUNDED,
    timeoutMs: 6000,
    run: async (c) => {
      const source = axios.CancelToken.source();
      const ac = new AbortController();
      const pending = c.request({ url: '/hang', cancelToken: source.token, signal: ac.signal });
      await inFlight(c, pending);
      source.cancel('token first');
      // A token tells its listeners on a later tick: let it, then abort the signal too.
      await new Promise((resolve) => setImmediate(resolve));
      ac.abort();
      return pending;
    },
    expect: canceled('token first'),
  },
  {
    id: 'cancel/signal-with-token',
    meshOptions: BOUNDED,
    timeoutMs: 6000,
    run: async (c) => {
      const source = axios.CancelToken.source();
      const ac = new AbortController();
      const pending = c.request({ url: '/hang', cancelToken: source.token, signal: ac.signal });
      await inFlight(c, pending);
      ac.abort();
      return pending;
    },
    expect: canceled('canceled'),
  },
  {
    id: 'cancel/token-in-flight-closes-connection',
    meshOptions: BOUNDED,
    timeoutMs: 6000,
    run: async (c) => {
      const source = axios.CancelToken.source();
      const pending = c.request({ url: '/hang', cancelToken: source.token }).catch(() => undefined);
      await inFlight(c, pending);
      const left = c.servers.observed.left(c.tag);
      source.cancel('bye');
      await pending;
      await left;
      return 'server saw the client go';
    },
    expect: resolves<string>('the server sees the connection close', (v) =>
      expect(v).toBe('server saw the client go'),
    ),
  },
];
