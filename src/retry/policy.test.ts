import { describe, expect, it } from 'vitest';
import type { Call } from '../core/call.js';
import { IDEMPOTENT_METHODS } from '../core/call.js';
import { makeCall } from '../core/test-helpers.js';
import { errorCode } from '../errors/classify.js';
import { MeshError } from '../errors/mesh-error.js';
import { retryableError, retryableReply } from './policy.js';

const STATUSES = [502, 503, 504];

/** A call as the client builds it: idempotency from the method. */
function callFor(method: string, overrides: Partial<Call> = {}): Call {
  return makeCall({ method, idempotent: IDEMPOTENT_METHODS.has(method), ...overrides });
}

/** A Node-style transport error. */
function sysError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

/** An axios-style network error wrapping a Node error. */
function axiosNetworkError(code: string): Error {
  return Object.assign(new Error('Network Error'), { code: 'ERR_NETWORK', cause: sysError(code) });
}

describe('IDEMPOTENT_METHODS', () => {
  it('holds the RFC 9110 idempotent methods and not POST or PATCH', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) expect(IDEMPOTENT_METHODS.has(m)).toBe(true);
    for (const m of ['POST', 'PATCH', 'CONNECT']) expect(IDEMPOTENT_METHODS.has(m)).toBe(false);
  });
});

describe('errorCode', () => {
  it('reads the error’s own code, or its cause’s behind axios’s generic codes', () => {
    expect(errorCode(sysError('ECONNRESET'))).toBe('ECONNRESET');
    expect(errorCode(axiosNetworkError('ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(errorCode({ code: 'ERR_BAD_RESPONSE', cause: { code: 'UND_ERR_SOCKET' } })).toBe('UND_ERR_SOCKET');
    expect(errorCode({ code: 'ERR_NETWORK' })).toBe('ERR_NETWORK');
    expect(errorCode(new MeshError('MESH_TIMEOUT', 'late'))).toBe('MESH_TIMEOUT');
    expect(errorCode({ code: 42, cause: { code: 'EPIPE' } })).toBe('EPIPE');
  });

  it('is undefined for errors without a code', () => {
    expect(errorCode(new Error('plain'))).toBeUndefined();
    expect(errorCode(undefined)).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
    expect(errorCode('ECONNRESET')).toBeUndefined();
  });
});

describe('retryableError', () => {
  it.each(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])(
    'retries %s after any connection failure',
    (method) => {
      for (const code of [
        'ECONNREFUSED',
        'ECONNRESET',
        'EPIPE',
        'ETIMEDOUT',
        'UND_ERR_SOCKET',
        'EHOSTUNREACH',
      ]) {
        expect(retryableError(sysError(code), callFor(method))).toBe(true);
      }
      expect(retryableError(new MeshError('MESH_TIMEOUT', 'per-try'), callFor(method))).toBe(true);
    },
  );

  it.each(['POST', 'PATCH'])('retries %s only when the request never left', (method) => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']) {
      expect(retryableError(sysError(code), callFor(method))).toBe(true);
      expect(retryableError(axiosNetworkError(code), callFor(method))).toBe(true);
    }
    for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_HEADERS_TIMEOUT']) {
      expect(retryableError(sysError(code), callFor(method))).toBe(false);
      expect(retryableError(axiosNetworkError(code), callFor(method))).toBe(false);
    }
    expect(retryableError(new MeshError('MESH_TIMEOUT', 'per-try'), callFor(method))).toBe(false);
  });

  it('retries a request a breaker refused, whatever the method or body', () => {
    const open = new MeshError('MESH_CIRCUIT_OPEN', 'open');
    expect(retryableError(open, callFor('GET'))).toBe(true);
    expect(retryableError(open, callFor('POST'))).toBe(true);
    expect(retryableError(open, callFor('POST', { replayable: false }))).toBe(true);
  });

  it('never retries a body that cannot be replayed once it may have been read', () => {
    const streamed = { replayable: false };
    expect(retryableError(sysError('ECONNREFUSED'), callFor('PUT', streamed))).toBe(false);
    expect(retryableError(sysError('ECONNRESET'), callFor('PUT', streamed))).toBe(false);
    expect(retryableError(new MeshError('MESH_TIMEOUT', 'per-try'), callFor('GET', streamed))).toBe(false);
  });

  it('never retries once the request’s own signal aborted', () => {
    const signal = AbortSignal.abort(new MeshError('MESH_TIMEOUT', 'deadline'));
    for (const err of [
      sysError('ECONNREFUSED'),
      sysError('ECONNRESET'),
      new MeshError('MESH_CIRCUIT_OPEN', 'x'),
    ]) {
      expect(retryableError(err, callFor('GET', { signal }))).toBe(false);
    }
  });

  it('does not retry the mesh’s other refusals, unknown codes or code-less errors', () => {
    for (const code of [
      'MESH_RATE_LIMITED',
      'MESH_BULKHEAD_FULL',
      'MESH_NO_ENDPOINTS',
      'MESH_CLOSED',
    ] as const) {
      expect(retryableError(new MeshError(code, 'no'), callFor('GET'))).toBe(false);
    }
    expect(retryableError(sysError('ERR_CANCELED'), callFor('GET'))).toBe(false);
    expect(retryableError(sysError('ENOTFOUND'), callFor('GET'))).toBe(false);
    expect(retryableError(new Error('plain'), callFor('GET'))).toBe(false);
  });
});

describe('retryableReply', () => {
  it('retries the configured statuses for idempotent methods only', () => {
    for (const status of STATUSES) {
      expect(retryableReply({ status }, callFor('GET'), STATUSES)).toBe(true);
      expect(retryableReply({ status }, callFor('DELETE'), STATUSES)).toBe(true);
      expect(retryableReply({ status }, callFor('POST'), STATUSES)).toBe(false);
    }
    for (const status of [200, 404, 500, 501, 429]) {
      expect(retryableReply({ status }, callFor('GET'), STATUSES)).toBe(false);
    }
  });

  it('follows the statuses list it is given', () => {
    expect(retryableReply({ status: 429 }, callFor('GET'), [429])).toBe(true);
    expect(retryableReply({ status: 503 }, callFor('GET'), [429])).toBe(false);
    expect(retryableReply({ status: 503 }, callFor('GET'), [])).toBe(false);
  });

  it('honours a caller marking a POST idempotent', () => {
    expect(retryableReply({ status: 503 }, callFor('POST', { idempotent: true }), STATUSES)).toBe(true);
  });

  it('does not retry a non-replayable body or an aborted request', () => {
    expect(retryableReply({ status: 503 }, callFor('PUT', { replayable: false }), STATUSES)).toBe(false);
    expect(retryableReply({ status: 503 }, callFor('GET', { signal: AbortSignal.abort() }), STATUSES)).toBe(
      false,
    );
  });
});
