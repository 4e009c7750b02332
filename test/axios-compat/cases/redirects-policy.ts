/**
 * The mesh's redirect policy (`redirects: { follow, max }`) against what plain axios does:
 * `follow: 'any'` follows another host as axios does (credentials dropped, as axios drops them),
 * `'none'` returns the 3xx, `max` bounds the hops unless the request's own `maxRedirects` says
 * otherwise, and a redirect naming the host of the request's own `Host` header stays on the
 * endpoint (axios would look that host up and leave). A refusal never repeats the Location's
 * credentials, path or query.
 */
import { MeshError } from 'mesh-client';
import { expect } from 'vitest';
import { axiosError, rejects, resolves } from '../support/expect.js';
import type { Case, Ctx } from '../support/harness.js';

interface Echo {
  url: string;
  headers: Record<string, string | undefined>;
}

/** Two hops to /json. */
const TWO_HOPS = { url: '/redirect', params: { to: '/redirect?to=%2Fjson' } };

const VIRTUAL = 'virtual.test';

/** Resolves only loopback addresses: `virtual.test` is unknown, deterministically. */
const lookup = (hostname: string, _options: unknown, callback: (...args: unknown[]) => void) => {
  if (hostname === VIRTUAL) {
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  } else callback(null, '127.0.0.1', 4);
};

/** A request with `Host: virtual.test`, redirected to `to`. */
const virtualHost = (c: Ctx, to: string) =>
  c.request({ url: '/redirect', params: { to }, headers: { Host: VIRTUAL }, lookup: lookup as never });

export const redirectPolicy: Case[] = [
  {
    id: 'redirects/other-host-any',
    meshOptions: { redirects: { follow: 'any' } },
    run: (c) => c.request({ url: '/redirect', params: { to: `${c.servers.other}/json` } }),
    expect: resolves("another host followed (follow: 'any')", (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'redirects/other-host-drops-credentials',
    meshOptions: { redirects: { follow: 'any' } },
    run: (c) =>
      c.request({
        url: '/redirect',
        params: { to: `${c.servers.other}/echo` },
        auth: { username: 'ada', password: 'pw' },
        headers: { Cookie: 'session=1', 'x-keep': 'yes' },
      }),
    expect: resolves('no Authorization or Cookie to another host; other headers kept', (res) => {
      const e = res.data as Echo;
      expect(e.headers.authorization).toBeUndefined();
      expect(e.headers.cookie).toBeUndefined();
      expect(e.headers['x-keep']).toBe('yes');
    }),
  },
  {
    id: 'redirects/refusal-hides-location',
    run: (c) =>
      c.request({
        url: '/redirect',
        params: { to: `${c.servers.other.replace('://', '://ada:hunter2@')}/cb?token=s3cret` },
      }),
    // axios follows; the other host has no such route.
    expect: axiosError('ERR_BAD_REQUEST', 'Request failed with status code 404'),
    mesh: rejects('MeshError MESH_REDIRECT_REFUSED naming the origin only', {
      cls: MeshError,
      code: 'MESH_REDIRECT_REFUSED',
      check: (err, c) => {
        expect(err.message).toContain(c.servers.other);
        expect(err.message).not.toMatch(/hunter2|s3cret|\/cb/);
      },
    }),
  },
  {
    id: 'redirects/follow-none',
    meshOptions: { redirects: { follow: 'none' } },
    run: (c) => c.request({ url: '/redirect', params: { to: '/json' } }),
    expect: resolves('axios follows', (res) => expect(res.data).toEqual({ hello: 'world' })),
    mesh: axiosError('ERR_BAD_RESPONSE', 'Request failed with status code 302', {
      status: 302,
      check: (err) => expect(err.response?.headers.location).toBe('/json'),
    }),
  },
  {
    id: 'redirects/policy-max',
    meshOptions: { redirects: { max: 1 } },
    run: (c) => c.request(TWO_HOPS),
    expect: resolves('axios follows both hops', (res) => expect(res.data).toEqual({ hello: 'world' })),
    mesh: axiosError('ERR_FR_TOO_MANY_REDIRECTS', 'Maximum number of redirects exceeded'),
  },
  {
    id: 'redirects/request-max-over-policy',
    meshOptions: { redirects: { max: 1 } },
    run: (c) => c.request({ ...TWO_HOPS, maxRedirects: 5 }),
    expect: resolves("the request's maxRedirects replaces the policy's max", (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'redirects/host-header-relative',
    run: (c) => virtualHost(c, '/echo'),
    expect: axiosError('ENOTFOUND', undefined),
    mesh: resolves('the relative Location stays on the endpoint, with the same Host', (res) => {
      const e = res.data as Echo;
      expect([e.url, e.headers.host]).toEqual(['/echo', VIRTUAL]);
    }),
  },
  {
    id: 'redirects/host-header-absolute',
    run: (c) => virtualHost(c, `http://${VIRTUAL}/echo`),
    expect: axiosError('ENOTFOUND', undefined),
    mesh: resolves('a Location naming the Host stays on the endpoint, with the same Host', (res) => {
      const e = res.data as Echo;
      expect([e.url, e.headers.host]).toEqual(['/echo', VIRTUAL]);
    }),
  },
];
