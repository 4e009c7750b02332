/**
 * Redirects. axios follows up to `maxRedirects` (21 by default) anywhere, rewriting the method
 * and body as RFC 9110 allows (303, and 301/302 after a POST, become a GET without the body;
 * 307/308 keep both). A mesh follows those that stay on the endpoint it chose (relative, or the
 * same origin) the same way, and by default refuses a redirect to another host, which would leave
 * the mesh (no discovery, balancing or breakers there); `redirects-policy.ts` has the policy's
 * settings.
 */
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { axiosError, refused, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

interface Echo {
  method: string;
  url: string;
  body: string;
  headers: Record<string, string | undefined>;
}

const echoed = (label: string, check: (e: Echo) => void) => resolves(label, (res) => check(res.data as Echo));

/** A POST of `{"a":1}` answered by a `code` redirect to /echo. */
const postRedirected = (code: number, method = 'post') => ({
  method,
  url: '/redirect',
  params: { to: '/echo', code },
  data: { a: 1 },
});

export const redirects: Case[] = [
  {
    id: 'redirects/relative',
    run: (c) => c.request({ url: '/redirect', params: { to: '/json' } }),
    expect: resolves('a relative Location is followed', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'redirects/same-origin',
    run: (c) => c.request({ url: '/redirect', params: { to: `${c.origin}/json` } }),
    expect: resolves('an absolute Location on the same origin is followed', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'redirects/other-host',
    run: (c) => c.request({ url: '/redirect', params: { to: `${c.servers.other}/json` } }),
    expect: resolves('axios follows to another host', (res) => expect(res.data).toEqual({ hello: 'world' })),
    mesh: refused('MESH_REDIRECT_REFUSED', /redirect/),
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
  },
  {
    id: 'redirects/303-post-becomes-get',
    run: (c) =>
      c.request({ method: 'post', url: '/redirect', params: { to: '/echo', code: 303 }, data: { a: 1 } }),
    expect: resolves('303 after POST: GET without the body', (res) =>
      expect((res.data as { method: string }).method).toBe('GET'),
    ),
  },
  {
    id: 'redirects/307-keeps-method',
    run: (c) =>
      c.request({ method: 'post', url: '/redirect', params: { to: '/echo', code: 307 }, data: { a: 1 } }),
    expect: resolves('307 keeps the method and body', (res) => {
      const e = res.data as { method: string; body: string };
      expect([e.method, e.body]).toEqual(['POST', '{"a":1}']);
    }),
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
  },
  {
    id: 'redirects/response-request',
    run: (c) => c.request({ url: '/redirect', params: { to: '/echo' } }),
    expect: resolves('response.request is the last hop', (res) =>
      expect((res.request as { path: string }).path).toBe('/echo'),
    ),
  },
  {
    id: 'redirects/301-post-becomes-get',
    run: (c) => c.request(postRedirected(301)),
    expect: echoed('301 after POST: GET without the body', (e) =>
      expect([e.method, e.body]).toEqual(['GET', '']),
    ),
  },
  {
    id: 'redirects/302-post-becomes-get',
    run: (c) => c.request(postRedirected(302)),
    expect: echoed('302 after POST: GET without the body', (e) =>
      expect([e.method, e.body]).toEqual(['GET', '']),
    ),
  },
  {
    id: 'redirects/303-drops-content-headers',
    run: (c) => c.request(postRedirected(303)),
    expect: echoed('303: no Content-Type or Content-Length on the GET', (e) => {
      expect(e.headers['content-type']).toBeUndefined();
      expect(e.headers['content-length']).toBeUndefined();
    }),
  },
  {
    id: 'redirects/302-put-keeps-method',
    run: (c) => c.request(postRedirected(302, 'put')),
    expect: echoed('302 after PUT: PUT again, with the body', (e) =>
      expect([e.method, e.body]).toEqual(['PUT', '{"a":1}']),
    ),
  },
  {
    id: 'redirects/308-keeps-body',
    run: (c) => c.request(postRedirected(308)),
    expect: echoed('308 keeps the method and body', (e) =>
      expect([e.method, e.body]).toEqual(['POST', '{"a":1}']),
    ),
  },
  {
    id: 'redirects/307-stream-body',
    run: (c) =>
      c.request({
        method: 'post',
        url: '/redirect',
        params: { to: '/echo', code: 307 },
        data: Readable.from([Buffer.from('abc'), Buffer.from('def')]),
      }),
    expect: echoed('a streamed body is sent again after a 307', (e) =>
      expect([e.method, e.body]).toEqual(['POST', 'abcdef']),
    ),
  },
  {
    id: 'redirects/same-origin-keeps-auth',
    run: (c) =>
      c.request({ url: '/redirect', params: { to: '/echo' }, auth: { username: 'ada', password: 'pw' } }),
    expect: echoed('Basic auth sent again on the same origin', (e) =>
      expect(e.headers.authorization).toBe(`Basic ${Buffer.from('ada:pw').toString('base64')}`),
    ),
  },
  {
    id: 'redirects/location-userinfo',
    run: (c) =>
      c.request({ url: '/redirect', params: { to: `${c.origin.replace('://', '://ada:pw@')}/echo` } }),
    expect: echoed("followed; the Location's credentials are not sent", (e) => {
      expect(e.url).toBe('/echo');
      expect(e.headers.authorization).toBeUndefined();
    }),
  },
  {
    id: 'redirects/before-redirect-header',
    run: (c) =>
      c.request({
        url: '/redirect',
        params: { to: '/echo' },
        beforeRedirect: (options: Record<string, unknown>) => {
          (options.headers as Record<string, string>)['x-hop'] = String(options.path);
        },
      }),
    expect: echoed('a header beforeRedirect sets reaches the next hop', (e) =>
      expect(e.headers['x-hop']).toBe('/echo'),
    ),
  },
  {
    id: 'redirects/chain',
    run: (c) => c.request({ url: '/redirect', params: { to: '/redirect?to=%2Fredirect%3Fto%3D%252Fjson' } }),
    expect: resolves('three hops followed', (res) => expect(res.data).toEqual({ hello: 'world' })),
  },
];
