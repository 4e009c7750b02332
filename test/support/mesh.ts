/**
 * Building blocks of the mesh tests: an app, its inbound sidecar, an outbound sidecar pointed at
 * inbound listeners, and requests over TLS that present a chosen certificate (or none).
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Sidecar } from '../../src/sidecar/sidecar.js';
import type { Closable } from '../../testkit/lifecycle.js';
import { type Behaviour, Upstream } from '../../testkit/upstream.js';
import { tlsOf, type Workload } from './mesh-pki.js';
import { type RawResponse, sidecarFor } from './sidecar.js';

/** An app and the inbound sidecar in front of it. */
export interface Destination {
  app: Upstream;
  sidecar: Sidecar;
  /** The inbound listener as an endpoint URL (`http://127.0.0.1:<port>`; the scheme is discovery's). */
  url: string;
  port: number;
}

/** An app with an inbound sidecar presenting `w`'s identity. */
export async function destination(
  open: Closable[],
  w: Workload | undefined,
  inbound: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  behaviour?: Behaviour,
): Promise<Destination> {
  const app = await Upstream.start('app', behaviour);
  open.push(app);
  const sidecar = await sidecarFor({
    ...(w ? { tls: tlsOf(w) } : {}),
    inbound: { listen: '127.0.0.1:0', app: app.url, ...inbound },
    ...extra,
  });
  open.push(sidecar);
  const port = Number(new URL(sidecar.inboundAddress!).port);
  return { app, sidecar, url: `http://127.0.0.1:${port}`, port };
}

/** A mesh endpoint of `dest` for static discovery. */
export function meshEndpoint(dest: { url: string }): { url: string; meta: Record<string, string> } {
  return { url: dest.url, meta: { 'tls-mode': 'mtls' } };
}

/** An outbound sidecar with `w`'s identity whose service `users` is `endpoints`. */
export async function outbound(
  open: Closable[],
  w: Workload | undefined,
  endpoints: unknown[],
  extra: Record<string, unknown> = {},
): Promise<Sidecar> {
  const sidecar = await sidecarFor({
    ...(w ? { tls: tlsOf(w) } : {}),
    discovery: { static: { users: endpoints } },
    ...extra,
  });
  open.push(sidecar);
  return sidecar;
}

/** What a TLS request got: a response, or the error that ended it. */
export type TlsOutcome = (RawResponse & { peer?: string }) | { error: NodeJS.ErrnoException };

/** One HTTPS request to `port` presenting `client` (or no certificate), trusting `ca`. */
export function tlsRequest(
  port: number,
  ca: string,
  client: { cert: string; key: string } | undefined,
  path = '/',
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        ...(client ?? {}),
        agent: false,
        // The identity check is the mesh's business; here only the chain matters.
        checkServerIdentity: () => undefined,
        headers: { host: 'users', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            peer: (res.socket as TLSSocket).getPeerCertificate?.().subjectaltname,
          }),
        );
        res.on('error', (error) => resolve({ error }));
      },
    );
    req.on('error', (error) => resolve({ error }));
    req.end();
  });
}
