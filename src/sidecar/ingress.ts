/**
 * The sidecar's ingress: turns an HTTP request a proxy receives into a {@link Call} on the
 * shared pipeline and streams the upstream reply back.
 *
 * The service comes from the request target in absolute form (`GET http://users/users/42`,
 * what any client with `HTTP_PROXY` set sends) or from `Host` in origin form. Only services
 * the sidecar knows are forwarded (it is not an open proxy). A request body up to the retry
 * buffer size is read first, so a retry can send it again; a larger or unsized body streams
 * through and is never retried.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline as pipe } from 'node:stream';
import { type Call, type Handler, IDEMPOTENT_METHODS, newCall } from '../core/call.js';
import { AttemptSignal } from '../core/signal.js';
import { errorCode } from '../errors/classify.js';
import { isMeshError, MeshError, type MeshErrorCode } from '../errors/mesh-error.js';
import { ATTEMPTS_HEADER } from '../retry/stacking.js';
import { DEADLINE_HEADER, deadlineOf } from '../timeout/propagation.js';
import type { ProxyReply, ProxyRequest } from '../transport/undici.js';
import { appendHop, endToEnd } from './headers.js';
import type { SidecarStats } from './stats.js';

/** Where a request is going. */
export interface Target {
  service: string;
  path: string;
}

/** What the ingress needs from the sidecar. */
export interface IngressContext {
  /** The pipeline for `service`, or undefined when the sidecar does not route to it. */
  handler(service: string): Handler<ProxyRequest, ProxyReply> | undefined;
  /** The call's absolute deadline: the policy's total, bounded by what the caller has left. */
  deadline(service: string, callerLeftMs: number | undefined): number;
  retryBufferBytes: number;
  stats: SidecarStats;
  now(): number;
}

const VIA = '1.1 mesh-sidecar';
// The deadline header is re-issued per attempt with the time this hop leaves.
const DROP_ON_FORWARD = new Set(['host', DEADLINE_HEADER]);

const STATUS_OF: Partial<Record<MeshErrorCode, number>> = {
  MESH_BAD_REQUEST: 400,
  MESH_UNKNOWN_SERVICE: 404,
  MESH_RATE_LIMITED: 429,
  MESH_BULKHEAD_FULL: 503,
  MESH_TIMEOUT: 504,
};

/** Parse the request target: absolute form first, else `Host`. */
export function targetOf(req: IncomingMessage): Target | undefined {
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) {
    try {
      const url = new URL(raw);
      if (url.protocol !== 'http:') return undefined;
      return { service: url.hostname, path: url.pathname + url.search };
    } catch {
      return undefined;
    }
  }
  const host = req.headers.host;
  if (!host) return undefined;
  const service = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]!;
  return service ? { service, path: raw } : undefined;
}

export async function handleIngress(
  ctx: IngressContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = ctx.now();
  const target = targetOf(req);
  if (!target) {
    return refuse(
      ctx,
      res,
      '-',
      started,
      new MeshError('MESH_BAD_REQUEST', 'no service: use absolute-form or Host'),
    );
  }
  const { service, path } = target;
  const handler = ctx.handler(service);
  if (!handler) {
    req.resume();
    return refuse(
      ctx,
      res,
      service,
      started,
      new MeshError('MESH_UNKNOWN_SERVICE', `unknown service "${service}"`, { service }),
    );
  }

  const disconnected = new AttemptSignal();
  const onClose = () => {
    if (!res.writableFinished)
      disconnected.abort(new MeshError('MESH_BAD_REQUEST', 'client went away', { service }));
  };
  res.on('close', onClose);

  const method = req.method ?? 'GET';
  const headers = endToEnd(req.headers, DROP_ON_FORWARD);
  headers.via = appendHop(req.headers.via, VIA);
  headers['x-forwarded-for'] = appendHop(
    req.headers['x-forwarded-for'],
    req.socket.remoteAddress ?? 'unknown',
  );
  headers['x-forwarded-host'] = req.headers.host ?? service;

  let body: Buffer | IncomingMessage | null = null;
  const length = req.headers['content-length'];
  const sized = length !== undefined && Number(length) <= ctx.retryBufferBytes;
  try {
    if (sized) body = Number(length) > 0 ? await readAll(req) : null;
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
    return refuse(ctx, res, service, started, err, attemptsOf(call, undefined));
  }
  res.off('close', onClose);
  const out = endToEnd(reply.headers);
  out.via = appendHop(reply.headers.via, VIA);
  out[ATTEMPTS_HEADER] = attemptsOf(call, reply);
  res.writeHead(reply.status, out);
  pipe(reply.body, res, () => {
    ctx.stats.record(service, reply.status, ctx.now() - started);
  });
}

/**
 * The attempts made below this point for the request: this hop's, plus the extra ones a mesh
 * layer further down reported on the reply that came back. The layer above reads it to not
 * retry again what was retried here, and to charge these attempts to its budget.
 */
function attemptsOf(call: Call<ProxyRequest>, reply: ProxyReply | undefined): string {
  const below = Number(reply?.headers[ATTEMPTS_HEADER]);
  return String(call.tried.length + (Number.isInteger(below) && below > 1 ? below - 1 : 0));
}

function refuse(
  ctx: IngressContext,
  res: ServerResponse,
  service: string,
  started: number,
  err: unknown,
  attempts?: string,
): void {
  const code = errorCode(err) ?? 'ERROR';
  const status = isMeshError(err) ? (STATUS_OF[err.code] ?? 503) : 502;
  ctx.stats.record(service, status, ctx.now() - started, code);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  const payload = JSON.stringify({ error: code, message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-mesh-error': code,
    via: VIA,
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
