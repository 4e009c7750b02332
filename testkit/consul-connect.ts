/**
 * Consul Connect's agent endpoints in the Consul emulator (TEST DOUBLE, see consul-emulator.ts),
 * after Consul's API docs (website/content/api-docs/agent/connect.mdx, api-docs/connect/ca.mdx,
 * api-docs/connect/intentions.mdx) and the agent's code (`agent/agent_endpoint.go`,
 * `agent/connect_auth.go`), checked against fixtures written from those docs
 * (test/consul-contract/agent-connect-*.json):
 *
 * - `GET /v1/agent/connect/ca/roots`: the trust domain and every root, the active one marked,
 *   blocking on the roots' index; no ACL;
 * - `GET /v1/agent/connect/ca/leaf/:service`: a leaf for the service (`service:write`), signed by
 *   the active root, its URI SAN `spiffe://<td>/ns/default/dc/<dc>/svc/<service>`, blocking until
 *   a new certificate is needed (renewal, a root rotation); a read finds an expired leaf, or one of
 *   a root that is no longer active, replaced;
 * - `POST /v1/agent/connect/authorize`: `Target`, `ClientCertURI`, `ClientCertSerial`; 400 for a
 *   missing target or a URI that is not a Connect service identity, `service:write` on the target,
 *   then the intention whose source matches (the exact name before `*`), else the default: allow
 *   with ACLs off ("ACLs disabled, access is allowed by default"), `intentionDefault` with them on
 *   ("Default behavior configured by ACLs");
 * - `PUT` and `DELETE /v1/connect/intentions/exact?source=&destination=` (Consul 1.9+), body
 *   `{ "Action": "allow" | "deny" }`, needing `service:write` on the destination here (Consul's
 *   `intentions:write`).
 *
 * Levers: {@link ConnectCa.rotate} (a new active root, cross-signed by the old one, which stays
 * listed until {@link ConnectCa.retire}: leaves of the new root carry the cross-signed certificate
 * meanwhile, as Consul's do, so peers that still trust only the old root verify them),
 * {@link ConnectCa.renew} (a new leaf for a service), and the intentions.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { awaitIndex, type Waiters } from './blocking.js';
import type { Caller } from './consul-acl.js';
import { consulId, type Issued, TestCa } from './pki.js';

type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

interface Root {
  ca: TestCa;
  /** This root re-issued by the root it replaced, carried by its leaves while that one is listed. */
  cross: string | undefined;
  id: string;
  serial: number;
  createIndex: number;
  modifyIndex: number;
}

interface Leaf {
  issued: Issued;
  root: Root;
  validAfter: Date;
  index: number;
}

/** What the Connect CA needs of the emulator. */
export interface ConnectSettings {
  datacenter: string;
  trustDomain: string;
  /** Lifetime of a leaf (Consul's default `LeafCertTTL`: 72 h). */
  leafTtl: number;
  /** The default of authorize when no intention matches and ACLs are on. */
  intentionDefault: 'allow' | 'deny';
  aclsOn: () => boolean;
  nextIndex: () => number;
  waiters: Waiters;
}

/** The emulated Connect CA and intentions. */
export class ConnectCa {
  readonly #s: ConnectSettings;
  #roots: Root[] = [];
  #rootsIndex = 0;
  #first: Promise<void> | undefined;
  readonly #leaves = new Map<string, Leaf>();
  /** Pending issuance per service, so concurrent readers get one leaf. */
  readonly #issuing = new Map<string, Promise<Leaf>>();
  readonly #intentions = new Map<string, 'allow' | 'deny'>();
  #serials = 7;

  constructor(settings: ConnectSettings) {
    this.#s = settings;
  }

  get trustDomain(): string {
    return this.#s.trustDomain;
  }

  /** The active root's certificate, PEM. */
  async rootPem(): Promise<string> {
    await this.#ready();
    return this.#active().ca.cert;
  }

  /** A new root becomes active (the old stays listed, as Consul keeps it while its leaves live). */
  async rotate(): Promise<void> {
    await this.#ready();
    await this.#addRoot();
  }

  /** Stop listing every root but the active one. */
  retire(): void {
    const active = this.#active();
    this.#roots = [active];
    this.#rootsIndex = this.#s.nextIndex();
    this.#s.waiters.wake();
  }

