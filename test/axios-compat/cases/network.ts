/**
 * How the connection is made: TLS through `httpsAgent` (self-signed trust, a wrong anchor,
 * rejectUnauthorized, server identity checks, client certificates), proxies (`proxy`,
 * HTTP_PROXY with NO_PROXY, `proxy: false`, CONNECT for HTTPS), `lookup` and `family`, and
 * `socketPath`, which a mesh refuses: it chooses the endpoint itself.
 */
import type { LookupAddress } from 'node:dns';
import { Agent } from 'node:http';
import https from 'node:https';
import { expect } from 'vitest';
import { axiosError, refused, rejects, resolves } from '../support/expect.js';
import type { Case, Ctx } from '../support/harness.js';
import { NAMED_HOST } from '../support/harness.js';
import { Servers } from '../support/servers.js';

function agent(c: Ctx, options: https.AgentOptions): https.Agent {
  const a = new https.Agent(options);
  c.defer(() => a.destroy());
  return a;
}

const viaProxy = (label: string) =>
  resolves(label, (res) => {
    expect(res.headers['x-via-proxy']).toBe('compat');
    expect(res.data).toEqual({ hello: 'world' });
  });

const direct = (label: string) =>
  resolves(label, (res) => {
    expect(res.headers['x-via-proxy']).toBeUndefined();
    expect(res.data).toEqual({ hello: 'world' });
  });

const proxyConfig = (c: Ctx) => ({
  protocol: 'http',
  host: '127.0.0.1',
  port: Servers.port(c.servers.proxy),
});

/** A callback-style lookup resolving the test host name to loopback, recording what it was asked. */
function lookupTo127(asked: Array<{ host: string; family: unknown }>) {
  return (host: string, opts: { family?: unknown; all?: boolean }, cb: (...args: unknown[]) => void) => {
    asked.push({ host, family: opts.family });
    if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  };
}

