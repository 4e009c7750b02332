/**
 * The sidecar's transport: undici straight to the endpoint. The forwarding path stays off
 * axios's per-request machinery (config merging, transforms, the follow-redirects wrapper): the
 * proxy neither parses nor rewrites bodies.
 *
 * It dispatches on undici's agent with a handler of its own ({@link ReplyReader}) rather than
 * through `undici.request()`: that API parses the URL again, wraps every reply body in a stream
 * object and every callback in an async resource, costs that are most of a proxy's per-request
 * work when the body is a few hundred bytes. Small replies of retryable requests come back whole,
 * as a `Buffer`; the rest stream.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Call, Handler, Reply } from '../core/call.js';
import type { Endpoint } from '../core/endpoint.js';
import { type ReplyBuffering, ReplyReader } from './reply-reader.js';

export type { ReplyBuffering } from './reply-reader.js';

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

/** An upstream response. */
export interface ProxyReply extends Reply {
  headers: Record<string, string | string[] | undefined>;
  /**
   * The body: whole (a `Buffer`, read within the attempt so that a failure mid-body could still
   * be retried), or a stream of what is still to come.
   */
  body: Buffer | Readable;
  /**
   * The reply is done with, written out or dropped: gives back the buffer budget it holds, and
   * for a stream not read to its end, reads the rest (bounded, to keep the connection) or aborts.
   * Idempotent.
   */
  discard(): void;
}

/** Where to send a request for an endpoint: its origin, and the path prefix its URL carries. */
interface Target {
  origin: string;
  prefix: string;
}

const targets = new WeakMap<Endpoint, Target>();

function targetOf(endpoint: Endpoint): Target {
  let target = targets.get(endpoint);
  if (!target) {
    const url = new URL(endpoint.url);
    target = { origin: url.origin, prefix: url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '') };
    targets.set(endpoint, target);
  }
  return target;
}

/**
 * @param buffering - how small replies are read whole for retries; without it every reply streams.
 */
export function undiciTransport(
  dispatcher: Dispatcher,
  buffering?: ReplyBuffering,
): Handler<ProxyRequest, ProxyReply> {
  return (call: Call<ProxyRequest>) => {
    const req = call.request;
    const { origin, prefix } = targetOf(call.endpoint!);
    const whole = buffering !== undefined && buffering.maxBytes > 0 && call.idempotent && call.replayable;
    return new Promise<ProxyReply>((resolve, reject) => {
      const reader = new ReplyReader(call.signal, whole ? buffering : undefined, resolve, reject);
      dispatcher.dispatch(
        {
          origin,
          path: prefix + req.path,
          method: req.method as Dispatcher.HttpMethod,
          headers: call.headers ? { ...req.headers, ...call.headers } : req.headers,
          body: req.body,
        },
        reader,
      );
    });
  };
}
