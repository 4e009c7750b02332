/**
 * A workload's TLS material, checked before it is used: its certificate (with its chain), its key,
 * and the trust bundle (the CA certificates its peers' certificates must chain to). Material is only
 * ever replaced whole and only by material that passed every check, so a half-written rotation
 * (a new certificate beside the old key, a certificate whose CA is not yet in the bundle) never
 * reaches a connection: the last good material stays in force and the problem is reported.
 *
 * The checks: the certificate is an X.509-SVID (one SPIFFE ID as its URI SAN), is valid now, matches
 * the key, chains to a CA of the bundle, and (when one is configured) names the expected identity.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { type LeafFacts, leafFacts, splitPem } from './certificate.js';
import type { IdentityPattern, SpiffeId } from './spiffe.js';

/** PEM text of the three parts. */
export interface PemSet {
  cert: string;
  key: string;
  /** The trust bundle: one or more CA certificates. */
  ca: string;
}

/** Material that passed every check. */
export interface TlsMaterial extends PemSet {
  readonly identity: SpiffeId;
  readonly facts: LeafFacts;
  /** The bundle's certificates, one PEM each. */
  readonly bundle: readonly string[];
  /** Rises by one with each replacement: what a TLS session cache keys on. */
  readonly version: number;
  /** A client-side context: our certificate and key, the bundle as the only trust anchors. */
  readonly context: tls.SecureContext;
}

let versions = 0;

/** Check `pems` and build the material, or say what is wrong with them. */
export function buildMaterial(
  pems: PemSet,
  expected?: IdentityPattern,
  now = Date.now(),
): TlsMaterial | string {
  const facts = leafFacts(pems.cert);
  if (typeof facts === 'string') return `certificate: ${facts}`;
  if (expected && !expected.matches(facts.identity.id)) {
    return `certificate: its identity ${facts.identity.id} is not the configured identity ${expected.pattern}`;
  }
  if (facts.notAfter.getTime() <= now) return `certificate: expired at ${facts.notAfter.toISOString()}`;
  if (facts.notBefore.getTime() > now)
    return `certificate: not valid before ${facts.notBefore.toISOString()}`;
  const bundle = splitPem(pems.ca);
  if (bundle.length === 0) return 'trust bundle: no PEM certificate found';
  const chained = chainsTo(pems.cert, bundle);
  if (chained !== undefined) return `certificate: ${chained}`;
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: pems.cert, key: pems.key, ca: [...bundle] });
  } catch (error) {
    const message = (error as Error).message;
    return /mismatch/i.test(message) ? 'key: it does not match the certificate' : `key: ${message}`;
  }
  return { ...pems, identity: facts.identity, facts, bundle, version: ++versions, context };
}

/**
 * Undefined when the leaf of `certPem` is issued, directly or through the intermediates that follow
 * it in `certPem`, by a CA of `bundle`; else why not.
 */
function chainsTo(certPem: string, bundle: readonly string[]): string | undefined {
  let certs: X509Certificate[];
  let anchors: X509Certificate[];
  try {
    certs = splitPem(certPem).map((p) => new X509Certificate(p));
    anchors = bundle.map((p) => new X509Certificate(p));
  } catch (error) {
    return `unreadable (${(error as Error).message})`;
  }
  let current = certs[0]!;
  const intermediates = certs.slice(1);
  for (let depth = 0; depth < 8; depth++) {
    const anchor = anchors.find((a) => current.checkIssued(a) && current.verify(a.publicKey));
    if (anchor) return undefined;
    const next = intermediates.find((c) => current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) break;
    current = next;
  }
  return 'not issued by a CA of the trust bundle';
}