export const network: Case[] = [
  {
    id: 'tls/untrusted',
    origin: 'https',
    run: (c) => c.request({ url: '/json' }),
    // Node's message; Node 24 appends a hint about --use-system-ca.
    expect: axiosError('DEPTH_ZERO_SELF_SIGNED_CERT', /^self-signed certificate/),
  },
  {
    id: 'tls/reject-unauthorized-false',
    origin: 'https',
    run: (c) => c.request({ url: '/json', httpsAgent: agent(c, { rejectUnauthorized: false }) }),
    expect: resolves('httpsAgent rejectUnauthorized: false', (res) =>
      expect(res.data).toEqual({ hello: 'world' }),
    ),
  },
  {
    id: 'tls/custom-ca',
    origin: 'https',
    run: (c) => c.request({ url: '/json', httpsAgent: agent(c, { ca: c.servers.pki.server.cert }) }),
    expect: resolves('httpsAgent ca: the self-signed certificate', (res) => expect(res.status).toBe(200)),
  },
  {
    id: 'tls/keep-alive-agent-ca',
    origin: 'https',
    run: async (c) => {
      const a = agent(c, { ca: c.servers.pki.server.cert, keepAlive: true });
      await c.request({ url: '/json', httpsAgent: a });
      return c.request({ url: '/json', httpsAgent: a });
    },
    expect: resolves('the same agent serves a second request', (res) => expect(res.status).toBe(200)),
  },
  {
    id: 'tls/wrong-ca',
    origin: 'https',
    run: (c) => c.request({ url: '/json', httpsAgent: agent(c, { ca: c.servers.pki.other.cert }) }),
    expect: axiosError('DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    id: 'tls/check-server-identity',
    origin: 'https',
    run: (c) =>
      c.request({
        url: '/json',
        httpsAgent: agent(c, {
          ca: c.servers.pki.server.cert,
          checkServerIdentity: () => Object.assign(new Error('pin mismatch'), { code: 'ERR_PINNED' }),
        }),
      }),
    expect: axiosError('ERR_PINNED', 'pin mismatch'),
  },
  {
    id: 'tls/client-certificate',
    origin: 'mtls',
    run: (c) =>
      c.request({
        url: '/echo',
        httpsAgent: agent(c, { ca: c.servers.pki.server.cert, ...c.servers.pki.client }),
      }),
    expect: resolves('cert and key from httpsAgent reach the server', (res) =>
      expect((res.data as { peer: string }).peer).toBe('axios-compat client'),
    ),
  },
  {
    id: 'tls/client-certificate-missing',
    origin: 'mtls',
    run: (c) => c.request({ url: '/echo', httpsAgent: agent(c, { ca: c.servers.pki.server.cert }) }),
    expect: rejects('AxiosError: the server refuses a client without a certificate', {
      check: (err) => expect(err.response).toBeUndefined(),
    }),
  },
  {
    id: 'agent/keep-alive-false',
    origin: 'https',
    run: (c) => c.request({ url: '/echo', httpsAgent: agent(c, { ca: c.servers.pki.server.cert }) }),
    expect: resolves('an agent without keepAlive sends Connection: close', (res) =>
      expect((res.data as { headers: Record<string, string> }).headers.connection).toBe('close'),
    ),
  },
  {
    id: 'agent/keep-alive-true',
    origin: 'https',
    run: (c) =>
      c.request({ url: '/echo', httpsAgent: agent(c, { ca: c.servers.pki.server.cert, keepAlive: true }) }),
    expect: resolves('a keepAlive agent keeps the connection', (res) =>
      expect((res.data as { headers: Record<string, string> }).headers.connection).toBe('keep-alive'),
    ),
  },
  {
    id: 'agent/max-sockets',
    run: async (c) => {
      const httpAgent = new Agent({ keepAlive: true, maxSockets: 1 });
      c.defer(() => httpAgent.destroy());
      const replies = await Promise.all([1, 2, 3].map(() => c.request({ url: '/echo', httpAgent })));
      return new Set(replies.map((r) => (r.data as { port: number }).port)).size;
    },
    expect: resolves<number>("the agent's maxSockets: 1 puts concurrent requests on one connection", (n) =>
      expect(n).toBe(1),
    ),
  },
  {
    id: 'agent/own-http-agent',
    run: (c) => {
      const httpAgent = new Agent({ keepAlive: false });
      c.defer(() => httpAgent.destroy());
      return c.request({ url: '/echo', httpAgent });
    },
    expect: resolves('an http agent without keepAlive: Connection: close', (res) =>
      expect((res.data as { headers: Record<string, string> }).headers.connection).toBe('close'),
    ),
  },
  {
    id: 'proxy/config',
    run: (c) => c.request({ url: '/json', proxy: proxyConfig(c) }),
    expect: viaProxy('proxy: {host, port} carries the request'),
  },
  {
    id: 'proxy/config-auth',
    run: async (c) => {
      const res = await c.request({
        url: '/json',
        proxy: { ...proxyConfig(c), auth: { username: 'pu', password: 'pp' } },
      });
      return { res, seen: c.servers.proxied.at(-1) };
    },
    expect: resolves<{ seen: { proxyAuthorization: string } }>(
      'proxy auth as Proxy-Authorization',
      ({ seen }) => expect(seen.proxyAuthorization).toBe(`Basic ${Buffer.from('pu:pp').toString('base64')}`),
    ),
  },
  {
    id: 'proxy/env',
    run: (c) => {
      c.env({ HTTP_PROXY: c.servers.proxy, http_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined });
      return c.request({ url: '/json' });
    },
    expect: viaProxy('HTTP_PROXY is honoured'),
  },
  {
    id: 'proxy/env-lower-case',
    run: (c) => {
      c.env({ http_proxy: c.servers.proxy, HTTP_PROXY: undefined, NO_PROXY: undefined, no_proxy: undefined });
      return c.request({ url: '/json' });
    },
    expect: viaProxy('http_proxy is honoured'),
  },
  {
    id: 'proxy/env-no-proxy',
    run: (c) => {
      c.env({ HTTP_PROXY: c.servers.proxy, NO_PROXY: '127.0.0.1', no_proxy: undefined });
      return c.request({ url: '/json' });
    },
    expect: direct('NO_PROXY bypasses the proxy'),
  },
  {
    id: 'proxy/false',
    run: (c) => {
      c.env({ HTTP_PROXY: c.servers.proxy, NO_PROXY: undefined, no_proxy: undefined });
      return c.request({ url: '/json', proxy: false });
    },
    expect: direct('proxy: false ignores HTTP_PROXY'),
  },
  {
    id: 'proxy/https-connect',
    origin: 'https',
    run: async (c) => {
      const res = await c.request({
        url: '/json',
        proxy: proxyConfig(c),
        httpsAgent: agent(c, { ca: c.servers.pki.server.cert }),
      });
      return { res, seen: c.servers.proxied.at(-1) };
    },
    expect: resolves<{ res: { status: number }; seen: { target: string } }>(
      'HTTPS through the proxy: a CONNECT tunnel, the agent still verifies',
      ({ res, seen }, c) => {
        expect(res.status).toBe(200);
        expect(seen.target).toBe(`CONNECT ${new URL(c.origin).host}`);
      },
    ),
  },
  {
    id: 'lookup/callback',
    origin: 'named',
    run: async (c) => {
      const asked: Array<{ host: string; family: unknown }> = [];
      const res = await c.request({ url: '/json', lookup: lookupTo127(asked) as never });
      return { res, asked };
    },
    expect: resolves<{ asked: Array<{ host: string }> }>('a callback lookup resolves the host', ({ asked }) =>
      expect(asked[0]?.host).toBe(NAMED_HOST),
    ),
  },
  {
    id: 'lookup/async',
    origin: 'named',
    run: (c) =>
      c.request({
        url: '/json',
        lookup: (async (host: string) => {
          if (host !== NAMED_HOST) throw new Error(`unexpected ${host}`);
          return { address: '127.0.0.1', family: 4 } satisfies LookupAddress;
        }) as never,
      }),
    expect: resolves('an async lookup returning {address, family}', (res) => expect(res.status).toBe(200)),
  },
  {
    id: 'lookup/async-array',
    origin: 'named',
    run: (c) => c.request({ url: '/json', lookup: (async () => ['127.0.0.1', 4]) as never }),
    expect: resolves('an async lookup returning [address, family]', (res) => expect(res.status).toBe(200)),
  },
  {
    id: 'lookup/error',
    origin: 'named',
    run: (c) =>
      c.request({
        url: '/json',
        lookup: ((_h: string, _o: unknown, cb: (e: Error) => void) =>
          cb(Object.assign(new Error('no such name'), { code: 'ENOTFOUND' }))) as never,
      }),
    expect: axiosError('ENOTFOUND', 'no such name'),
  },
  {
    id: 'lookup/family',
    origin: 'named',
    run: async (c) => {
      const asked: Array<{ host: string; family: unknown }> = [];
      await c.request({ url: '/json', family: 4, lookup: lookupTo127(asked) as never });
      return asked;
    },
    expect: resolves<Array<{ family: unknown }>>('family reaches the lookup', (asked) =>
      expect(asked[0]?.family).toBe(4),
    ),
  },
  {
    id: 'connect/refused',
    origin: 'closed',
    run: (c) => c.request({ url: '/json' }),
    expect: axiosError('ECONNREFUSED', /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/, {
      check: (err) => {
        expect(err.response).toBeUndefined();
        expect(err.request).toBeTruthy();
      },
    }),
  },
  {
    id: 'connect/reset',
    run: (c) => c.request({ url: '/reset' }),
    expect: axiosError('ECONNRESET', 'socket hang up'),
  },
  {
    id: 'connect/garbage',
    run: (c) => c.request({ url: '/garbage' }),
    expect: rejects('AxiosError with the parser error code', {
      check: (err) => expect(err.code).toMatch(/^HPE_/),
    }),
  },
  {
    id: 'connect/socket-path',
    run: (c) => c.request({ url: '/json', socketPath: c.servers.socketPath }),
    expect: resolves('axios talks to the Unix socket', (res) => expect(res.data).toEqual({ hello: 'world' })),
    mesh: refused('MESH_BAD_REQUEST', /socketPath/),
  },
];
