/**
 * `transport: 'undici'`: the same axios API over undici. Checked against real loopback servers:
 * what axios users rely on (params, bodies, auth, interceptors, errors, response types,
 * decompression, limits) and the mesh's own behaviour (retries on refusal, timeouts, close()).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { AxiosError } from 'axios';
import { isMeshError, ManualClock, MeshClient, type MeshClientOptions } from 'mesh-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../testkit/lifecycle.js';
import { closedPortUrl, Upstream } from '../testkit/upstream.js';

const open = closeAfterEach();

function client(urls: string[], options: MeshClientOptions = {}): MeshClient {
  const mesh = new MeshClient({ discovery: { static: { svc: urls } }, transport: 'undici', ...options });
  open.push(mesh);
  return mesh;
}

async function server(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  open.push({
    close: () =>
      new Promise((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe("transport: 'undici'", () => {
  it('sends method, path, params, headers, auth and a JSON body; parses JSON back', async () => {
    const up = await Upstream.start('u');
    open.push(up);
    const mesh = client([up.url], { axios: { headers: { 'x-app': 'orders' } } });
    const res = await mesh
      .service('svc')
      .post('/users', { name: 'ada' }, { params: { full: 1 }, auth: { username: 'u', password: 'p' } });
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ upstream: 'u', url: '/users?full=1' });
    const got = up.received[0]!;
    expect(got).toMatchObject({ method: 'POST', url: '/users?full=1', body: '{"name":"ada"}' });
    expect(got.headers).toMatchObject({
      'x-app': 'orders',
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
    });
  });

  it('keeps interceptors, transforms, baseURL prefixes, error statuses and validateStatus', async () => {
    const up = await Upstream.start('u', { kind: 'status', status: 404 });
    open.push(up);
    const users = client([up.url]).service('svc');
    users.defaults.baseURL = '/api';
    users.interceptors.request.use((c) => {
      c.headers.set('x-request-id', 'r-1');
      return c;
    });
    const err = await users.get('/missing').catch((e) => e);
    expect(err).toBeInstanceOf(AxiosError);
    expect(err.response.status).toBe(404);
    expect(err.response.data).toMatchObject({ url: '/api/missing' });
    const ok = await users.get('/missing', { validateStatus: () => true });
    expect(ok.status).toBe(404);
    expect(up.received[0]!.headers['x-request-id']).toBe('r-1');
  });

  it('returns arraybuffer and stream responses, and decodes gzip', async () => {
    const url = await server((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
      res.end(gzipSync('hello, mesh'));
    });
    const svc = client([url]).service('svc');
    expect((await svc.get('/')).data).toBe('hello, mesh');
    expect(Buffer.from((await svc.get('/', { responseType: 'arraybuffer' })).data).toString()).toBe(
      'hello, mesh',
    );
    const stream = (await svc.get('/', { responseType: 'stream' })).data as Readable;
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe('hello, mesh');
  });

  it('enforces maxContentLength', async () => {
    const url = await server((_req, res) => res.end('x'.repeat(10_000)));
    const err = await client([url])
      .service('svc')
      .get('/', { maxContentLength: 100 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(AxiosError);
    expect(err.message).toContain('maxContentLength');
  });

  it('sends FormData through the http adapter, so every body axios accepts still works', async () => {
    const up = await Upstream.start('u');
    open.push(up);
    const form = new FormData();
    form.append('field', 'value');
    await client([up.url]).service('svc').post('/form', form);
    expect(up.received[0]!.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(up.received[0]!.body).toContain('value');
  });

  it('retries a POST refused by one endpoint on another, exactly once', async () => {
    const up = await Upstream.start('live');
    open.push(up);
    const mesh = client([await closedPortUrl(), up.url], { loadBalancer: 'round-robin' });
    const res = await mesh.request({ service: 'svc', method: 'POST', url: '/orders', data: { n: 1 } });
    expect(res.status).toBe(200);
    expect(up.count).toBe(1);
  });

  it('times out a hung endpoint (ECONNABORTED, MESH_TIMEOUT its cause) and frees the attempt', async () => {
    const up = await Upstream.start('hang', { kind: 'hang' });
    open.push(up);
    const clock = new ManualClock();
    const mesh = client([up.url], { clock, timeout: { total: 1_000, perTry: false } });
    const pending = mesh.request({ service: 'svc', url: '/' }).catch((e) => e);
    await up.receivedAtLeast(1);
    clock.advance(1_000);
    const err = await pending;
    expect(err).toBeInstanceOf(AxiosError);
    expect(err.code).toBe('ECONNABORTED');
    expect(isMeshError(err.cause, 'MESH_TIMEOUT')).toBe(true);
  });
});
