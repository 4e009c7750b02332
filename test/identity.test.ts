/**
 * Workload identity, without a network: SPIFFE IDs of both meshes' shapes, patterns, what a
 * certificate's SANs say, the checks material must pass before use, and the options that name it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MeshClient } from '../src/client/client.js';
import { identityOfSans, uriSans } from '../src/identity/certificate.js';
import { buildMaterial } from '../src/identity/material.js';
import {
  IdentityPattern,
  parseSpiffeId,
  patternProblem,
  spiffeIdProblem,
  workloadPatterns,
} from '../src/identity/spiffe.js';
import { parseSidecarConfig } from '../src/sidecar/options.js';
import { Sidecar } from '../src/sidecar/sidecar.js';
import { consulId, istioId } from '../testkit/pki.js';
import { type MeshPki, meshPki, TD, tlsOf } from './support/mesh-pki.js';

let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

describe('SPIFFE IDs', () => {
  it("reads Consul's and Istio's shapes, and any other path as a bare identity", () => {
    expect(parseSpiffeId('spiffe://prod.consul/ns/default/dc/dc1/svc/web')).toEqual({
      id: 'spiffe://prod.consul/ns/default/dc/dc1/svc/web',
      trustDomain: 'prod.consul',
      path: '/ns/default/dc/dc1/svc/web',
      shape: 'consul',
      namespace: 'default',
      datacenter: 'dc1',
      workload: 'web',
    });
    expect(parseSpiffeId('spiffe://cluster.local/ns/shop/sa/billing')).toMatchObject({
      shape: 'istio',
      namespace: 'shop',
      workload: 'billing',
    });
    expect(parseSpiffeId('spiffe://example.org/batch/nightly')).toMatchObject({ shape: 'other' });
    expect(parseSpiffeId('spiffe://example.org/batch/nightly')?.workload).toBeUndefined();
    expect(parseSpiffeId('spiffe://example.org')).toMatchObject({ path: '', shape: 'other' });
  });

  it('refuses what the SPIFFE spec does not allow, saying why', () => {
    expect(spiffeIdProblem('https://example.org/a')).toBe('does not start with spiffe://');
    expect(spiffeIdProblem('spiffe:///a')).toBe('has no trust domain');
    expect(spiffeIdProblem('spiffe://Example.org/a')).toContain('trust domain');
    expect(spiffeIdProblem('spiffe://example.org/a//b')).toContain('empty path segment');
    expect(spiffeIdProblem('spiffe://example.org/a/')).toContain('trailing');
    expect(spiffeIdProblem('spiffe://example.org/a/../b')).toContain('"."');
    expect(spiffeIdProblem('spiffe://example.org/a b')).toContain('path segments');
    expect(spiffeIdProblem(`spiffe://example.org/${'a'.repeat(2100)}`)).toContain('2048');
  });

  it('patterns: exact, * within a segment, ** across segments', () => {
    const exact = new IdentityPattern(consulId(TD, 'web'));
    expect(exact.matches(consulId(TD, 'web'))).toBe(true);
    expect(exact.matches(consulId(TD, 'web', 'dc2'))).toBe(false);
    const anyDc = new IdentityPattern(`spiffe://${TD}/ns/default/dc/*/svc/web`);
    expect(anyDc.matches(consulId(TD, 'web', 'dc2'))).toBe(true);
    expect(anyDc.matches(consulId(TD, 'webx', 'dc2'))).toBe(false);
    expect(anyDc.matches(`spiffe://${TD}/ns/default/dc/a/b/svc/web`)).toBe(false);
    const domain = new IdentityPattern(`spiffe://${TD}/**`);
    expect(domain.matches(istioId(TD, 'billing'))).toBe(true);
    expect(domain.matches(istioId('other.domain', 'billing'))).toBe(false);
    // A dot in a pattern is a dot, not any character.
    expect(new IdentityPattern('spiffe://a.b/x').matches('spiffe://aXb/x')).toBe(false);
    expect(patternProblem('spiffe://td/***')).toContain('more than two');
    expect(patternProblem('spiffe://td/a//*')).toContain('empty path segment');
    expect(() => new IdentityPattern('web')).toThrow('does not start with spiffe://');
  });

  it("a service's default expectation: its name in the trust domain, in both shapes", () => {
    const patterns = workloadPatterns(TD, 'users');
    const ok = (id: string) => patterns.some((p) => p.matches(id));
    expect(ok(consulId(TD, 'users', 'dc9', 'shop'))).toBe(true);
    expect(ok(istioId(TD, 'users', 'shop'))).toBe(true);
    expect(ok(consulId(TD, 'web'))).toBe(false);
    expect(ok(consulId('other.consul', 'users'))).toBe(false);
  });
});

