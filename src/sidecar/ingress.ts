/**
 * The sidecar's ingress: turns an HTTP request a proxy receives into a {@link Call} on the
 * shared pipeline and streams the upstream reply back.
 *
 * The service comes from the request target in absolute form (`GET http://users/users/42`,
 * what any client with `HTTP_PROXY` set sends) or from `Host` in origin form; `screen.ts`
 * refuses what is ambiguous or malformed first. Only services the sidecar knows are forwarded
 * (it is not an open proxy). A request body up to the retry buffer size is read first, so a
 * retry can send it again, if the buffer budget shared by all requests has room for it (else
 * 503 `MESH_OVERLOADED`); a larger or unsized body streams through and is never retried.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Call, type Handler, IDEMPOTENT_METHODS, newCall } from '../core/call.js';
import { AttemptSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import { ATTEMPTS_HEADER } from '../retry/stacking.js';
import { errorFields } from '../telemetry/logger.js';
import type { Logger } from '../telemetry/options.js';
import { DEADLINE_HEADER, deadlineOf } from '../timeout/propagation.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import type { Admission } from './admission.js';
import { appendHop, endToEnd, otherCodings } from './headers.js';
import { type Refusal, refusalBody, refusalOf, VIA } from './refusal.js';
import { isRefusal, screen, type Target } from './screen.js';
import type { SidecarStats } from './stats.js';

export type { Target } from './screen.js';

/** What the ingress needs from the sidecar. */
export interface IngressContext {
  /** The pipeline for `service`, or undefined when the sidecar does not route to it. */
  handler(service: string): Handler<ProxyRequest, ProxyReply> | undefined;
  /** The call's absolute deadline: the policy's total, bounded by what the caller has left. */
  deadline(service: string, callerLeftMs: number | undefined): number;
  retryBufferBytes: number;
  /** Header fields one request may have (more: 431). */
  maxHeadersCount: number;
  /** Connections and the retry-buffer budget. */
  admission: Admission;
  stats: SidecarStats;
  /** The mesh's redacting logger: the detail of failures the client is not told. */
  logger: Logger | undefined;
  now(): number;
}

// The deadline header is re-issued per attempt with the time this hop leaves.
const DROP_ON_FORWARD = new Set(['host', DEADLINE_HEADER]);

/** The request's service and path, or the refusal to answer instead; counts the refusal. */
export function routeOf(ctx: IngressContext, req: IncomingMessage): Target | Refusal {
  const target = screen(req, ctx.maxHeadersCount);
  if (isRefusal(target)) return target;
  if (!ctx.handler(target.service)) {
    return {
      status: 404,
      code: 'MESH_UNKNOWN_SERVICE',
      message: 'the sidecar does not route to this service',
    };
  }
  return target;
}

/** The end-to-end request headers, with this hop recorded. */
export function forwardHeaders(req: IncomingMessage, target: Target): Record<string, string | string[]> {
  const headers = endToEnd(req.headers, DROP_ON_FORWARD);
  headers.via = appendHop(req.headers.via, VIA);
  headers['x-forwarded-for'] = appendHop(
    req.headers['x-forwarded-for'],
    req.socket.remoteAddress ?? 'unknown',
  );
  headers['x-forwarded-host'] = target.authority;
  return headers;
}

