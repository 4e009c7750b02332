/**
 * The sidecar's transport: undici straight to the endpoint, streaming both bodies. The
 * forwarding path stays off axios's per-request machinery (config merging, transforms, the
 * follow-redirects wrapper): the proxy neither parses nor rewrites bodies.
 */
import type { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import type { Call, Handler, Reply } from '../core/call.js';

/** What the sidecar's ingress forwards. */
export interface ProxyRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** End-to-end headers, already rewritten for this hop. */
  headers: Record<string, string | string[]>;
  /** A buffered body (may be sent again), a stream (sent once), or none. */
  body: Buffer | Readable | null;
}

/** An upstream response, body not yet read. */
export interface ProxyReply extends Reply {
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

const DISCARD_LIMIT = 128 * 1024;

export function undiciTransport(dispatcher: Dispatcher): Handler<ProxyRequest, ProxyReply> {
  return async (call: Call<ProxyRequest>) => {
    const req = call.request;
    const res = await request(call.endpoint!.url + req.path, {
      dispatcher,
      method: req.method as Dispatcher.HttpMethod,
      headers: call.headers ? { ...req.headers, ...call.headers } : req.headers,
      body: req.body,
      // undici takes any object with the AbortSignal shape (see core/signal.ts).
      signal: call.signal as AbortSignal,
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: res.body,
      // Reading the rest (bounded) keeps the connection reusable; past the bound undici closes it.
      discard: () => {
        res.body.dump({ limit: DISCARD_LIMIT }).catch(() => undefined);
      },
    };
  };
}
