/**
 * Redirects. axios follows up to `maxRedirects` (21 by default) anywhere. A mesh follows those
 * that stay on the endpoint it chose (relative, or the same origin) and refuses a redirect to
 * another host, which would leave the mesh (no discovery, balancing or breakers there).
 */
import { expect } from 'vitest';
import { axiosError, refused, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

const POLICY = 'client: redirect policy (follow same-endpoint redirects, refuse others) not implemented';

export const redirects: Case[] = [
  {
    id: 'redirects/relative',
    run: (c) => c.request({ url: '/redirect', params: { to: '/json' } }),
    expect: resolves('a relative Location is followed', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
    pending: { 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/same-origin',
    run: (c) => c.request({ url: '/redirect', params: { to: `${c.origin}/json` } }),
    expect: resolves('an absolute Location on the same origin is followed', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
    pending: { 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/other-host',
    run: (c) => c.request({ url: '/redirect', params: { to: `${c.servers.other}/json` } }),
    expect: resolves('axios follows to another host', (res) => expect(res.data).toEqual({ hello: 'world' })),
    mesh: refused('MESH_BAD_REQUEST', /redirect/),
    pending: { mesh: POLICY, 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/max-redirects-0',
    run: (c) => c.request({ url: '/redirect', params: { to: '/json' }, maxRedirects: 0 }),
    expect: axiosError('ERR_BAD_RESPONSE', 'Request failed with status code 302', {
      status: 302,
      check: (err) => expect(err.response?.headers.location).toBe('/json'),
    }),
  },
  {
    id: 'redirects/max-redirects-0-accepted',
    run: (c) =>
      c.request({
        url: '/redirect',
        params: { to: '/json' },
        maxRedirects: 0,
        validateStatus: (s) => s < 400,
      }),
    expect: resolves('the 3xx itself, when validateStatus accepts it', (res) => expect(res.status).toBe(302)),
  },
  {
    id: 'redirects/too-many',
    run: (c) => c.request({ url: '/loop', maxRedirects: 3 }),
    expect: axiosError('ERR_FR_TOO_MANY_REDIRECTS', 'Maximum number of redirects exceeded'),
    pending: { 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/303-post-becomes-get',
    run: (c) =>
      c.request({ method: 'post', url: '/redirect', params: { to: '/echo', code: 303 }, data: { a: 1 } }),
    expect: resolves('303 after POST: GET without the body', (res) =>
      expect((res.data as { method: string }).method).toBe('GET'),
    ),
    pending: { 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/307-keeps-method',
    run: (c) =>
      c.request({ method: 'post', url: '/redirect', params: { to: '/echo', code: 307 }, data: { a: 1 } }),
    expect: resolves('307 keeps the method and body', (res) => {
      const e = res.data as { method: string; body: string };
      expect([e.method, e.body]).toEqual(['POST', '{"a":1}']);
    }),
    pending: { 'mesh-undici': POLICY },
  },
  {
    id: 'redirects/before-redirect',
    run: async (c) => {
      const seen: string[] = [];
      await c.request({
        url: '/redirect',
        params: { to: '/json' },
        beforeRedirect: (options: Record<string, unknown>) => {
          seen.push(String(options.path));
        },
      });
      return seen;
    },
    expect: resolves<string[]>('beforeRedirect is called with the next hop', (seen) =>
      expect(seen).toEqual(['/json']),
    ),
    pending: { 'mesh-undici': POLICY },
  },
];
