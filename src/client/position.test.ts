import { AxiosHeaders, type InternalAxiosRequestConfig } from 'axios';
import { describe, expect, it } from 'vitest';
import { bodyText } from '../../testkit/body.js';
import type { Call } from '../core/call.js';
import { makeCall } from '../core/test-helpers.js';
import { proxyFaultReply, proxyHeader } from '../sidecar/position.js';
import type { ProxyRequest } from '../transport/undici.js';
import { axiosFaultReply, axiosHeader } from './position.js';

const axiosCall = (headers: unknown) =>
  ({ ...makeCall(), request: { headers } as InternalAxiosRequestConfig }) as Call<InternalAxiosRequestConfig>;

describe('position adapters', () => {
  it('read axios request headers in any case, from AxiosHeaders or a plain record', () => {
    const headers = new AxiosHeaders({ 'X-User-Id': 'u1', 'X-Count': 3 });
    expect(axiosHeader(axiosCall(headers), 'x-user-id')).toBe('u1');
    expect(axiosHeader(axiosCall(headers), 'x-count')).toBe('3');
    expect(axiosHeader(axiosCall(headers), 'x-none')).toBeUndefined();
    expect(axiosHeader(axiosCall({ 'X-Canary': 'true' }), 'x-canary')).toBe('true');
    expect(axiosHeader(axiosCall(undefined), 'x-canary')).toBeUndefined();
  });

  it('read proxied request headers (lower-case), joining repeated ones', () => {
    const call = {
      ...makeCall(),
      request: { method: 'GET', path: '/', headers: { 'x-user-id': 'u2', via: ['a', 'b'] }, body: null },
    } as Call<ProxyRequest>;
    expect(proxyHeader(call, 'X-User-Id')).toBe('u2');
    expect(proxyHeader(call, 'via')).toBe('a, b');
    expect(proxyHeader(call, 'x-none')).toBeUndefined();
  });

  it('synthesize the reply of an aborted request in each position', async () => {
    const call = axiosCall(new AxiosHeaders());
    const reply = axiosFaultReply(503, call);
    expect(reply).toMatchObject({
      status: 503,
      statusText: 'Service Unavailable',
      data: '',
      config: call.request,
    });
    expect(reply.headers['x-mesh-fault']).toBe('abort');
    const proxied = proxyFaultReply(429);
    expect(proxied.status).toBe(429);
    expect(proxied.headers['x-mesh-fault']).toBe('abort');
    expect(await bodyText(proxied.body)).toBe('');
  });
});
