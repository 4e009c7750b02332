/**
 * Request bodies of every kind axios takes, the lengths it announces, and response bodies as
 * each `responseType` and `responseEncoding` shapes them (JSON with a byte-order mark included).
 */
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { axiosError, resolves } from '../support/expect.js';
import type { Case } from '../support/harness.js';

interface Upload {
  bytes: number;
  headers: Record<string, string | undefined>;
}

const uploaded = (label: string, check: (u: Upload) => void) =>
  resolves(label, (res) => check((res as { data: Upload }).data));

const chunks = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

export const bodies: Case[] = [
  {
    id: 'bodies/string-length',
    run: (c) => c.request({ method: 'post', url: '/upload', data: 'héllo' }),
    expect: uploaded('Content-Length is the UTF-8 byte length', (u) => {
      expect(u.bytes).toBe(6);
      expect(u.headers['content-length']).toBe('6');
    }),
  },
  {
    id: 'bodies/buffer',
    run: (c) => c.request({ method: 'post', url: '/upload', data: Buffer.alloc(1234, 1) }),
    expect: uploaded('Buffer sent with its length', (u) => {
      expect(u.bytes).toBe(1234);
      expect(u.headers['content-length']).toBe('1234');
    }),
  },
  {
    id: 'bodies/array-buffer',
    run: (c) => c.request({ method: 'post', url: '/upload', data: new ArrayBuffer(77) }),
    expect: uploaded('ArrayBuffer sent', (u) => expect(u.bytes).toBe(77)),
  },
  {
    id: 'bodies/uint8array',
    run: (c) => c.request({ method: 'post', url: '/upload', data: new Uint8Array([1, 2, 3, 4, 5]) }),
    expect: uploaded('typed array sent', (u) => expect(u.bytes).toBe(5)),
  },
  {
    id: 'bodies/stream-chunked',
    run: (c) => c.request({ method: 'post', url: '/upload', data: chunks('ab', 'cd', 'ef') }),
    expect: uploaded('a stream without a length goes chunked', (u) => {
      expect(u.bytes).toBe(6);
      expect(u.headers['transfer-encoding']).toBe('chunked');
      expect(u.headers['content-length']).toBeUndefined();
    }),
  },
  {
    id: 'bodies/stream-own-length',
    run: (c) =>
      c.request({
        method: 'post',
        url: '/upload',
        data: chunks('abc', 'def'),
        headers: { 'Content-Length': '6' },
      }),
    expect: uploaded("the caller's Content-Length is sent, not chunked", (u) => {
      expect(u.bytes).toBe(6);
      expect(u.headers['content-length']).toBe('6');
      expect(u.headers['transfer-encoding']).toBeUndefined();
    }),
  },
  {
    id: 'bodies/buffer-own-length',
    run: (c) =>
      c.request({
        method: 'post',
        url: '/upload',
        data: Buffer.from('0123456789'),
        headers: { 'content-length': 10 },
      }),
    expect: uploaded("the caller's Content-Length kept for a buffer", (u) =>
      expect([u.bytes, u.headers['content-length']]).toEqual([10, '10']),
    ),
  },
  {
    id: 'bodies/url-search-params',
    run: (c) => c.request({ method: 'post', url: '/echo', data: new URLSearchParams({ a: '1', b: 'x y' }) }),
    expect: resolves('form-urlencoded', (res) => {
      const e = res.data as { body: string; headers: Record<string, string> };
      expect(e.body).toBe('a=1&b=x+y');
      expect(e.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=utf-8');
    }),
  },
  {
    id: 'bodies/form-data',
    run: (c) => {
      const form = new FormData();
      form.append('field', 'value');
      return c.request({ method: 'post', url: '/echo', data: form });
    },
    expect: resolves('multipart/form-data', (res) => {
      const e = res.data as { body: string; headers: Record<string, string> };
      expect(e.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(e.body).toContain('name="field"');
      expect(e.body).toContain('value');
    }),
  },
  {
    id: 'bodies/blob',
    run: (c) =>
      c.request({ method: 'post', url: '/upload', data: new Blob(['blob!'], { type: 'text/x-blob' }) }),
    expect: uploaded('Blob sent with its type and size', (u) => {
      expect(u.bytes).toBe(5);
      expect(u.headers['content-type']).toBe('text/x-blob');
      expect(u.headers['content-length']).toBe('5');
    }),
  },
  {
    id: 'bodies/post-without-body',
    run: (c) => c.request({ method: 'post', url: '/upload' }),
    expect: uploaded('an empty POST', (u) => expect(u.bytes).toBe(0)),
  },
  {
    id: 'bodies/response-arraybuffer',
    run: (c) => c.request({ url: '/big', params: { n: 300 }, responseType: 'arraybuffer' }),
    expect: resolves('arraybuffer gives a Buffer', (res) => {
      expect(Buffer.isBuffer(res.data)).toBe(true);
      expect((res.data as Buffer).length).toBe(300);
    }),
  },
  {
    id: 'bodies/response-text',
    run: (c) => c.request({ url: '/json', responseType: 'text' }),
    expect: resolves("responseType 'text' is not parsed", (res) =>
      expect(res.data).toBe('{"hello":"world"}'),
    ),
  },
  {
    id: 'bodies/response-text-unforced',
    run: (c) => c.request({ url: '/json', transitional: { forcedJSONParsing: false } }),
    expect: resolves('JSON stays text without forced JSON parsing', (res) =>
      expect(res.data).toBe('{"hello":"world"}'),
    ),
  },
  {
    id: 'bodies/invalid-json-silent',
    run: (c) => c.request({ url: '/not-json' }),
    expect: resolves('invalid JSON comes back as the string', (res) => expect(res.data).toBe('{not json')),
  },
  {
    id: 'bodies/invalid-json-strict',
    run: (c) =>
      c.request({ url: '/not-json', responseType: 'json', transitional: { silentJSONParsing: false } }),
    expect: axiosError('ERR_BAD_RESPONSE', undefined, {
      check: (err) => expect(err.name).toBe('SyntaxError'),
    }),
  },
  {
    id: 'bodies/json-bom',
    run: (c) => c.request({ url: '/bom' }),
    expect: resolves('a UTF-8 BOM is stripped, JSON parsed', (res) =>
      expect(res.data).toEqual({ bom: true }),
    ),
  },
  {
    id: 'bodies/text-bom',
    run: (c) => c.request({ url: '/bom', responseType: 'text' }),
    expect: resolves('BOM stripped from text', (res) => expect(res.data).toBe('{"bom":true}')),
  },
  {
    id: 'bodies/arraybuffer-bom',
    run: (c) => c.request({ url: '/bom', responseType: 'arraybuffer' }),
    expect: resolves('BOM kept in raw bytes', (res) =>
      expect([...(res.data as Buffer).subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]),
    ),
  },
  {
    id: 'bodies/response-encoding',
    run: (c) => c.request({ url: '/latin1', responseEncoding: 'latin1' }),
    expect: resolves('responseEncoding decodes the text', (res) => expect(res.data).toBe('café')),
  },
  {
    id: 'bodies/status-204',
    run: (c) => c.request({ url: '/status/204' }),
    expect: resolves('204 gives empty data', (res) => {
      expect(res.status).toBe(204);
      expect(res.data).toBe('');
    }),
  },
  {
    id: 'bodies/big-download',
    run: (c) => c.request({ url: '/big', params: { n: 5_000_000 }, responseType: 'arraybuffer' }),
    expect: resolves('5 MB arrive intact', (res) => {
      const data = res.data as Buffer;
      expect(data.length).toBe(5_000_000);
      expect(data.every((b) => b === 0x62)).toBe(true);
    }),
  },
  {
    id: 'bodies/big-upload',
    run: (c) => c.request({ method: 'post', url: '/upload', data: Buffer.alloc(5_000_000, 7) }),
    expect: uploaded('5 MB sent intact', (u) => expect(u.bytes).toBe(5_000_000)),
  },
  {
    id: 'bodies/stream-body-error',
    run: (c) => {
      const data = new Readable({
        read() {
          this.destroy(Object.assign(new Error('source failed'), { code: 'ESOURCE' }));
        },
      });
      return c.request({ method: 'post', url: '/upload', data });
    },
    expect: axiosError('ESOURCE', 'source failed'),
  },
];
