/**
 * Requests and responses as axios sends and shapes them: URL building, params, headers axios
 * adds (User-Agent, Accept, Accept-Encoding), auth, response fields (status, statusText,
 * headers, request), transforms and interceptors.
 */
import axios, { AxiosHeaders } from 'axios';
import { expect } from 'vitest';
import { axiosError, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  bytes: number;
}

const echoed = (label: string, check: (echo: Echo) => void) =>
  resolves(label, (res) => check((res as { data: Echo }).data));

export const basics: Case[] = [
  {
    id: 'basics/get-json',
    run: (c) => c.request({ url: '/json' }),
    expect: resolves('200, JSON parsed', (res) => {
      expect(res.status).toBe(200);
      expect(res.data).toEqual({ hello: 'world' });
    }),
  },
  {
    id: 'basics/post-json',
    run: (c) => c.request({ method: 'post', url: '/echo', data: { a: 1, b: 'é' } }),
    expect: echoed('body sent as JSON with its byte length', (e) => {
      expect(e.method).toBe('POST');
      expect(e.body).toBe('{"a":1,"b":"é"}');
      expect(e.headers['content-type']).toBe('application/json');
      expect(e.headers['content-length']).toBe(String(Buffer.byteLength('{"a":1,"b":"é"}')));
    }),
  },
  {
    id: 'basics/params',
    run: (c) => c.request({ url: '/echo', params: { q: 'a b', list: [1, 2], skip: undefined, empty: null } }),
    expect: echoed('params serialized as axios does', (e) =>
      expect(e.url).toBe('/echo?q=a+b&list%5B%5D=1&list%5B%5D=2'),
    ),
  },
  {
    id: 'basics/params-merge-query',
    run: (c) => c.request({ url: '/echo?x=1', params: { y: 2 } }),
    expect: echoed('params appended to the query', (e) => expect(e.url).toBe('/echo?x=1&y=2')),
  },
  {
    id: 'basics/params-serializer',
    run: (c) =>
      c.request({
        url: '/echo',
        params: { a: 1, b: 2 },
        paramsSerializer: { serialize: (p) => `custom=${Object.keys(p).join('-')}` },
      }),
    expect: echoed('custom serializer used', (e) => expect(e.url).toBe('/echo?custom=a-b')),
  },
  {
    id: 'basics/url-dot-segments',
    run: (c) => c.request({ url: '/nowhere/../echo' }),
    expect: echoed('dot segments resolved as a URL parser does', (e) => expect(e.url).toBe('/echo')),
  },
  {
    id: 'basics/url-hash',
    run: (c) => c.request({ url: '/echo?a=1#fragment' }),
    expect: echoed('fragment not sent', (e) => expect(e.url).toBe('/echo?a=1')),
  },
  {
    id: 'basics/url-space',
    run: (c) => c.request({ url: '/echo/a b' }),
    expect: echoed('space percent-encoded', (e) => expect(e.url).toBe('/echo/a%20b')),
  },
  {
    id: 'basics/base-url-path',
    run: (c) => c.request({ baseURL: `${c.base}/echo/`, url: 'sub' }),
    expect: echoed('baseURL path joined with the URL', (e) => expect(e.url).toBe('/echo/sub')),
  },
  {
    id: 'basics/method-put',
    run: (c) => c.request({ method: 'put', url: '/echo', data: 'text body' }),
    expect: echoed('PUT with a string body', (e) => {
      expect(e.method).toBe('PUT');
      expect(e.body).toBe('text body');
    }),
  },
  {
    id: 'basics/method-delete',
    run: (c) => c.request({ method: 'delete', url: '/echo' }),
    expect: echoed('DELETE', (e) => expect(e.method).toBe('DELETE')),
  },
  {
    id: 'basics/method-patch',
    run: (c) => c.request({ method: 'patch', url: '/echo', data: { p: 1 } }),
    expect: echoed('PATCH with JSON', (e) => expect([e.method, e.body]).toEqual(['PATCH', '{"p":1}'])),
  },
  {
    id: 'basics/head',
    run: (c) => c.request({ method: 'head', url: '/json' }),
    expect: resolves('HEAD: status and headers, empty data', (res) => {
      expect(res.status).toBe(200);
      expect(res.data).toBe('');
      expect(res.headers['content-type']).toBe('application/json');
    }),
  },
  {
    id: 'basics/auth',
    run: (c) => c.request({ url: '/echo', auth: { username: 'ada', password: 's3cret' } }),
    expect: echoed('Basic authorization', (e) =>
      expect(e.headers.authorization).toBe(`Basic ${Buffer.from('ada:s3cret').toString('base64')}`),
    ),
  },
  {
    id: 'basics/auth-replaces-header',
    run: (c) =>
      c.request({
        url: '/echo',
        auth: { username: 'u', password: 'p' },
        headers: { Authorization: 'Bearer x' },
      }),
    expect: echoed('auth wins over an Authorization header', (e) =>
      expect(e.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`),
    ),
  },
  {
    id: 'basics/default-user-agent',
    run: (c) => c.request({ url: '/echo' }),
    expect: echoed('User-Agent axios/<version>', (e) =>
      expect(e.headers['user-agent']).toBe(`axios/${axios.VERSION}`),
    ),
  },
  {
    id: 'basics/own-user-agent',
    run: (c) => c.request({ url: '/echo', headers: { 'User-Agent': 'orders/1.0' } }),
    expect: echoed("the caller's User-Agent kept", (e) => expect(e.headers['user-agent']).toBe('orders/1.0')),
  },
  {
    id: 'basics/no-user-agent',
    run: (c) => c.request({ url: '/echo', headers: { 'User-Agent': false as unknown as string } }),
    expect: echoed('User-Agent: false sends none', (e) => expect(e.headers['user-agent']).toBeUndefined()),
  },
  {
    id: 'basics/default-accept',
    run: (c) => c.request({ url: '/echo' }),
    expect: echoed('Accept: application/json, text/plain, */*', (e) =>
      expect(e.headers.accept).toBe('application/json, text/plain, */*'),
    ),
  },
  {
    id: 'basics/default-accept-encoding',
    run: (c) => c.request({ url: '/echo' }),
    expect: echoed('Accept-Encoding: gzip, compress, deflate, br', (e) =>
      expect(e.headers['accept-encoding']).toBe('gzip, compress, deflate, br'),
    ),
  },
  {
    id: 'basics/custom-header',
    run: (c) => c.request({ url: '/echo', headers: { 'X-Custom': 'value', 'x-number': 42 } }),
    expect: echoed('custom headers sent', (e) => {
      expect(e.headers['x-custom']).toBe('value');
      expect(e.headers['x-number']).toBe('42');
    }),
  },
  {
    id: 'basics/header-control-chars',
    run: (c) => c.request({ url: '/echo', headers: { 'x-dirty': ' a\u0001b\u007fc ' } }),
    expect: echoed('control characters and outer spaces stripped from values', (e) =>
      expect(e.headers['x-dirty']).toBe('abc'),
    ),
  },
  {
    id: 'basics/header-latin1',
    run: (c) => c.request({ url: '/echo', headers: { 'x-latin': 'caf\u00e9 \u20ac' } }),
    expect: echoed('latin-1 kept, characters past U+00FF dropped', (e) =>
      expect(Buffer.from(String(e.headers['x-latin']), 'latin1').toString('latin1')).toBe('caf\u00e9'),
    ),
  },
  {
    id: 'basics/header-array',
    run: (c) => c.request({ url: '/echo', headers: { 'x-many': ['a', 'b'] as unknown as string } }),
    expect: echoed('an array header value is sent joined', (e) => expect(e.headers['x-many']).toBe('a, b')),
  },
  {
    id: 'basics/status-text',
    run: (c) => c.request({ url: '/json' }),
    expect: resolves("statusText 'OK'", (res) => expect(res.statusText).toBe('OK')),
  },
  {
    id: 'basics/status-text-custom',
    run: (c) => c.request({ url: '/status/201', params: { reason: 'Made It' } }),
    expect: resolves('statusText is the reason phrase sent', (res) => {
      expect(res.status).toBe(201);
      expect(res.statusText).toBe('Made It');
    }),
  },
  {
    id: 'basics/response-request',
    run: (c) => c.request({ url: '/json' }),
    expect: resolves('response.request is set', (res) => expect(res.request).toBeTruthy()),
  },
  {
    id: 'basics/response-headers',
    run: (c) => c.request({ url: '/json' }),
    expect: resolves('headers are AxiosHeaders, lower-case', (res) => {
      expect(res.headers).toBeInstanceOf(AxiosHeaders);
      expect((res.headers as AxiosHeaders).get('Content-Type')).toBe('application/json');
      expect(res.headers['content-length']).toBe('17');
    }),
  },
  {
    id: 'basics/set-cookie',
    run: (c) => c.request({ url: '/cookies' }),
    expect: resolves('set-cookie is an array', (res) =>
      expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']),
    ),
  },
  {
    id: 'basics/response-config',
    run: (c) => c.request({ url: '/json', headers: { 'x-mark': 'm' }, timeout: 4321 }),
    expect: resolves("response.config is the caller's config", (res) => {
      expect(res.config.url).toBe('/json');
      expect(res.config.timeout).toBe(4321);
      expect(res.config.headers.get('x-mark')).toBe('m');
      expect(typeof res.config.validateStatus).toBe('function');
    }),
  },
  {
    id: 'basics/interceptors',
    run: async (c) => {
      c.http.interceptors.request.use((config) => {
        config.headers.set('x-intercepted', 'yes');
        return config;
      });
      c.http.interceptors.response.use((res) => ({ ...res, data: { wrapped: res.data } }));
      return c.request({ url: '/echo' });
    },
    expect: resolves('request and response interceptors run', (res) => {
      const data = res.data as { wrapped: Echo };
      expect(data.wrapped.headers['x-intercepted']).toBe('yes');
    }),
  },
  {
    id: 'basics/transform-request',
    run: (c) =>
      c.request({
        method: 'post',
        url: '/echo',
        data: { a: 1 },
        transformRequest: [
          (data: { a: number }, headers) => {
            headers.set('content-type', 'text/x-custom');
            return `a is ${data.a}`;
          },
        ],
      }),
    expect: echoed('transformRequest output sent', (e) => {
      expect(e.body).toBe('a is 1');
      expect(e.headers['content-type']).toBe('text/x-custom');
    }),
  },
  {
    id: 'basics/transform-response',
    run: (c) => c.request({ url: '/text', transformResponse: [(data: string) => data.toUpperCase()] }),
    expect: resolves('transformResponse applied', (res) => expect(res.data).toBe('PLAIN TEXT')),
  },
  {
    id: 'basics/parse-reviver',
    run: (c) =>
      c.request({
        url: '/json',
        parseReviver: (key: string, value: unknown) => (key === 'hello' ? 'revived' : value),
      }),
    expect: resolves('parseReviver used by JSON parsing', (res) =>
      expect(res.data).toEqual({ hello: 'revived' }),
    ),
  },
  {
    id: 'basics/bad-transformed-data',
    run: (c) => c.request({ method: 'post', url: '/echo', data: 42, transformRequest: [(d: unknown) => d] }),
    expect: axiosError(
      'ERR_BAD_REQUEST',
      'Data after transformation must be a string, an ArrayBuffer, a Buffer, or a Stream',
    ),
  },
];
