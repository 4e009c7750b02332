/**
 * Responses read whole within the attempt, for requests that may be retried: once the sidecar
 * has sent a response's head to its client, a failure later in the body (an upstream resetting
 * mid-body) can only cut the client's response. Read first, the failure is the attempt's, and
 * the retry filter sends the request to another endpoint as it would after a reset before the
 * head.
 *
 * Only idempotent, replayable requests are buffered (nothing else would be retried), only up to
 * `responseBufferBytes` (a larger body, or one announced larger, streams as it comes), and only
 * while the buffer budget shared with request bodies has room (else the rest streams). The bytes
 * go back to the budget once the client has been sent the response.
 */
import { Readable } from 'node:stream';
import type { Call, Handler } from '../core/call.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import type { Admission } from './admission.js';

/** Wrap `inner` so that small responses of retryable requests are read before they are returned. */
export function bufferResponses(
  inner: Handler<ProxyRequest, ProxyReply>,
  options: { maxBytes: number; admission: Admission },
): Handler<ProxyRequest, ProxyReply> {
  const { maxBytes, admission } = options;
  if (maxBytes === 0) return inner;
  return async (call: Call<ProxyRequest>) => {
    const reply = await inner(call);
    if (!call.idempotent || !call.replayable) return reply;
    const declared = Number(reply.headers['content-length']);
    if (declared > maxBytes) return reply;

    const source = reply.body;
    const chunks: Buffer[] = [];
    let held = 0;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      admission.release(held);
    };
    const outcome = await new Promise<'end' | 'overflow'>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        if (held + chunk.length > maxBytes || !admission.reserve(chunk.length)) {
          // Past the bound: keep what was read, the rest streams.
          source.pause();
          chunks.push(chunk);
          done();
          resolve('overflow');
          return;
        }
        held += chunk.length;
        chunks.push(chunk);
      };
      const onEnd = () => {
        done();
        resolve('end');
      };
      const onError = (err: Error) => {
        done();
        reject(err);
      };
      const done = () => {
        source.off('data', onData);
        source.off('end', onEnd);
        source.off('error', onError);
      };
      source.on('data', onData);
      source.once('end', onEnd);
      source.once('error', onError);
    }).catch((err: unknown) => {
      release();
      throw err;
    });

    const body =
      outcome === 'end'
        ? Readable.from(chunks, { objectMode: false })
        : Readable.from(
            (async function* () {
              yield* chunks;
              yield* source;
            })(),
            { objectMode: false },
          );
    body.once('close', release);
    return {
      ...reply,
      body,
      discard: () => {
        release();
        body.destroy();
        source.destroy();
      },
    };
  };
}
