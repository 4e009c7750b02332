/**
 * Self-signed certificates made for the run with @peculiar/x509: one the HTTPS servers present
 * (for 127.0.0.1 and localhost), one a client presents for mutual TLS, and an unrelated one (to
 * show a wrong trust anchor is refused). Each is its own trust anchor. Nothing is read from disk.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate and its private key, PEM-encoded. */
export interface Issued {
  cert: string;
  key: string;
}

/** What the TLS cases use. */
export interface Pki {
  server: Issued;
  client: Issued;
  other: Issued;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function selfSigned(name: string, serial: string, usage: 'server' | 'client'): Promise<Issued> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const extensions: x509.Extension[] = [
    // A self-signed certificate is its own anchor: it must be allowed to sign (itself).
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
    new x509.ExtendedKeyUsageExtension(
      [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
  ];
  if (usage === 'server') {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: ALG,
    keys,
    extensions,
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** Fresh certificates for one run. */
export async function makePki(): Promise<Pki> {
  return {
    server: await selfSigned('axios-compat server', '02', 'server'),
    client: await selfSigned('axios-compat client', '03', 'client'),
    other: await selfSigned('someone else', '04', 'server'),
  };
}
