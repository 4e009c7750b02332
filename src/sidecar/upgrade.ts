/**
 * `Upgrade` requests (WebSocket, RFC 6455; any protocol an upstream agrees to switch to) are
 * tunnelled, as Envoy and Linkerd do: the handshake goes through the same pipeline as any
 * request (discovery, balancing, breakers, deadline), so it may be retried on another endpoint
 * while no upstream has agreed yet (a refused connection, a 503). Once an upstream answers
 * `101 Switching Protocols`, the two connections are spliced byte for byte and nothing is ever
 * retried: the tunnel lives until either side closes or it idles past `tunnelIdleTimeout`.
 *
 * An upstream that declines (any other status) has its answer passed back and the client's
 * connection closed. An upgrade request with a body is refused with 501: its body and the new
 * protocol's bytes share the connection, and no upstream the mesh knows of needs it (WebSocket
 * handshakes are bodiless GETs).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Call, type Handler, IDEMPOTENT_METHODS, newCall, type Reply } from '../core/call.js';
import { AttemptSignal } from '../core/signal.js';
import { MeshError } from '../errors/mesh-error.js';
import { errorFields } from '../telemetry/logger.js';
import { deadlineOf } from '../timeout/propagation.js';
import type { ProxyRequest } from '../transport/undici.js';
import { endToEnd } from './headers.js';
import { forwardHeaders, type IngressContext, routeOf } from './ingress.js';
import { type Refusal, rawRefusal, refusalOf, VIA } from './refusal.js';
import { isRefusal } from './screen.js';

/** An upstream's answer to an upgrade request: switched (a socket), or declined (a response). */
export interface UpgradeReply extends Reply {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  /** The upstream's connection, once it switched protocols. */
  socket?: Duplex;
  /** Bytes the upstream sent after its 101 head. */
  head?: Buffer;
  /** A declining response's body. */
  body?: IncomingMessage;
}

/** What the upgrade path needs on top of the ingress's context. */
export interface UpgradeContext extends IngressContext {
  /** The pipeline over {@link upgradeTransport} for `service`. */
  upgradeHandler(service: string): Handler<ProxyRequest, UpgradeReply> | undefined;
  tunnelIdleTimeout: number;
  /** Spliced connections, so closing the sidecar can end them. */
  tunnels: Set<Duplex>;
}

/**
 * The transport of upgrade requests: one fresh connection per handshake (it leaves any pool once
 * switched), or a connection of the agent `agentFor` gives (mutual TLS to a mesh endpoint).
 */
export function upgradeTransport(
  agentFor: (call: Call<ProxyRequest>) => http.Agent | undefined = () => undefined,
): Handler<ProxyRequest, UpgradeReply> {
  return (call: Call<ProxyRequest>) =>
    new Promise<UpgradeReply>((resolve, reject) => {
      const url = new URL(call.endpoint!.url + call.request.path);
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname + url.search,
        method: call.request.method,
        headers: call.headers ? { ...call.request.headers, ...call.headers } : call.request.headers,
        agent: agentFor(call) ?? false,
      });
      const onAbort = () => req.destroy(call.signal.reason as Error);
      call.signal.addEventListener('abort', onAbort);
      const settle = () => call.signal.removeEventListener('abort', onAbort);
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        settle();
        resolve({
          status: 101,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          socket,
          head,
          discard: () => socket.destroy(),
        });
      });
      req.on('response', (res: IncomingMessage) => {
        settle();
        resolve({
          status: res.statusCode ?? 502,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: res,
          discard: () => res.destroy(),
        });
      });
      req.on('error', (err) => {
        settle();
        reject(err);
      });
      req.end();
    });
}

