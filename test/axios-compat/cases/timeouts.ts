/**
 * `timeout` as axios defines it: milliseconds (a numeric string is parsed), anything else is
 * ERR_BAD_OPTION_VALUE; a timeout rejects with ECONNABORTED (ETIMEDOUT with
 * `transitional.clarifyTimeoutError`) and `timeoutErrorMessage`. Through the mesh the request's
 * `timeout` is its deadline, and lifts the mesh's per-try default when larger.
 */
import axios from 'axios';
import { expect } from 'vitest';
import { axiosError, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

const MODEL =
  'client: the request timeout surfaces as MeshError MESH_TIMEOUT, not AxiosError ECONNABORTED/ETIMEDOUT';

export const timeouts: Case[] = [
  {
    id: 'timeouts/number',
    run: (c) => c.request({ url: '/slow', params: { ms: 3000 }, timeout: 200 }),
    expect: axiosError('ECONNABORTED', 'timeout of 200ms exceeded'),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
  },
  {
    id: 'timeouts/string',
    run: (c) => c.request({ url: '/slow', params: { ms: 3000 }, timeout: '200' as unknown as number }),
    expect: axiosError('ECONNABORTED', 'timeout of 200ms exceeded'),
    pending: {
      mesh: 'client: a string timeout makes the deadline NaN ("deadline passed before the request was sent")',
      'mesh-undici':
        'client: a string timeout makes the deadline NaN ("deadline passed before the request was sent")',
    },
  },
  {
    id: 'timeouts/object',
    run: (c) => c.request({ url: '/json', timeout: {} as unknown as number }),
    expect: axiosError('ERR_BAD_OPTION_VALUE', 'error trying to parse `config.timeout` to int'),
    pending: {
      mesh: 'client: timeout {} is not validated',
      'mesh-undici': 'client: timeout {} is not validated',
    },
  },
  {
    id: 'timeouts/not-a-number',
    run: (c) => c.request({ url: '/json', timeout: 'soon' as unknown as number }),
    expect: axiosError('ERR_BAD_OPTION_VALUE', 'error trying to parse `config.timeout` to int'),
    pending: {
      mesh: 'client: a non-numeric timeout is not validated',
      'mesh-undici': 'client: a non-numeric timeout is not validated',
    },
  },
  {
    id: 'timeouts/error-message',
    run: (c) => c.request({ url: '/hang', timeout: 150, timeoutErrorMessage: 'users took too long' }),
    expect: axiosError('ECONNABORTED', 'users took too long'),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
  },
  {
    id: 'timeouts/clarify',
    run: (c) => c.request({ url: '/hang', timeout: 150, transitional: { clarifyTimeoutError: true } }),
    expect: axiosError('ETIMEDOUT', 'timeout of 150ms exceeded'),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
  },
  {
    id: 'timeouts/error-fields',
    run: (c) => c.request({ url: '/hang', timeout: 150 }),
    expect: axiosError('ECONNABORTED', undefined, {
      check: (err) => {
        expect(err.config?.timeout).toBe(150);
        expect(err.config?.url).toBe('/hang');
        expect(err.response).toBeUndefined();
        expect(err.request).toBeTruthy();
      },
    }),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
  },
  {
    id: 'timeouts/mid-body',
    run: (c) => c.request({ url: '/hang-body', timeout: 200 }),
    // What axios does when the timeout strikes after the headers: the body read fails first.
    expect: axiosError('ERR_BAD_RESPONSE', 'stream has been aborted'),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
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
    pending: {
      mesh: 'client: the per-try timeout still cuts the attempt (timeout only sets the total deadline)',
      'mesh-undici':
        'client: the per-try timeout still cuts the attempt (timeout only sets the total deadline)',
    },
  },
  {
    id: 'timeouts/above-default-per-try',
    timeoutMs: 25_000,
    run: (c) => c.request({ url: '/slow', params: { ms: 5600 }, timeout: 9000 }),
    expect: resolves('a 5.6 s reply within a 9 s timeout (the mesh default per-try is 5 s)', (res) =>
      expect(res.status).toBe(200),
    ),
    pending: {
      mesh: 'client: the 5 s per-try default cuts the attempt',
      'mesh-undici': 'client: the 5 s per-try default cuts the attempt',
    },
  },
  {
    id: 'timeouts/post',
    run: (c) => c.request({ method: 'post', url: '/hang', data: { a: 1 }, timeout: 150 }),
    expect: axiosError('ECONNABORTED', 'timeout of 150ms exceeded', {
      check: (err) => expect(axios.isAxiosError(err)).toBe(true),
    }),
    pending: { mesh: MODEL, 'mesh-undici': MODEL },
  },
];