describe('certificate SANs', () => {
  it('reads the URI SANs as Node prints them, quoted ones included', () => {
    expect(uriSans('DNS:localhost, URI:spiffe://td/a, IP Address:127.0.0.1')).toEqual(['spiffe://td/a']);
    expect(uriSans('URI:"spiffe://td/a,b", DNS:x')).toEqual(['spiffe://td/a,b']);
    expect(uriSans(undefined)).toEqual([]);
  });

  it('an X.509-SVID has exactly one URI SAN, a valid SPIFFE ID', () => {
    expect(identityOfSans('DNS:localhost')).toContain('no SPIFFE ID');
    expect(identityOfSans('URI:spiffe://td/a, URI:spiffe://td/b')).toContain('exactly one');
    expect(identityOfSans('URI:spiffe://td/a, URI:https://x')).toContain('exactly one');
    expect(identityOfSans('URI:"spiffe://td/a,b"')).toContain('not a valid SPIFFE ID');
    expect(identityOfSans('URI:spiffe://td/ns/a/sa/b')).toMatchObject({ workload: 'b' });
  });
});

describe('material checks', () => {
  it('accepts a leaf of the bundle with its key', () => {
    const m = buildMaterial({ cert: pki.web.cert, key: pki.web.key, ca: pki.web.ca });
    expect(m).toMatchObject({
      identity: { id: pki.web.id },
      bundle: [expect.stringContaining('BEGIN CERTIFICATE')],
    });
  });

  it('refuses a wrong key, another CA, expiry, no identity, another identity than configured', () => {
    expect(buildMaterial({ cert: pki.web.cert, key: pki.users.key, ca: pki.web.ca })).toBe(
      'key: it does not match the certificate',
    );
    expect(buildMaterial({ cert: pki.forgedUsers.cert, key: pki.forgedUsers.key, ca: pki.web.ca })).toBe(
      'certificate: not issued by a CA of the trust bundle',
    );
    expect(buildMaterial({ cert: pki.expiredWeb.cert, key: pki.expiredWeb.key, ca: pki.web.ca })).toMatch(
      /^certificate: expired at /,
    );
    expect(buildMaterial({ cert: pki.anonymous.cert, key: pki.anonymous.key, ca: pki.web.ca })).toContain(
      'no SPIFFE ID',
    );
    expect(
      buildMaterial(
        { cert: pki.web.cert, key: pki.web.key, ca: pki.web.ca },
        new IdentityPattern(consulId(TD, 'users')),
      ),
    ).toContain('is not the configured identity');
    expect(buildMaterial({ cert: pki.web.cert, key: pki.web.key, ca: 'nothing' })).toBe(
      'trust bundle: no PEM certificate found',
    );
  });

  it('follows a chain through an intermediate', async () => {
    const intermediate = await pki.ca.intermediate('prod issuing');
    const leaf = await intermediate.leaf({ id: consulId(TD, 'web') });
    expect(buildMaterial({ cert: leaf.cert, key: leaf.key, ca: pki.ca.cert })).toMatchObject({
      identity: { workload: 'web' },
    });
    expect(
      buildMaterial({
        cert: `${leaf.cert.split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n`,
        key: leaf.key,
        ca: pki.ca.cert,
      }),
    ).toBe('certificate: not issued by a CA of the trust bundle');
  });
});

