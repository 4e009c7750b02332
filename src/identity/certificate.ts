/**
 * What a certificate says about its workload: the SPIFFE ID in its URI SAN. An X.509-SVID carries
 * exactly one URI SAN (the SPIFFE X.509-SVID standard, section 2); a certificate with none, or with
 * several, names no workload and is refused wherever an identity is required.
 *
 * Node describes SANs as one string (`URI:spiffe://td/ns/a/sa/b, DNS:localhost`); since Node 17.3
 * a value with characters that could break that list is JSON-quoted, which SPIFFE IDs never need,
 * so a quoted URI is read as the string it encodes and then refused as not being a SPIFFE ID.
 */
import { X509Certificate } from 'node:crypto';
import { parseSpiffeId, type SpiffeId } from './spiffe.js';

const ENTRY = /(?:^|,\s*)([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;

/** The URI SANs of a certificate's `subjectaltname` string, in order. */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  for (const m of subjectAltName.matchAll(ENTRY)) {
    if (m[1] !== 'URI') continue;
    const raw = m[2]!;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = '';
      }
    }
    out.push(value);
  }
  return out;
}

/** The workload identity of a certificate's SANs, or why there is none. */
export function identityOfSans(subjectAltName: string | undefined): SpiffeId | string {
  const uris = uriSans(subjectAltName);
  const spiffe = uris.filter((u) => u.startsWith('spiffe://'));
  if (spiffe.length === 0) return 'the certificate carries no SPIFFE ID (a URI SAN spiffe://...)';
  if (uris.length > 1)
    return `the certificate carries ${uris.length} URI SANs; an X.509-SVID carries exactly one`;
  return parseSpiffeId(spiffe[0]!) ?? `the certificate's URI SAN "${spiffe[0]}" is not a valid SPIFFE ID`;
}

/** The certificates of a PEM bundle, each as its own PEM block. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** What the mesh reads of a workload certificate. */
export interface LeafFacts {
  identity: SpiffeId;
  /** Serial number, colon-hex as Consul's authorize endpoint takes it (`04:00:01`). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-hex. */
  fingerprint: string;
}

/** Read the first certificate of `pem` (a leaf, then possibly its chain); a string says why it is not usable. */
export function leafFacts(pem: string): LeafFacts | string {
  const first = splitPem(pem)[0];
  if (!first) return 'no PEM certificate found';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch (error) {
    return `not a certificate (${(error as Error).message})`;
  }
  const identity = identityOfSans(cert.subjectAltName);
  if (typeof identity === 'string') return identity;
  return {
    identity,
    serial: colonHex(cert.serialNumber),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint: cert.fingerprint256,
  };
}

/** `0A1B2C` as `0a:1b:2c`. */
export function colonHex(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  return (even.toLowerCase().match(/../g) ?? []).join(':');
}
