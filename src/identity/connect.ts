/**
 * The dialing side of mutual TLS: connections to mesh endpoints present this workload's
 * certificate, trust only the bundle, and accept the peer only when its certificate's SPIFFE ID is
 * one the service may present. Both positions dial through here: the sidecar through an undici
 * Agent whose connector is {@link MeshTls.connect}, the fat client through the same connector
 * (undici transport) or an `http.Agent` whose sockets it makes (axios's http adapter).
 *
 * The request is written only after the handshake and both checks passed, so a refusal here
 * (`MESH_PEER_UNTRUSTED`: the chain does not verify, the certificate expired;
 * `MESH_PEER_IDENTITY`: a valid certificate naming another workload) means nothing was sent, and
 * the request may go to another endpoint whatever its method.
 *
 * Cost: one handshake per connection, not per request. Connections are pooled and kept alive by
 * the agents; a new connection to a peer seen before resumes its TLS session (session tickets,
 * a bounded cache). Node skips the identity check on a resumed session, so a session is cached
 * per peer address AND expected identity, and per material version (a rotation starts afresh).
 * Rotation: each new connection takes the material in force when it is made; connections already
 * open keep theirs, so requests in flight are never cut by a rotation.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Endpoint } from '../core/endpoint.js';
import { isMeshError, MeshError } from '../errors/mesh-error.js';
import { identityOfSans } from './certificate.js';
import type { TlsMaterial } from './material.js';
import { type MtlsPolicy, TLS_MODE_META } from './options.js';
import type { IdentitySource } from './source.js';
import { IdentityPattern, matchesAny, workloadPatterns } from './spiffe.js';

/** OpenSSL's certificate verification failures, as Node reports them (`err.code`). */
const VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** Whether an attempt to `ep` goes over mutual TLS under `mtls`. */
export function dialsMtls(ep: Endpoint | undefined, mtls: MtlsPolicy): boolean {
  if (mtls.mode === 'off' || !ep) return false;
  return mtls.mode === 'on' || ep.meta[TLS_MODE_META] === 'mtls';
}

/** Who a service's endpoints must be: explicit patterns, or the service's name in our trust domain. */
class Expectation {
  readonly key: string;
  readonly #explicit: IdentityPattern[] | undefined;
  #derived: { trustDomain: string; patterns: IdentityPattern[] } | undefined;

  constructor(
    readonly service: string,
    mtls: MtlsPolicy,
  ) {
    const given = mtls.identity === undefined ? undefined : [mtls.identity].flat();
    this.#explicit = given?.map((p) => new IdentityPattern(p));
    this.key = given ? `=${given.join('\u0000')}` : `svc:${service}`;
  }

  patterns(material: TlsMaterial): IdentityPattern[] {
    if (this.#explicit) return this.#explicit;
    const td = material.identity.trustDomain;
    if (this.#derived?.trustDomain !== td)
      this.#derived = { trustDomain: td, patterns: workloadPatterns(td, this.service) };
    return this.#derived.patterns;
  }
}

/** Handshakes made since start: full ones, resumed ones, and those refused. */
export interface HandshakeCounts {
  full: number;
  resumed: number;
  refused: number;
}

/** What {@link MeshTls} needs besides its source. */
export interface MeshTlsOptions {
  clock: Clock;
  sessionCacheSize: number;
  connectTimeout: number;
}

/** The dialing side of mutual TLS for one process. */
export class MeshTls {
  readonly #source: IdentitySource;
  readonly #options: MeshTlsOptions;
  readonly #sessions = new Map<string, Buffer>();
  readonly #expectations = new Map<string, Expectation>();
  readonly #dispatchers = new Map<string, Agent>();
  readonly #agents = new Map<string, http.Agent>();
  readonly #counts: HandshakeCounts = { full: 0, resumed: 0, refused: 0 };
  readonly #stopWatching: () => void;

  constructor(source: IdentitySource, options: MeshTlsOptions) {
    this.#source = source;
    this.#options = options;
    // Sessions of the old material are of no use after a rotation.
    this.#stopWatching = source.onChange(() => this.#sessions.clear());
  }

  /** The source of the material presented. */
  get source(): IdentitySource {
    return this.#source;
  }

  /** Handshakes so far. */
  get handshakes(): HandshakeCounts {
    return { ...this.#counts };
  }

  /** An undici dispatcher whose connections to `service`'s endpoints are mutual TLS. */
  dispatcher(service: string, mtls: MtlsPolicy): Dispatcher {
    const exp = this.#expectation(service, mtls);
    let agent = this.#dispatchers.get(exp.key);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: 30_000,
        connect: (opts, callback) => {
          const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
          this.connect(
            opts.hostname,
            port,
            exp,
            callback as (err: Error | null, socket: Socket | null) => void,
          );
        },
      });
      this.#dispatchers.set(exp.key, agent);
    }
    return agent;
  }

