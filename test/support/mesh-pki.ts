/**
 * The workloads of the mutual-TLS tests: one trust domain's CA and a leaf per workload (Consul's
 * shape for `web` and `users`, Istio's for `billing`), plus a CA nobody trusts, made once per test
 * file (ECDSA P-256 keys are cheap to make, certificates cheaper).
 */
import { consulId, type Issued, istioId, TestCa } from '../../testkit/pki.js';

export const TD = 'prod.consul';

/** Certificate, key and trust bundle, the shape of the `tls` option. */
export interface Workload {
  id: string;
  cert: string;
  key: string;
  ca: string;
  serial: string;
}

export interface MeshPki {
  ca: TestCa;
  other: TestCa;
  web: Workload;
  users: Workload;
  billing: Workload;
  /** A leaf `spiffe://prod.consul/.../svc/users` issued by the untrusted CA. */
  forgedUsers: Workload;
  /** An expired leaf of `web`. */
  expiredWeb: Workload;
  /** A leaf of the trusted CA without any URI SAN. */
  anonymous: Workload;
  /** Issue another leaf of the trusted CA. */
  issue(id: string | null, opts?: { from?: number; to?: number }): Promise<Workload>;
}

function workload(issued: Issued, id: string, ca: string): Workload {
  return { id, cert: issued.cert, key: issued.key, ca, serial: issued.serial };
}

export async function meshPki(): Promise<MeshPki> {
  const ca = await TestCa.root('prod root', TD);
  const other = await TestCa.root('someone else', TD);
  const issue = async (id: string | null, opts: { from?: number; to?: number } = {}) =>
    workload(await ca.leaf({ id, ...opts }), id ?? '', ca.cert);
  const webId = consulId(TD, 'web');
  const usersId = consulId(TD, 'users');
  return {
    ca,
    other,
    web: await issue(webId),
    users: await issue(usersId),
    billing: await issue(istioId(TD, 'billing')),
    forgedUsers: workload(await other.leaf({ id: usersId }), usersId, other.cert),
    expiredWeb: await issue(webId, { from: -2 * 3_600_000, to: -3_600_000 }),
    anonymous: await issue(null),
    issue,
  };
}

/** The `tls` option of a workload. */
export function tlsOf(w: Workload, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cert: w.cert, key: w.key, ca: w.ca, ...extra };
}
