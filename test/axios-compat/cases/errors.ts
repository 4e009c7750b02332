/**
 * Error shapes axios users test for: classes, codes, `status`, `response`, `request`, `config`
 * (the caller's, not a transport's copy), `toJSON()`, status validation; and the URLs a mesh
 * cannot express (data:, tel:, ftp:, absolute and protocol-relative URLs, userinfo), which it
 * refuses with MESH_BAD_REQUEST.
 */
import axios, { AxiosError } from 'axios';
import { MeshError } from 'mesh-client';
import { expect } from 'vitest';
import { axiosError, refused, rejects, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

export const errors: Case[] = [
  {
    id: 'errors/404',
    run: (c) => c.request({ url: '/status/404' }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request failed with status code 404', {
      status: 404,
      check: (err) => {
        expect(err.status).toBe(404);
        expect(err.response?.data).toEqual({ status: 404 });
        expect(axios.isAxiosError(err)).toBe(true);
        expect(err.request).toBeTruthy();
      },
    }),
  },
  {
    id: 'errors/500',
    run: (c) => c.request({ url: '/status/500' }),
    expect: axiosError('ERR_BAD_RESPONSE', 'Request failed with status code 500', { status: 500 }),
  },
  {
    id: 'errors/503-after-retries',
    run: (c) => c.request({ url: '/status/503' }),
    expect: axiosError('ERR_BAD_RESPONSE', 'Request failed with status code 503', { status: 503 }),
  },
  {
    id: 'errors/status-text-in-response',
    run: (c) => c.request({ url: '/status/418', params: { reason: "I'm a teapot" } }),
    expect: axiosError('ERR_BAD_REQUEST', undefined, {
      check: (err) => expect(err.response?.statusText).toBe("I'm a teapot"),
    }),
  },
  {
    id: 'errors/validate-status',
    run: (c) => c.request({ url: '/status/404', validateStatus: (s) => s === 404 }),
    expect: resolves('validateStatus accepts the 404', (res) => expect(res.status).toBe(404)),
  },
  {
    id: 'errors/validate-status-null',
    run: (c) => c.request({ url: '/status/500', validateStatus: null }),
    expect: resolves('validateStatus null accepts every status', (res) => expect(res.status).toBe(500)),
  },
  {
    id: 'errors/validate-status-rejects-2xx',
    run: (c) => c.request({ url: '/json', validateStatus: () => false }),
    expect: axiosError('ERR_BAD_RESPONSE', 'Request failed with status code 200', { status: 200 }),
  },
  {
    id: 'errors/to-json',
    run: (c) => c.request({ url: '/status/404' }),
    expect: axiosError('ERR_BAD_REQUEST', undefined, {
      check: (err) =>
        expect(err.toJSON()).toMatchObject({ name: 'AxiosError', code: 'ERR_BAD_REQUEST', status: 404 }),
    }),
  },
  {
    id: 'errors/config-on-status-error',
    run: (c) => c.request({ url: '/status/404', timeout: 4321, headers: { 'x-mark': 'm' } }),
    expect: axiosError('ERR_BAD_REQUEST', undefined, {
      check: (err) => {
        expect(err.config?.url).toBe('/status/404');
        expect(err.config?.timeout).toBe(4321);
        expect(typeof err.config?.validateStatus).toBe('function');
        expect(err.config?.headers.get('x-mark')).toBe('m');
      },
    }),
  },
  {
    id: 'errors/config-on-transport-error',
    run: (c) => c.request({ url: '/reset', timeout: 4321, headers: { 'x-mark': 'm' } }),
    expect: axiosError('ECONNRESET', undefined, {
      check: (err, c) => {
        expect(err.config?.url).toBe('/reset');
        expect(err.config?.timeout).toBe(4321);
        expect(typeof err.config?.validateStatus).toBe('function');
        expect(err.config?.baseURL).toBe(c.mesh ? undefined : c.origin);
      },
    }),
  },
  {
    id: 'errors/config-on-body-error',
    run: (c) => c.request({ url: '/cut', timeout: 4321, headers: { 'x-mark': 'm' } }),
    expect: axiosError('ERR_BAD_RESPONSE', 'stream has been aborted', {
      check: (err) => {
        expect(err.config?.timeout).toBe(4321);
        expect(typeof err.config?.validateStatus).toBe('function');
        expect(err.response?.config).toBe(err.config);
      },
    }),
  },
  {
    id: 'errors/response-absent-on-network-error',
    origin: 'closed',
    run: (c) => c.request({ url: '/json' }),
    expect: axiosError('ECONNREFUSED', undefined, {
      check: (err) => {
        expect(err.response).toBeUndefined();
        expect(err.status).toBeUndefined();
        expect(err.cause).toBeInstanceOf(Error);
      },
    }),
  },
  {
    id: 'errors/params-serializer-throws',
    run: (c) =>
      c.request({
        url: '/json',
        params: { a: 1 },
        paramsSerializer: {
          serialize: () => {
            throw new Error('cannot serialize');
          },
        },
      }),
    expect: axiosError('ERR_BAD_REQUEST', 'cannot serialize'),
  },
  {
    id: 'errors/http-version',
    run: (c) => c.request({ url: '/json', httpVersion: 3 } as never),
    expect: axiosError('ERR_BAD_OPTION_VALUE', "Unsupported protocol version '3'"),
  },
  {
    id: 'errors/invalid-header-name',
    run: (c) => c.request({ url: '/json', headers: { 'bad header': 'x' } }),
    expect: rejects('TypeError ERR_INVALID_HTTP_TOKEN', {
      cls: TypeError,
      code: 'ERR_INVALID_HTTP_TOKEN',
    }),
  },
  {
    id: 'urls/data-uri',
    run: (c) => c.request({ baseURL: '', url: 'data:text/plain;base64,aGVsbG8=' }),
    expect: resolves('axios decodes a data: URI (a Buffer)', (res) =>
      expect(Buffer.from(res.data as Buffer).toString()).toBe('hello'),
    ),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/data-uri-post',
    run: (c) => c.request({ baseURL: '', method: 'post', url: 'data:text/plain,hi' }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request failed with status code 405', { status: 405 }),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/data-uri-stream',
    run: (c) => c.request({ baseURL: '', url: 'data:text/plain,hi', responseType: 'stream' }),
    expect: resolves('a data: URI as a stream', (res) => expect(res.status).toBe(200)),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/tel',
    run: (c) => c.request({ baseURL: '', url: 'tel:+15551234' }),
    expect: axiosError('ERR_BAD_REQUEST', 'Unsupported protocol tel:'),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/ftp',
    run: (c) => c.request({ url: 'ftp://127.0.0.1/file' }),
    expect: axiosError('ERR_BAD_REQUEST', 'Unsupported protocol ftp:'),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/userinfo',
    run: (c) => c.request({ url: `${c.servers.http.replace('://', '://ada:pw@')}/echo` }),
    expect: resolves('axios turns userinfo into Basic auth', (res) =>
      expect((res.data as { headers: Record<string, string> }).headers.authorization).toBe(
        `Basic ${Buffer.from('ada:pw').toString('base64')}`,
      ),
    ),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/userinfo-not-leaked',
    run: (c) => c.request({ url: `${c.servers.closed.replace('://', '://ada:hunter2@')}/json` }),
    expect: rejects('the error message does not carry the password', {
      check: (err) => expect(err.message).not.toContain('hunter2'),
    }),
    mesh: rejects('MeshError MESH_BAD_REQUEST without the password', {
      cls: MeshError,
      check: (err) => {
        expect(err.code).toBe('MESH_BAD_REQUEST');
        expect(err.message).not.toContain('hunter2');
      },
    }),
  },
  {
    id: 'urls/absolute',
    run: (c) => c.request({ url: `${c.servers.http}/json` }),
    expect: resolves('axios goes wherever an absolute URL says', (res) => expect(res.status).toBe(200)),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'urls/protocol-relative',
    run: (c) => c.request({ url: `//ada:pw@${new URL(c.servers.other).host}/echo` }),
    expect: rejects('TypeError: Invalid URL', { cls: TypeError, message: 'Invalid URL' }),
    mesh: refused('MESH_BAD_REQUEST'),
  },
  {
    id: 'urls/absolute-base-url',
    run: (c) => c.request({ baseURL: c.servers.other, url: '/json' }),
    expect: resolves('an absolute baseURL is used', (res) => expect(res.status).toBe(200)),
    mesh: refused('MESH_BAD_REQUEST', /relative/),
  },
  {
    id: 'errors/class-identity',
    run: (c) => c.request({ url: '/status/404' }),
    expect: rejects("AxiosError of the app's own axios", {
      cls: AxiosError,
      check: (err) => expect(err instanceof axios.AxiosError).toBe(true),
    }),
  },
];