  /**
   * A keep-alive agent whose sockets to `service`'s endpoints are mutual TLS, for Node's http
   * client (axios's http adapter, the sidecar's upgrade requests): an `http.Agent` for `http:`
   * endpoint URLs, an `https.Agent` for `https:` ones (Node checks the agent's protocol).
   */
  httpAgent(service: string, mtls: MtlsPolicy, protocol: 'http:' | 'https:' = 'http:'): http.Agent {
    const exp = this.#expectation(service, mtls);
    const key = `${protocol}${exp.key}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      const connect = this.connect.bind(this);
      const Base = protocol === 'https:' ? https.Agent : http.Agent;
      agent = new (class extends Base {
        override createConnection(
          options: http.ClientRequestArgs,
          callback?: (err: Error | null, stream: Duplex) => void,
        ): undefined {
          const host = options.host ?? options.hostname ?? 'localhost';
          const port = Number(options.port) || (protocol === 'https:' ? 443 : 80);
          connect(host, port, exp, (err, socket) => callback?.(err, socket as unknown as Duplex));
          return undefined;
        }
      })({ keepAlive: true });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /**
   * Dial `host:port` over TLS with the material in force and call back with the socket once the
   * peer is verified (or with the refusal). Waits for the first material when there is none yet.
   */
  connect(
    host: string,
    port: number,
    expectation: { service: string; key: string; patterns(m: TlsMaterial): IdentityPattern[] },
    callback: (err: Error | null, socket: Socket | null) => void,
  ): void {
    const material = this.#source.current();
    if (material) this.#dial(material, host, port, expectation, callback);
    else {
      this.#source.ready().then(
        (m) => this.#dial(m, host, port, expectation, callback),
        (error: unknown) => callback(error as Error, null),
      );
    }
  }

  /** Close every pooled connection. */
  async close(): Promise<void> {
    this.#stopWatching();
    const closing = [...this.#dispatchers.values()].map((a) => a.close().catch(() => undefined));
    for (const agent of this.#agents.values()) agent.destroy();
    this.#dispatchers.clear();
    this.#agents.clear();
    this.#sessions.clear();
    await Promise.all(closing);
  }

  #expectation(service: string, mtls: MtlsPolicy): Expectation {
    const probe = new Expectation(service, mtls);
    let exp = this.#expectations.get(probe.key);
    if (!exp) {
      exp = probe;
      this.#expectations.set(exp.key, exp);
    }
    return exp;
  }

  #dial(
    material: TlsMaterial,
    host: string,
    port: number,
    expectation: { service: string; key: string; patterns(m: TlsMaterial): IdentityPattern[] },
    callback: (err: Error | null, socket: Socket | null) => void,
  ): void {
    const { service } = expectation;
    const patterns = expectation.patterns(material);
    const cacheKey = `${material.version}\u0000${expectation.key}\u0000${host}:${port}`;
    const size = this.#options.sessionCacheSize;
    const clock = this.#options.clock;
    let timer: TimerHandle | undefined;
    const socket = tls.connect({
      host,
      port,
      secureContext: material.context,
      // A name goes out as SNI; an IP literal may not (RFC 6066).
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(size > 0 ? { session: this.#sessions.get(cacheKey) } : {}),
      rejectUnauthorized: true,
      checkServerIdentity: (_name, cert) => verifyPeer(cert, patterns, service),
    });
    const done = (error: Error | null) => {
      if (timer !== undefined) clock.clearTimeout(timer);
      socket.off('error', onError);
      socket.off('secureConnect', onSecure);
      if (error) {
        this.#counts.refused += isMeshError(error) ? 1 : 0;
        socket.destroy();
        callback(error, null);
      } else {
        this.#counts[socket.isSessionReused() ? 'resumed' : 'full']++;
        callback(null, socket);
      }
    };
    const onError = (error: Error) => done(tlsFailure(error, service));
    const onSecure = () => done(null);
    socket.once('error', onError);
    socket.once('secureConnect', onSecure);
    if (size > 0) {
      socket.on('session', (session: Buffer) => {
        this.#sessions.delete(cacheKey);
        this.#sessions.set(cacheKey, session);
        if (this.#sessions.size > size) this.#sessions.delete(this.#sessions.keys().next().value!);
      });
    }
    timer = clock.setTimeout(() => {
      timer = undefined;
      const error = Object.assign(new Error(`TLS connect to ${host}:${port} timed out`), {
        code: 'ERR_SOCKET_CONNECTION_TIMEOUT',
      });
      done(error);
    }, this.#options.connectTimeout);
  }
}

/** `undefined` when the peer's certificate names an identity of `patterns`, else the refusal. */
export function verifyPeer(
  cert: tls.PeerCertificate,
  patterns: readonly IdentityPattern[],
  service: string,
): MeshError | undefined {
  const identity = identityOfSans(cert.subjectaltname);
  if (typeof identity === 'string') {
    return new MeshError('MESH_PEER_IDENTITY', `an endpoint of "${service}": ${identity}`, { service });
  }
  if (matchesAny(patterns, identity.id)) return undefined;
  return new MeshError(
    'MESH_PEER_IDENTITY',
    `an endpoint of "${service}" presented the identity ${identity.id}; expected ${patterns.join(' or ')}`,
    { service },
  );
}

/** A handshake failure as the mesh reports it: our refusals of the peer become `MESH_PEER_*`. */
function tlsFailure(error: Error, service: string): Error {
  if (isMeshError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && VERIFY_CODES.has(code)) {
    return new MeshError(
      'MESH_PEER_UNTRUSTED',
      `an endpoint of "${service}" presented a certificate that does not verify against the trust bundle (${code})`,
      { service, cause: error },
    );
  }
  return error;
}