export async function handleIngress(
  ctx: IngressContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (ctx.admission.refused(req.socket)) {
    res.destroy();
    return;
  }
  const started = ctx.now();
  const target = routeOf(ctx, req);
  if (isRefusal(target)) {
    ctx.stats.refuse(target.code);
    // A refusal that closes the connection leaves the body unread; others read it to keep the connection.
    if (!target.close) req.resume();
    return answer(res, target);
  }
  const { service, path } = target;
  const handler = ctx.handler(service)!;

  const disconnected = new AttemptSignal();
  const onClose = () => {
    if (!res.writableFinished)
      disconnected.abort(new MeshError('MESH_BAD_REQUEST', 'client went away', { service }));
  };
  res.on('close', onClose);

  const method = req.method ?? 'GET';
  const headers = forwardHeaders(req, target);

  let body: Buffer | IncomingMessage | null = null;
  const length = req.headers['content-length'];
  const size = length === undefined ? undefined : Number(length);
  const sized = size !== undefined && size <= ctx.retryBufferBytes;
  if (sized && size > 0) {
    if (!ctx.admission.reserve(size)) {
      res.off('close', onClose);
      // The body is not read: the connection closes after the answer.
      const refusal = {
        status: 503,
        code: 'MESH_OVERLOADED',
        message: 'the retry buffers of the sidecar are full: try again later',
        close: true,
      };
      ctx.stats.record(service, 503, ctx.now() - started, refusal.code);
      return answer(res, refusal);
    }
    res.once('close', () => ctx.admission.release(size));
  }
  try {
    if (sized) body = size > 0 ? await readAll(req) : null;
    else if (length !== undefined || req.headers['transfer-encoding'] !== undefined) body = req;
  } catch {
    return; // the client went away while sending
  }

  const call = newCall<ProxyRequest>({
    service,
    method,
    path,
    hashKey: headerValue(req.headers['x-mesh-hash-key']),
    idempotent: IDEMPOTENT_METHODS.has(method) || req.headers['idempotency-key'] !== undefined,
    replayable: body === null || Buffer.isBuffer(body),
    request: { method, path, headers, body },
    signal: disconnected,
    deadline: ctx.deadline(service, deadlineOf(req)),
  });

  let reply: ProxyReply;
  try {
    reply = await handler(call);
  } catch (err) {
    res.off('close', onClose);
    if (disconnected.aborted) return;
    const refusal = refusalOf(err);
    ctx.logger?.debug({ service, error: errorFields(err) }, 'request not delivered');
    ctx.stats.record(service, refusal.status, ctx.now() - started, refusal.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    return answer(res, refusal, attemptsOf(call, undefined));
  }
  res.off('close', onClose);
  sendReply(ctx, res, call, reply, started);
}

/** Write the upstream's reply to the client: a whole body in one write, a stream piped. */
function sendReply(
  ctx: IngressContext,
  res: ServerResponse,
  call: Call<ProxyRequest>,
  reply: ProxyReply,
  started: number,
): void {
  const out = endToEnd(reply.headers);
  out.via = appendHop(reply.headers.via, VIA);
  out[ATTEMPTS_HEADER] = attemptsOf(call, reply);
  const codings = otherCodings(reply.headers['transfer-encoding']);
  const body = reply.body;
  if (codings !== undefined) {
    out['transfer-encoding'] = `${codings}, chunked`;
    delete out['content-length'];
  } else if (
    Buffer.isBuffer(body) &&
    out['content-length'] === undefined &&
    carriesBody(call, reply.status)
  ) {
    // Read whole, a chunked reply's length is known: the client gets it framed by length.
    out['content-length'] = String(body.length);
  }
  res.once('close', () => {
    // A client gone before the end: the upstream request is aborted (the stream's destroy).
    if (!Buffer.isBuffer(body) && !body.readableEnded) body.destroy();
    reply.discard();
    ctx.stats.record(call.service, reply.status, ctx.now() - started);
  });
  res.writeHead(reply.status, out);
  if (Buffer.isBuffer(body)) {
    res.end(body);
    return;
  }
  // Not `stream.pipeline()`: it builds an AbortController (and a DOMException on every
  // completion) per response; `pipe` plus the close handler above is the same plumbing.
  body.once('error', () => res.destroy());
  body.pipe(res);
}

/** Whether a response to `call` with `status` has a body (RFC 9110 §6.4.1: not to HEAD, not 1xx/204/304). */
function carriesBody(call: Call<ProxyRequest>, status: number): boolean {
  return call.method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
}

/**
 * The attempts made below this point for the request: this hop's, plus the extra ones a mesh
 * layer further down reported on the reply that came back. The layer above reads it to not
 * retry again what was retried here, and to charge these attempts to its budget.
 */
export function attemptsOf(call: Call<unknown>, reply: ProxyReply | undefined): string {
  const below = Number(reply?.headers[ATTEMPTS_HEADER]);
  return String(call.tried.length + (Number.isInteger(below) && below > 1 ? below - 1 : 0));
}

/** Write the sidecar's own answer for a request it does not deliver. */
function answer(res: ServerResponse, refusal: Refusal, attempts?: string): void {
  const payload = refusalBody(refusal);
  res.writeHead(refusal.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-mesh-error': refusal.code,
    via: VIA,
    ...(refusal.close ? { connection: 'close' } : {}),
    ...(attempts && attempts !== '0' ? { [ATTEMPTS_HEADER]: attempts } : {}),
  });
  res.end(payload);
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
