/**
 * `timeout` as axios defines it: milliseconds (a numeric string is parsed), anything else is
 * ERR_BAD_OPTION_VALUE; a timeout rejects with ECONNABORTED (ETIMEDOUT with
 * `transitional.clarifyTimeoutError`) and `timeoutErrorMessage`. Through the mesh the request's
 * `timeout` is its deadline and its per-attempt limit (it lifts the mesh's per-try default when
 * larger), and a timeout carries the mesh's MESH_TIMEOUT detail as its `cause`.
 */
import axios from 'axios';
import { isMeshError } from 'mesh-client';
import { expect } from 'vitest';
import { axiosError, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

export const timeouts: Case[] = [
  {
    id: 'timeouts/number',
    run: (c) => c.request({ url: '/slow', params: { ms: 3000 }, timeout: 200 }),
    expect: axiosError('ECONNABORTED', 'timeout of 200ms exceeded'),
  },
  {
    id: 'timeouts/string',
    run: (c) => c.request({ url: '/slow', params: { ms: 3000 }, timeout: '200' as unknown as number }),
    expect: axiosError('ECONNABORTED', 'timeout of 200ms exceeded'),
  },
  {
    id: 'timeouts/object',
    run: (c) => c.request({ url: '/json', timeout: {} as unknown as number }),
    expect: axiosError('ERR_BAD_OPTION_VALUE', 'error trying to parse `config.timeout` to int'),
  },
  {
    id: 'timeouts/not-a-number',
    run: (c) => c.request({ url: '/json', timeout: 'soon' as unknown as number }),
    expect: axiosError('ERR_BAD_OPTION_VALUE', 'error trying to parse `config.timeout` to int'),
  },
  {
    id: 'timeouts/error-message',
    run: (c) => c.request({ url: '/hang', timeout: 150, timeoutErrorMessage: 'users took too long' }),
    expect: axiosError('ECONNABORTED', 'users took too long'),
  },
  {
    id: 'timeouts/clarify',
    run: (c) => c.request({ url: '/hang', timeout: 150, transitional: { clarifyTimeoutError: true } }),
    expect: axiosError('ETIMEDOUT', 'timeout of 150ms exceeded'),
  },
  {
    id: 'timeouts/error-fields',
    run: (c) => c.request({ url: '/hang', timeout: 150 }),
    expect: axiosError('ECONNABORTED', undefined, {
      check: (err, c) => {
        // Through the mesh, which limit struck and on which attempt is the cause.
        if (c.mesh) expect(isMeshError(err.cause, 'MESH_TIMEOUT')).toBe(true);
        expect(err.config?.timeout).toBe(150);
        expect(err.config?.url).toBe('/hang');
        expect(err.response).toBeUndefined();
        expect(err.request).toBeTruthy();
      },
    }),
  },
  {
    id: 'timeouts/mid-body',
    run: (c) => c.request({ url: '/hang-body', timeout: 200 }),
    // What axios does when the timeout strikes after the headers: its timeout has turned into a
    // socket idle timeout, and the body read fails first. The mesh's timeout is a deadline on the
    // whole exchange, and says so: a timeout, whenever it strikes (docs/axios.md).
    expect: axiosError('ERR_BAD_RESPONSE', 'stream has been aborted'),
    mesh: axiosError('ECONNABORTED', 'timeout of 200ms exceeded', {
      check: (err) => expect(isMeshError(err.cause, 'MESH_TIMEOUT')).toBe(true),
    }),
  },
  {
    id: 'timeouts/in-time',
    run: (c) => c.request({ url: '/slow', params: { ms: 50 }, timeout: 5000 }),
    expect: resolves('answered within the timeout', (res) => expect(res.data).toEqual({ slow: true })),
  },
  {
    id: 'timeouts/zero-is-none',
    run: (c) => c.request({ url: '/slow', params: { ms: 50 }, timeout: 0 }),
    expect: resolves('timeout 0: no timeout', (res) => expect(res.status).toBe(200)),
  },
  {
    id: 'timeouts/above-per-try',
    meshOptions: { timeout: { perTry: 300 } },
    run: (c) => c.request({ url: '/slow', params: { ms: 700 }, timeout: 5000 }),
    expect: resolves('a request timeout above the per-try timeout lifts it', (res) =>
      expect(res.status).toBe(200),
    ),
  },
  {
    id: 'timeouts/above-default-per-try',
    timeoutMs: 25_000,
    run: (c) => c.request({ url: '/slow', params: { ms: 5600 }, timeout: 9000 }),
    expect: resolves('a 5.6 s reply within a 9 s timeout (the mesh default per-try is 5 s)', (res) =>
      expect(res.status).toBe(200),
    ),
  },
  {
    id: 'timeouts/post',
    run: (c) => c.request({ method: 'post', url: '/hang', data: { a: 1 }, timeout: 150 }),
    expect: axiosError('ECONNABORTED', 'timeout of 150ms exceeded', {
      check: (err) => expect(axios.isAxiosError(err)).toBe(true),
    }),
  },
  {
    id: 'timeouts/string-with-suffix',
    run: (c) => c.request({ url: '/hang', timeout: '150ms' as unknown as number }),
    // parseInt reads 150; the message repeats the value as given.
    expect: axiosError('ECONNABORTED', 'timeout of 150msms exceeded'),
  },
  {
    id: 'timeouts/boolean',
    run: (c) => c.request({ url: '/json', timeout: true as unknown as number }),
    expect: axiosError('ERR_BAD_OPTION_VALUE', 'error trying to parse `config.timeout` to int'),
  },
  {
    id: 'timeouts/clarify-with-message',
    run: (c) =>
      c.request({
        url: '/hang',
        timeout: 150,
        timeoutErrorMessage: 'too slow',
        transitional: { clarifyTimeoutError: true },
      }),
    expect: axiosError('ETIMEDOUT', 'too slow'),
  },
  {
    id: 'timeouts/stream-in-time',
    run: async (c) => {
      const res = await c.request({
        url: '/drip',
        params: { chunks: 3, ms: 100 },
        responseType: 'stream',
        timeout: 1000,
      });
      let bytes = 0;
      for await (const chunk of res.data as AsyncIterable<Buffer>) bytes += chunk.length;
      return bytes;
    },
    expect: resolves<number>('a streamed body read within the timeout', (bytes) =>
      expect(bytes).toBe(3 * 1024),
    ),
  },
];
