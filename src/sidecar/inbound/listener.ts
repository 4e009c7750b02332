/**
 * The inbound listener's socket: one port that speaks mutual TLS, and plaintext too in
 * `permissive` mode, with Istio's PeerAuthentication meaning:
 *
 * - `strict`: a TLS client must present a certificate that chains to the trust bundle (Node
 *   refuses it in the handshake otherwise); a plaintext request is answered `426 Upgrade Required`
 *   with `x-mesh-error: MESH_TLS_REQUIRED`, so the caller reads why instead of a reset;
 * - `permissive`: TLS with or without a valid client certificate, and plaintext; only a verified
 *   certificate gives the caller an identity;
 * - `off`: plaintext HTTP only.
 *
 * Which protocol a connection speaks is read from its first byte (a TLS handshake record starts
 * with 0x16, an HTTP request with a method's letter), as nginx and HAProxy tell them apart. One
 * node:https server owns the port, so the listener's limits (header and request timeouts, the
 * connection cap, the parser's refusals) apply to both kinds of connection alike; a plaintext
 * connection is handed straight to its HTTP side. Certificates rotate with
 * `setSecureContext`: new handshakes use the new material, open connections keep theirs.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TlsMaterial } from '../../identity/material.js';
import type { IdentitySource } from '../../identity/source.js';
import type { ProxyFront } from '../front.js';
import type { IngressLimits } from '../limits.js';
import { serverOptions } from '../limits.js';
import { rawRefusal } from '../refusal.js';
import type { SidecarStats } from '../stats.js';
import type { UpgradeContext } from '../upgrade.js';

/** The first byte of a TLS record carrying a handshake message (RFC 8446 section 5.1). */
const TLS_HANDSHAKE = 0x16;

const TLS_REQUIRED = rawRefusal(
  426,
  'MESH_TLS_REQUIRED',
  'this listener accepts mutual TLS only: connect with TLS and present a mesh certificate',
).replace('\r\nvia:', '\r\nupgrade: TLS/1.3, TLS/1.2\r\nvia:');

/** The inbound listener's mode. */
export type InboundMode = 'strict' | 'permissive' | 'off';

/** What the listener is made of. */
export interface ListenerParts {
  mode: InboundMode;
  limits: IngressLimits;
  /** The material presented and the trust bundle (modes other than `off`). */
  source: IdentitySource | undefined;
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  front: ProxyFront;
  upgrade: Omit<UpgradeContext, 'tunnels' | 'admission'>;
  stats: SidecarStats;
}

/** The server that owns the inbound port. */
export function createInboundServer(parts: ListenerParts, material: TlsMaterial | undefined): http.Server {
  const { mode, limits, front, stats } = parts;
  if (mode === 'off' || !material) {
    const server = http.createServer(serverOptions(limits), parts.handler);
    front.attach(server, parts.upgrade, stats);
    return server;
  }
  const server = https.createServer(
    {
      ...serverOptions(limits),
      ...tlsOptions(material),
      requestCert: true,
      rejectUnauthorized: mode === 'strict',
      // node's default of 120 s would let a silent handshake hold a connection far past the header timeout.
      handshakeTimeout: limits.headersTimeout,
    },
    parts.handler,
  );
  // The TLS server's own connection listener wraps every socket in TLS; the demultiplexer below
  // calls it only for connections that start a TLS handshake.
  const [wrapTls] = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  front.attach(server, parts.upgrade, stats);
  server.on('connection', (socket: Socket) => demultiplex(server, socket, wrapTls!, parts));
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
    stats.refuse(error.code ?? 'TLS_HANDSHAKE');
  });
  parts.source?.onChange((next) => server.setSecureContext(tlsOptions(next)));
  return server;
}

function tlsOptions(material: TlsMaterial): { cert: string; key: string; ca: string[] } {
  return { cert: material.cert, key: material.key, ca: [...material.bundle] };
}

/** Read the connection's first byte and hand it to the TLS side or the HTTP side (or refuse it). */
function demultiplex(
  server: https.Server,
  socket: Socket,
  wrapTls: (socket: Socket) => void,
  parts: ListenerParts,
) {
  if (parts.front.admission.refused(socket)) return;
  const onError = () => socket.destroy();
  socket.on('error', onError);
  // A connection that sends nothing is dropped at the header timeout, as a silent HTTP one is.
  socket.setTimeout(parts.limits.headersTimeout, () => socket.destroy());
  socket.once('data', (chunk: Buffer) => {
    socket.setTimeout(0);
    socket.off('error', onError);
    socket.pause();
    socket.unshift(chunk);
    if (chunk[0] === TLS_HANDSHAKE) {
      // The TLS socket reads what was put back before it reads the connection.
      wrapTls.call(server, socket);
      return;
    }
    if (parts.mode === 'strict') {
      parts.stats.refuse('MESH_TLS_REQUIRED');
      refuse(socket, TLS_REQUIRED, parts.limits.headersTimeout);
      return;
    }
    // Plaintext (permissive mode): node's HTTP side of this server takes the connection as it is.
    server.emit('secureConnection', socket);
    socket.resume();
  });
}

/** Answer on the raw socket and close it, reading (and dropping) what the client still sends. */
function refuse(socket: Duplex, answer: string, lingerMs: number): void {
  socket.on('error', () => socket.destroy());
  socket.end(answer);
  socket.resume();
  (socket as Socket).setTimeout(lingerMs, () => socket.destroy());
}
