/**
 * Certificates for the mutual-TLS tests, the benchmarks and the Consul emulator's Connect CA, made
 * at run time with @peculiar/x509 (nothing is read from disk): a root CA, optionally an
 * intermediate, and workload leaves whose identity is a SPIFFE ID in their URI SAN, as Consul
 * Connect and Istio issue them (a leaf is both a TLS server and a TLS client certificate). Levers for
 * the failure cases: an expired leaf, a leaf without a URI SAN, a leaf of another CA.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;

/** A certificate and its private key, PEM-encoded. */
export interface Issued {
  /** The certificate (for a leaf issued by an intermediate: the leaf, then the intermediate). */
  cert: string;
  key: string;
  /** The certificate's serial number, hex. */
  serial: string;
  notAfter: Date;
}

/** What a leaf is issued with. */
export interface LeafOptions {
  /** The SPIFFE ID (URI SAN); none when `null`. */
  id: string | null;
  /** DNS names also carried as SANs. @defaultValue `['localhost']` */
  dns?: string[];
  /** Validity start, relative to now (ms). @defaultValue `-60000` */
  from?: number;
  /** Validity end, relative to now (ms). @defaultValue 24 hours */
  to?: number;
  /** Certificates appended after the leaf (a cross-signed intermediate). @defaultValue none */
  chain?: string[];
}

let serials = 0x1000;
function nextSerial(): string {
  serials += 1;
  return serials.toString(16).padStart(6, '0');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A certificate authority that issues workload leaves (and, once, an intermediate). */
export class TestCa {
  private constructor(
    readonly name: string,
    /** The CA's own certificate, PEM: the trust bundle of its workloads. */
    readonly cert: string,
    private readonly x509cert: x509.X509Certificate,
    private readonly keys: webcrypto.CryptoKeyPair,
    /** For an intermediate: the chain above it to append to its leaves. */
    private readonly chain: string,
    /** The trust domain the CA's own URI SAN names (`spiffe://<td>`), when it has one. */
    readonly trustDomain: string | undefined,
  ) {}

  /** A new self-signed root; `trustDomain` becomes its URI SAN, as Consul's roots carry. */
  static async root(name: string, trustDomain?: string): Promise<TestCa> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const now = Date.now();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (trustDomain) {
      extensions.push(
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      );
    }
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: nextSerial(),
      name: `CN=${name}`,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 365 * 24 * HOUR),
      signingAlgorithm: ALG,
      keys,
      extensions,
    });
    return new TestCa(name, cert.toString('pem'), cert, keys, '', trustDomain);
  }

  /** An intermediate CA signed by this one: its leaves carry it in their chain. */
  async intermediate(name: string): Promise<TestCa> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: `CN=${name}`,
      issuer: this.x509cert.subject,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 30 * 24 * HOUR),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    const pem = cert.toString('pem');
    return new TestCa(name, pem, cert, keys, `${pem}\n${this.chain}`.trim(), this.trustDomain);
  }

  /**
   * `next`'s certificate re-issued by this CA (same subject and key): during a root rotation, a
   * leaf of `next` that carries it verifies at peers that trust only this (the old) root, as
   * Consul's cross-signed intermediates do.
   */
  async crossSign(next: TestCa): Promise<string> {
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: next.x509cert.subject,
      issuer: this.x509cert.subject,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 30 * 24 * HOUR),
      signingAlgorithm: ALG,
      publicKey: next.keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(next.keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    return cert.toString('pem');
  }

  /** A workload leaf: server and client auth, the SPIFFE ID as its URI SAN. */
  async leaf(options: LeafOptions): Promise<Issued> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const now = Date.now();
    const names: x509.JsonGeneralName[] = (options.dns ?? ['localhost']).map((value) => ({
      type: 'dns',
      value,
    }));
    names.push({ type: 'ip', value: '127.0.0.1' });
    if (options.id !== null) names.unshift({ type: 'url', value: options.id });
    const serial = nextSerial();
    const notAfter = new Date(now + (options.to ?? 24 * HOUR));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${options.id === null ? 'no identity' : new URL(options.id).pathname.split('/').pop()}`,
      issuer: this.x509cert.subject,
      notBefore: new Date(now + (options.from ?? -60_000)),
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature |
            x509.KeyUsageFlags.keyEncipherment |
            x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    const pem = cert.toString('pem');
    const chain = [this.chain, ...(options.chain ?? [])].filter((c) => c !== '');
    return {
      cert: chain.length > 0 ? `${pem}\n${chain.join('\n')}\n` : pem,
      key: await keyPem(keys.privateKey),
      serial,
      notAfter,
    };
  }
}

/** A Consul-shaped SPIFFE ID: `spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>`. */
export function consulId(trustDomain: string, service: string, dc = 'dc1', ns = 'default'): string {
  return `spiffe://${trustDomain}/ns/${ns}/dc/${dc}/svc/${service}`;
}

/** An Istio-shaped SPIFFE ID: `spiffe://<td>/ns/<ns>/sa/<serviceAccount>`. */
export function istioId(trustDomain: string, serviceAccount: string, ns = 'default'): string {
  return `spiffe://${trustDomain}/ns/${ns}/sa/${serviceAccount}`;
}