  /** Issue `service` a new leaf now (what the agent does before the old one expires). */
  async renew(service: string): Promise<void> {
    await this.#ready();
    await this.#issue(service);
  }

  /** The serial of the leaf `service` holds now, if any. */
  leafSerial(service: string): string | undefined {
    return this.#leaves.get(service)?.issued.serial;
  }

  /** Set (or with `undefined` delete) the intention `source => destination`. */
  setIntention(source: string, destination: string, action: 'allow' | 'deny' | undefined): void {
    const key = `${source}\u0000${destination}`;
    if (action) this.#intentions.set(key, action);
    else this.#intentions.delete(key);
  }

  /** Serve a Connect request; false when `path` is not one. */
  async handle(
    method: string,
    path: string,
    q: URLSearchParams,
    body: string,
    caller: Caller,
    res: ServerResponse,
    reply: Reply,
  ): Promise<boolean> {
    let m: RegExpExecArray | null;
    if (path === '/v1/agent/connect/ca/roots' && method === 'GET') {
      await this.#ready();
      const index = await awaitIndex(q, res, reply, this.#s.waiters, () => this.#rootsIndex);
      if (index !== undefined) reply(200, this.#rootsBody(), meta(index));
      return true;
    }
    if ((m = /^\/v1\/agent\/connect\/ca\/leaf\/([^/]+)$/.exec(path)) && method === 'GET') {
      const service = decodeURIComponent(m[1] ?? '');
      if (!caller.serviceWrite(service)) {
        reply(403, caller.denied('service:write', service));
        return true;
      }
      await this.#ready();
      let leaf = await this.#current(service);
      // A leaf signed by a root that is no longer active is due for replacement: that wakes the query.
      const index = await awaitIndex(q, res, reply, this.#s.waiters, () => {
        const now = this.#leaves.get(service);
        return now && now.root === this.#active() ? now.index : Number.MAX_SAFE_INTEGER;
      });
      if (index === undefined) return true;
      // Woken by a root rotation: the leaf must be re-signed by the new root.
      leaf = await this.#current(service);
      reply(200, this.#leafBody(service, leaf), meta(leaf.index));
      return true;
    }
    if (path === '/v1/agent/connect/authorize' && method === 'POST') {
      this.#authorize(body, caller, reply);
      return true;
    }
    if (path === '/v1/connect/intentions/exact' && (method === 'PUT' || method === 'DELETE')) {
      const source = q.get('source');
      const destination = q.get('destination');
      if (!source || !destination) {
        reply(400, 'required query parameter was missing: source and destination');
        return true;
      }
      if (!caller.serviceWrite(destination)) {
        reply(403, caller.denied('intentions:write', destination));
        return true;
      }
      if (method === 'DELETE') {
        this.setIntention(source, destination, undefined);
        reply(200, true);
        return true;
      }
      let action: unknown;
      try {
        action = (JSON.parse(body || '{}') as { Action?: unknown }).Action;
      } catch (error) {
        reply(400, `Request decode failed: ${(error as Error).message}`);
        return true;
      }
      if (action !== 'allow' && action !== 'deny') {
        reply(400, "Intention action must be set to 'allow' or 'deny'");
        return true;
      }
      this.setIntention(source, destination, action);
      reply(200, true);
      return true;
    }
    return false;
  }

  #authorize(body: string, caller: Caller, reply: Reply) {
    let req: { Target?: unknown; ClientCertURI?: unknown; ClientCertSerial?: unknown };
    try {
      req = JSON.parse(body || '{}') as typeof req;
    } catch (error) {
      return reply(400, `Request decode failed: ${(error as Error).message}`);
    }
    const target = typeof req.Target === 'string' ? req.Target : '';
    if (target === '') return reply(400, 'Target service must be specified');
    const uri = typeof req.ClientCertURI === 'string' ? req.ClientCertURI : '';
    if (!uri.startsWith('spiffe://')) return reply(400, 'ClientCertURI not a valid Connect identifier');
    const service = /^spiffe:\/\/[^/]+\/ns\/[^/]+\/dc\/[^/]+\/svc\/([^/]+)$/.exec(uri)?.[1];
    if (!service) return reply(400, 'ClientCertURI not a valid Service identifier');
    if (!caller.serviceWrite(target)) return reply(403, caller.denied('service:write', target));
    for (const source of [service, '*']) {
      const action = this.#intentions.get(`${source}\u0000${target}`);
      if (action) {
        return reply(200, {
          Authorized: action === 'allow',
          Reason: `Matched L4 intention: ${source} => ${target} (${action})`,
        });
      }
    }
    if (!this.#s.aclsOn())
      return reply(200, { Authorized: true, Reason: 'ACLs disabled, access is allowed by default' });
    reply(200, {
      Authorized: this.#s.intentionDefault === 'allow',
      Reason: 'Default behavior configured by ACLs',
    });
  }

  #rootsBody() {
    const active = this.#active();
    return {
      ActiveRootID: active.id,
      TrustDomain: this.#s.trustDomain,
      Roots: this.#roots.map((r) => {
        const cert = new X509Certificate(r.ca.cert);
        return {
          ID: r.id,
          Name: 'Consul CA Primary Cert',
          SerialNumber: r.serial,
          SigningKeyID: r.id,
          ExternalTrustDomain: this.#s.trustDomain.replace(/\.consul$/, ''),
          NotBefore: new Date(cert.validFrom).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          NotAfter: new Date(cert.validTo).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          RootCert: r.ca.cert,
          IntermediateCerts: null,
          Active: r === active,
          PrivateKeyType: 'ec',
          PrivateKeyBits: 256,
          CreateIndex: r.createIndex,
          ModifyIndex: r.modifyIndex,
        };
      }),
    };
  }

  #leafBody(service: string, leaf: Leaf) {
    const stamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      SerialNumber: leaf.issued.serial,
      CertPEM: leaf.issued.cert,
      PrivateKeyPEM: leaf.issued.key,
      Service: service,
      ServiceURI: consulId(this.#s.trustDomain, service, this.#s.datacenter),
      ValidAfter: stamp(leaf.validAfter),
      ValidBefore: stamp(leaf.issued.notAfter),
      CreateIndex: leaf.index,
      ModifyIndex: leaf.index,
    };
  }

  #ready(): Promise<void> {
    this.#first ??= this.#addRoot();
    return this.#first;
  }

  async #addRoot(): Promise<void> {
    const ca = await TestCa.root(
      `pri-${this.#serials}.consul.ca.${this.#s.trustDomain.slice(0, 8)}.consul`,
      this.#s.trustDomain,
    );
    const index = this.#s.nextIndex();
    const der = new X509Certificate(ca.cert).raw;
    const id = (createHash('sha1').update(der).digest('hex').match(/../g) ?? []).join(':');
    const previous = this.#roots[0];
    const cross = previous ? await previous.ca.crossSign(ca) : undefined;
    this.#roots = [
      { ca, cross, id, serial: this.#serials++, createIndex: index, modifyIndex: index },
      ...this.#roots,
    ];
    this.#rootsIndex = index;
    this.#s.waiters.wake();
  }

  #active(): Root {
    return this.#roots[0]!;
  }

  /** The service's leaf, issued anew when there is none, it expired, or its root is not the active one. */
  async #current(service: string): Promise<Leaf> {
    const leaf = this.#leaves.get(service);
    if (leaf && leaf.root === this.#active() && leaf.issued.notAfter.getTime() > Date.now()) return leaf;
    return this.#issue(service);
  }

  #issue(service: string): Promise<Leaf> {
    let pending = this.#issuing.get(service);
    if (!pending) {
      pending = (async () => {
        const root = this.#active();
        const validAfter = new Date(Date.now() - 60_000);
        // While the previous root is listed, a leaf carries the new root cross-signed by it, so peers
        // that do not trust the new root yet still verify it (Consul's rotation).
        const crossed = root.cross !== undefined && this.#roots.length > 1;
        const issued = await root.ca.leaf({
          id: consulId(this.#s.trustDomain, service, this.#s.datacenter),
          to: this.#s.leafTtl,
          ...(crossed ? { chain: [root.cross!] } : {}),
        });
        const leaf = { issued, root, validAfter, index: this.#s.nextIndex() };
        this.#leaves.set(service, leaf);
        this.#s.waiters.wake();
        return leaf;
      })().finally(() => this.#issuing.delete(service));
      this.#issuing.set(service, pending);
    }
    return pending;
  }
}

function meta(index: number): Record<string, string> {
  return {
    'x-consul-index': String(Math.max(1, index)),
    'x-consul-knownleader': 'true',
    'x-consul-lastcontact': '0',
  };
}