/** Handle one request node:http handed over as an upgrade. */
export async function handleUpgrade(
  ctx: UpgradeContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  if (ctx.admission.refused(req.socket)) {
    socket.destroy();
    return;
  }
  const started = ctx.now();
  const target = routeOf(ctx, req);
  if (isRefusal(target)) {
    ctx.stats.refuse(target.code);
    return refuse(socket, target);
  }
  const { service, path } = target;
  const handler = ctx.upgradeHandler(service)!;
  const sized = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  if (sized || req.headers['transfer-encoding'] !== undefined) {
    const refusal = {
      status: 501,
      code: 'MESH_BAD_REQUEST',
      message: 'an upgrade request with a body is not tunnelled',
    };
    ctx.stats.record(service, 501, ctx.now() - started, refusal.code);
    return refuse(socket, refusal);
  }

  const headers = forwardHeaders(req, target);
  const refused = ctx.inspect?.(req, headers);
  if (refused) {
    ctx.stats.record(service, refused.status, ctx.now() - started, refused.code);
    return refuse(socket, refused);
  }
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade ?? '';
  const disconnected = new AttemptSignal();
  const onClose = () =>
    disconnected.abort(new MeshError('MESH_BAD_REQUEST', 'client went away', { service }));
  socket.once('close', onClose);
  const method = req.method ?? 'GET';
  const call: Call<ProxyRequest> = newCall({
    service,
    method,
    path,
    hashKey: Array.isArray(req.headers['x-mesh-hash-key'])
      ? req.headers['x-mesh-hash-key'][0]
      : req.headers['x-mesh-hash-key'],
    idempotent: IDEMPOTENT_METHODS.has(method),
    replayable: true,
    request: { method, path, headers, body: null },
    signal: disconnected,
    deadline: ctx.deadline(service, deadlineOf(req)),
  });

  let reply: UpgradeReply;
  try {
    reply = await handler(call);
  } catch (err) {
    socket.off('close', onClose);
    if (disconnected.aborted) return;
    const refusal = refusalOf(err);
    ctx.logger?.debug({ service, error: errorFields(err) }, 'upgrade not delivered');
    ctx.stats.record(service, refusal.status, ctx.now() - started, refusal.code);
    return refuse(socket, refusal);
  }
  socket.off('close', onClose);
  ctx.stats.record(service, reply.status, ctx.now() - started);
  if (disconnected.aborted || socket.destroyed) {
    reply.discard?.();
    return;
  }
  if (reply.socket) return splice(ctx, socket, head, reply as UpgradeReply & { socket: Duplex });
  declined(socket, reply);
}

function refuse(socket: Duplex, r: Refusal): void {
  socket.end(rawRefusal(r.status, r.code, r.message));
}

/** Write the upstream's 101 head, then copy bytes both ways until either side ends. */
function splice(ctx: UpgradeContext, client: Duplex, head: Buffer, reply: UpgradeReply & { socket: Duplex }) {
  const upstream = reply.socket;
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    if (reply.rawHeaders[i]!.toLowerCase() !== 'via')
      lines.push(`${reply.rawHeaders[i]}: ${reply.rawHeaders[i + 1]}`);
  }
  lines.push(`Via: ${reply.headers.via ? `${reply.headers.via}, ` : ''}${VIA}`);
  client.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (reply.head && reply.head.length > 0) client.write(reply.head);
  if (head.length > 0) upstream.write(head);

  ctx.tunnels.add(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
    ctx.tunnels.delete(client);
  };
  for (const side of [client, upstream]) {
    (side as Socket).setTimeout?.(ctx.tunnelIdleTimeout);
    side.on('timeout', end);
    side.on('error', end);
    side.on('close', end);
  }
  client.pipe(upstream);
  upstream.pipe(client);
}

/** The upstream declined to switch: pass its answer on, then close (the connection is not HTTP's any more). */
function declined(client: Duplex, reply: UpgradeReply): void {
  const headers = endToEnd(reply.headers);
  delete headers['transfer-encoding'];
  const lines = [`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  lines.push(`via: ${VIA}`, 'connection: close');
  client.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (!reply.body) {
    client.end();
    return;
  }
  reply.body.on('error', () => client.destroy());
  reply.body.pipe(client);
}
