/**
 * Interop with HAProxy, a third-party proxy speaking mutual TLS: HAProxy originating it to our
 * inbound listener (its client certificate is the caller's identity there), and HAProxy
 * terminating it in front of an app, dialed by our outbound sidecar (which checks the SPIFFE ID of
 * HAProxy's certificate). Skipped where HAProxy is not installed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { haproxyInstalled } from '../testkit/haproxy.js';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { Upstream } from '../testkit/upstream.js';
import { freePort, HAProxyProcess } from './support/haproxy-tls.js';
import { destination, meshEndpoint, outbound } from './support/mesh.js';
import { type MeshPki, meshPki, type Workload } from './support/mesh-pki.js';
import { raw } from './support/sidecar.js';

const open = closeAfterEach();
let pki: MeshPki;
beforeAll(async () => {
  pki = await meshPki();
});

const pem = (w: Workload) => `${w.cert.trim()}\n${w.key.trim()}\n`;
const BASE = [
  'global',
  '  maxconn 256',
  'defaults',
  '  mode http',
  '  timeout connect 2s',
  '  timeout client 10s',
  '  timeout server 10s',
];

describe.skipIf(!haproxyInstalled())('HAProxy', () => {
  /** A users inbound allowing only web, and HAProxy in front of it presenting `caller`'s certificate. */
  async function haproxyTo(caller: Workload) {
    const users = await destination(open, pki.users, {
      authorization: { rules: [{ action: 'allow', from: [pki.web.id] }] },
    });
    const port = await freePort();
    const haproxy = await HAProxyProcess.start(
      [
        ...BASE,
        'frontend app_out',
        `  bind 127.0.0.1:${port}`,
        '  default_backend users',
        'backend users',
        `  server inbound 127.0.0.1:${users.port} ssl crt {{caller.pem}} ca-file {{ca.pem}} verify required`,
      ].join('\n'),
      { 'caller.pem': pem(caller), 'ca.pem': pki.ca.cert },
      port,
    );
    open.push(haproxy);
    return { users, url: `http://127.0.0.1:${port}` };
  }

  it('originates mutual TLS to our inbound: its certificate is the caller the app learns of', async () => {
    const { users, url } = await haproxyTo(pki.web);
    const res = await raw(url, '/users/1', { headers: { host: 'users' } });
    expect(res.status, res.body).toBe(200);
    expect(users.app.received[0]!.headers['x-forwarded-client-cert']).toContain(`URI=${pki.web.id}`);
  });

  it('HAProxy presenting a caller the rules do not allow is denied with 403', async () => {
    const { users, url } = await haproxyTo(pki.billing);
    const res = await raw(url, '/users/1', { headers: { host: 'users' } });
    expect(res.status).toBe(403);
    expect(res.headers['x-mesh-error']).toBe('MESH_FORBIDDEN');
    expect(users.app.count).toBe(0);
  });

  it('terminates mutual TLS in front of an app: our outbound verifies its SPIFFE ID and presents ours', async () => {
    const app = await Upstream.start('behind-haproxy');
    open.push(app);
    const port = await freePort();
    const haproxy = await HAProxyProcess.start(
      [
        ...BASE,
        'frontend users_in',
        `  bind 127.0.0.1:${port} ssl crt {{users.pem}} ca-file {{ca.pem}} verify required`,
        '  http-request set-header x-client-verify %[ssl_c_verify]',
        '  http-request set-header x-client-serial %[ssl_c_serial,hex]',
        '  default_backend app',
        'backend app',
        `  server app ${new URL(app.url).host}`,
      ].join('\n'),
      { 'users.pem': pem(pki.users), 'ca.pem': pki.ca.cert },
      port,
    );
    open.push(haproxy);
    const web = await outbound(open, pki.web, [meshEndpoint({ url: `http://127.0.0.1:${port}` })]);
    const res = await raw(web.address, '/users/1', { headers: { host: 'users' } });
    expect(res.status, res.body).toBe(200);
    expect(app.received[0]!.headers['x-client-verify']).toBe('0');
    expect(String(app.received[0]!.headers['x-client-serial']).toLowerCase()).toContain(
      pki.web.serial.replace(/^0+/, ''),
    );

    // The same HAProxy seen as another service: its certificate names users, not billing.
    const wrong = await outbound(open, pki.web, [meshEndpoint({ url: `http://127.0.0.1:${port}` })], {
      retry: false,
      services: { users: { mtls: { identity: pki.billing.id } } },
    });
    const refused = await raw(wrong.address, '/users/1', { headers: { host: 'users' } });
    expect(refused.status).toBe(502);
    expect(refused.headers['x-mesh-error']).toBe('MESH_PEER_IDENTITY');
    expect(app.count).toBe(1);
  });
});
