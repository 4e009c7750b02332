/**
 * Streamed responses (`responseType: 'stream'`), bodies that die half-way, progress callbacks
 * and `maxRate`, and the size limits `maxContentLength` and `maxBodyLength`.
 */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { AxiosProgressEvent } from 'axios';
import { expect } from 'vitest';
import { axiosError, readAll, resolves, type Thrown } from '../support/expect.js';
import type { Case } from '../support/harness.js';

/** Reads a stream to its end; resolves with the error it failed with, if it did. */
async function drain(stream: Readable): Promise<{ bytes: number; err: Thrown | undefined }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    return { bytes, err: undefined };
  } catch (err) {
    return { bytes, err: err as Thrown };
  }
}

const last = (events: AxiosProgressEvent[]) => events[events.length - 1];

export const streams: Case[] = [
  {
    id: 'streams/read',
    run: async (c) => readAll((await c.request({ url: '/text', responseType: 'stream' })).data as Readable),
    expect: resolves<string>('data is a Readable with the body', (text) => expect(text).toBe('plain text')),
  },
  {
    id: 'streams/is-readable',
    run: (c) => c.request({ url: '/drip', params: { chunks: 4, size: 256 }, responseType: 'stream' }),
    expect: resolves('response.data is a Readable; headers already there', async (res) => {
      expect(res.data).toBeInstanceOf(Readable);
      expect(res.headers['content-length']).toBe('1024');
      expect((await drain(res.data as Readable)).bytes).toBe(1024);
    }),
  },
  {
    id: 'streams/consumer-destroys',
    run: async (c) => {
      const res = await c.request({ url: '/endless', responseType: 'stream' });
      const left = c.servers.observed.left(c.tag);
      const data = res.data as Readable;
      await once(data, 'data');
      data.destroy();
      await left;
      return 'server saw the client go';
    },
    expect: resolves<string>('destroying the body closes the connection', (v) =>
      expect(v).toBe('server saw the client go'),
    ),
  },
  {
    id: 'streams/server-cuts',
    run: async (c) => drain((await c.request({ url: '/cut', responseType: 'stream' })).data as Readable),
    expect: resolves<{ bytes: number; err: Thrown | undefined }>(
      'the body stream errors (ECONNRESET aborted) after the bytes that came',
      ({ bytes, err }) => {
        expect(bytes).toBe(100);
        expect(err?.code).toBe('ECONNRESET');
        expect(err?.message).toBe('aborted');
      },
    ),
  },
  {
    id: 'streams/buffered-server-cuts',
    run: (c) => c.request({ url: '/cut' }),
    expect: axiosError('ERR_BAD_RESPONSE', 'stream has been aborted', {
      check: (err) => expect(err.response?.status).toBe(200),
    }),
  },
  {
    id: 'streams/max-content-length',
    run: async (c) =>
      drain(
        (
          await c.request({
            url: '/big',
            params: { n: 5000 },
            responseType: 'stream',
            maxContentLength: 1000,
          })
        ).data as Readable,
      ),
    expect: resolves<{ bytes: number; err: Thrown | undefined }>(
      'the stream errors with ERR_BAD_RESPONSE past maxContentLength',
      ({ err }) => {
        expect(err?.code).toBe('ERR_BAD_RESPONSE');
        expect(err?.message).toBe('maxContentLength size of 1000 exceeded');
      },
    ),
  },
  {
    id: 'streams/error-status',
    run: (c) => c.request({ url: '/status/404', responseType: 'stream' }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request failed with status code 404', {
      status: 404,
      check: (err) => expect(err.response?.data).toBeInstanceOf(Readable),
    }),
  },
  {
    id: 'limits/max-content-length',
    run: (c) => c.request({ url: '/big', params: { n: 5000 }, maxContentLength: 1000 }),
    expect: axiosError('ERR_BAD_RESPONSE', 'maxContentLength size of 1000 exceeded'),
  },
  {
    id: 'limits/max-content-length-exact',
    run: (c) => c.request({ url: '/big', params: { n: 1000 }, maxContentLength: 1000 }),
    expect: resolves('exactly maxContentLength is fine', (res) =>
      expect((res.data as string).length).toBe(1000),
    ),
  },
  {
    id: 'limits/max-body-length',
    run: (c) => c.request({ method: 'post', url: '/upload', data: Buffer.alloc(2000), maxBodyLength: 1000 }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request body larger than maxBodyLength limit', {
      check: (_err, c) => expect(c.servers.observed.has(c.tag)).toBe(false),
    }),
  },
  {
    id: 'limits/max-body-length-string',
    run: (c) => c.request({ method: 'post', url: '/upload', data: 'x'.repeat(1001), maxBodyLength: 1000 }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request body larger than maxBodyLength limit'),
  },
  {
    id: 'limits/max-body-length-stream',
    run: (c) =>
      c.request({
        method: 'post',
        url: '/upload',
        data: Readable.from([Buffer.alloc(600), Buffer.alloc(600)]),
        maxBodyLength: 1000,
      }),
    expect: axiosError('ERR_BAD_REQUEST', 'Request body larger than maxBodyLength limit'),
  },
  {
    id: 'limits/max-body-length-exact',
    run: (c) => c.request({ method: 'post', url: '/upload', data: Buffer.alloc(1000), maxBodyLength: 1000 }),
    expect: resolves('exactly maxBodyLength is sent', (res) =>
      expect((res.data as { bytes: number }).bytes).toBe(1000),
    ),
  },
  {
    id: 'progress/download',
    run: async (c) => {
      const events: AxiosProgressEvent[] = [];
      await c.request({
        url: '/big',
        params: { n: 200_000 },
        responseType: 'arraybuffer',
        onDownloadProgress: (e) => events.push(e),
      });
      // axios delivers progress on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      return events;
    },
    expect: resolves<AxiosProgressEvent[]>('download progress up to the whole length', (events) => {
      expect(events.length).toBeGreaterThan(0);
      expect(last(events)).toMatchObject({
        loaded: 200_000,
        total: 200_000,
        download: true,
        lengthComputable: true,
      });
      expect(last(events)?.progress).toBe(1);
    }),
  },
  {
    id: 'progress/upload',
    run: async (c) => {
      const events: AxiosProgressEvent[] = [];
      await c.request({
        method: 'post',
        url: '/upload',
        data: Buffer.alloc(200_000, 1),
        onUploadProgress: (e) => events.push(e),
      });
      await new Promise((resolve) => setImmediate(resolve));
      return events;
    },
    expect: resolves<AxiosProgressEvent[]>('upload progress up to the whole length', (events) => {
      expect(events.length).toBeGreaterThan(0);
      expect(last(events)).toMatchObject({ loaded: 200_000, total: 200_000, upload: true });
    }),
  },
  {
    id: 'progress/upload-unknown-length',
    run: async (c) => {
      const events: AxiosProgressEvent[] = [];
      await c.request({
        method: 'post',
        url: '/upload',
        data: Readable.from([Buffer.alloc(3000), Buffer.alloc(3000)]),
        onUploadProgress: (e) => events.push(e),
      });
      await new Promise((resolve) => setImmediate(resolve));
      return events;
    },
    expect: resolves<AxiosProgressEvent[]>(
      'a stream of unknown length: loaded counts, total undefined',
      (events) => {
        expect(last(events)).toMatchObject({ loaded: 6000, upload: true, lengthComputable: false });
        expect(last(events)?.total).toBeUndefined();
      },
    ),
  },
  {
    id: 'progress/max-rate-download',
    timeoutMs: 30_000,
    run: async (c) => {
      const started = performance.now();
      const res = await c.request({ url: '/big', params: { n: 60_000 }, maxRate: [0, 40_000] });
      return { bytes: (res.data as string).length, ms: performance.now() - started };
    },
    // The throttle's floor, not a speed: 60 kB at 40 kB/s cannot arrive in under a second.
    expect: resolves<{ bytes: number; ms: number }>(
      'maxRate slows the download to the rate',
      ({ bytes, ms }) => {
        expect(bytes).toBe(60_000);
        expect(ms).toBeGreaterThan(900);
      },
    ),
  },
  {
    id: 'progress/max-rate-upload',
    timeoutMs: 30_000,
    run: async (c) => {
      const started = performance.now();
      const res = await c.request({
        method: 'post',
        url: '/upload',
        data: Buffer.alloc(60_000),
        maxRate: 40_000,
      });
      return { bytes: (res.data as { bytes: number }).bytes, ms: performance.now() - started };
    },
    expect: resolves<{ bytes: number; ms: number }>(
      'maxRate slows the upload to the rate',
      ({ bytes, ms }) => {
        expect(bytes).toBe(60_000);
        expect(ms).toBeGreaterThan(900);
      },
    ),
  },
];
