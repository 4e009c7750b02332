/**
 * Compressed responses: every encoding axios decodes, the framings servers really send (zlib
 * and raw DEFLATE under "deflate"), empty and truncated bodies, HEAD and 204 with an encoding,
 * `decompress: false`, corrupt data, and limits counted on decoded bytes.
 */
import zlib from 'node:zlib';
import { expect } from 'vitest';
import { axiosError, readAll, rejects, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';
import { ENCODED, TEXT } from '../support/routes.js';

const decoded = (name: string): Case => ({
  id: `decompress/${name}`,
  run: (c) => c.request({ url: `/enc/${name}` }),
  expect: resolves(`decoded (${ENCODED[name]![0]}); content-encoding removed`, (res) => {
    expect(res.data).toBe(TEXT);
    expect(res.headers['content-encoding']).toBeUndefined();
  }),
});

const emptyBody = (encoding: string): Case => ({
  id: `decompress/empty-${encoding}`,
  run: (c) => c.request({ url: `/enc-empty/${encoding}` }),
  expect: resolves(`empty body under ${encoding}: ''`, (res) => {
    expect(res.status).toBe(200);
    expect(res.data).toBe('');
  }),
});

export const decompress: Case[] = [
  ...['gzip', 'x-gzip', 'gzip-upper', 'br', 'deflate', 'deflate-raw', 'compress', 'x-compress'].map(decoded),
  ...['gzip', 'br', 'deflate', 'compress'].map(emptyBody),
  {
    id: 'decompress/identity',
    run: (c) => c.request({ url: '/enc/identity' }),
    expect: resolves('identity passes through, header kept', (res) => {
      expect(res.data).toBe(TEXT);
      expect(res.headers['content-encoding']).toBe('identity');
    }),
  },
  {
    id: 'decompress/unknown-encoding',
    run: (c) => c.request({ url: '/enc/unknown', responseType: 'arraybuffer' }),
    expect: resolves('an unknown encoding passes through raw', (res) => {
      expect(Buffer.from(res.data as Buffer).toString()).toBe(TEXT);
      expect(res.headers['content-encoding']).toBe('x-custom');
    }),
  },
  {
    id: 'decompress/disabled',
    run: (c) => c.request({ url: '/enc/gzip', decompress: false, responseType: 'arraybuffer' }),
    expect: resolves('decompress: false gives the raw bytes and keeps the header', (res) => {
      expect(zlib.gunzipSync(res.data as Buffer).toString()).toBe(TEXT);
      expect(res.headers['content-encoding']).toBe('gzip');
    }),
  },
  {
    id: 'decompress/head',
    run: (c) => c.request({ method: 'head', url: '/enc/gzip' }),
    expect: resolves('HEAD with an encoding: empty data, header removed', (res) => {
      expect(res.data).toBe('');
      expect(res.headers['content-encoding']).toBeUndefined();
    }),
  },
  {
    id: 'decompress/204',
    run: (c) => c.request({ url: '/enc/gzip', params: { status: 204 } }),
    expect: resolves('204 with an encoding: empty data, header removed', (res) => {
      expect(res.status).toBe(204);
      expect(res.data).toBe('');
      expect(res.headers['content-encoding']).toBeUndefined();
    }),
  },
  {
    id: 'decompress/corrupt-gzip',
    run: (c) => c.request({ url: '/enc-corrupt/gzip' }),
    expect: axiosError('Z_DATA_ERROR', 'incorrect header check', {
      check: (err) => expect(err.response?.status).toBe(200),
    }),
  },
  {
    id: 'decompress/corrupt-br',
    run: (c) => c.request({ url: '/enc-corrupt/br' }),
    expect: rejects('AxiosError with the brotli error code', {
      check: (err) => expect(err.code).toMatch(/^ERR__ERROR/),
    }),
  },
  {
    id: 'decompress/truncated-gzip',
    run: (c) => c.request({ url: '/enc-truncated' }),
    expect: resolves('a gzip body without its trailer still decodes', (res) => expect(res.data).toBe(TEXT)),
  },
  {
    id: 'decompress/stream',
    run: async (c) =>
      readAll((await c.request({ url: '/enc/br', responseType: 'stream' })).data as NodeJS.ReadableStream),
    expect: resolves<string>('a streamed response is decoded too', (text) => expect(text).toBe(TEXT)),
  },
  {
    id: 'decompress/arraybuffer',
    run: (c) => c.request({ url: '/enc/deflate', responseType: 'arraybuffer' }),
    expect: resolves('arraybuffer gets decoded bytes', (res) =>
      expect(Buffer.from(res.data as Buffer).toString()).toBe(TEXT),
    ),
  },
  {
    id: 'decompress/max-content-length-decoded',
    run: (c) => c.request({ url: '/enc-big', params: { n: 10_000 }, maxContentLength: 1000 }),
    expect: axiosError('ERR_BAD_RESPONSE', 'maxContentLength size of 1000 exceeded'),
  },
];