describe('options', () => {
  const bad = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return (error as Error).message;
    }
    return 'no error';
  };

  it('tls needs cert, key and ca, or consul; not both', () => {
    expect(bad(() => new MeshClient({ tls: { cert: pki.web.cert } }))).toContain('options.tls.key: required');
    expect(
      bad(() => new MeshClient({ tls: { ...tlsOf(pki.web), consul: { service: 'web' } } as never })),
    ).toContain('options.tls.cert: not with consul');
  });

  it('material problems name the part; files that cannot be read name the file', () => {
    expect(bad(() => parseAndOpen({ tls: { cert: pki.web.cert, key: pki.users.key, ca: pki.web.ca } }))).toBe(
      'MESH_BAD_OPTIONS: options.tls.key: key: it does not match the certificate',
    );
    expect(
      bad(() => parseAndOpen({ tls: { cert: '/nonexistent/tls.crt', key: pki.web.key, ca: pki.web.ca } })),
    ).toBe('MESH_BAD_OPTIONS: options.tls.cert: cannot read /nonexistent/tls.crt (ENOENT)');
    expect(
      bad(() => parseAndOpen({ tls: { ...tlsOf(pki.web), identity: consulId(TD, 'users') } })),
    ).toContain('options.tls.cert: certificate: its identity');
  });

  it('patterns and modes are checked where they are written', () => {
    expect(bad(() => new MeshClient({ services: { users: { mtls: { identity: 'users' } } } }))).toContain(
      'options.services.users.mtls.identity: not a SPIFFE ID or pattern',
    );
    expect(bad(() => parseSidecarConfig({ mtls: { mode: 'on' } }))).toBe(
      "MESH_BAD_OPTIONS: options.mtls.mode: 'on' needs options.tls (a certificate to present)",
    );
    expect(bad(() => parseSidecarConfig({ services: { users: { mtls: { mode: 'on' } } } }))).toBe(
      "MESH_BAD_OPTIONS: options.services.users.mtls.mode: 'on' needs options.tls (a certificate to present)",
    );
  });

  it('inbound: a mode that needs tls, rules that could never match, a rule set that denies all', () => {
    const app = 'http://127.0.0.1:8080';
    expect(bad(() => parseSidecarConfig({ inbound: { app, mtls: 'strict' } }))).toBe(
      "MESH_BAD_OPTIONS: options.inbound.mtls: 'strict' needs options.tls (a certificate to present)",
    );
    expect(
      bad(() =>
        parseSidecarConfig({
          inbound: { app, authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] } },
        }),
      ),
    ).toContain('options.inbound.authorization.rules[0].from: the listener is plaintext');
    expect(
      bad(() => parseSidecarConfig({ inbound: { app, authorization: { rules: [{ action: 'deny' }] } } })),
    ).toBe(
      'MESH_BAD_OPTIONS: options.inbound.authorization.rules: no allow rule: every request would be denied',
    );
    expect(bad(() => parseSidecarConfig({ inbound: { app: 'https://x' } }))).toContain(
      'options.inbound.app: expected an http:// URL of the local app',
    );
    expect(parseSidecarConfig({ tls: tlsOf(pki.web), inbound: { app } }).inbound).toMatchObject({
      mtls: 'strict',
      listen: '127.0.0.1:15006',
      timeout: 30_000,
      authorization: false,
    });
    expect(parseSidecarConfig({ inbound: { app } }).inbound?.mtls).toBe('off');
  });
});

/** Construct a sidecar with `options` (its material is read and checked at construction), then close it. */
function parseAndOpen(options: Record<string, unknown>): void {
  void new Sidecar({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...options }).close();
}
