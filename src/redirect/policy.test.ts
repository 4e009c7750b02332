import { describe, expect, it } from 'vitest';
import { isMeshError } from '../errors/mesh-error.js';
import {
  isRedirect,
  isRelative,
  markRefused,
  maxHops,
  nextHop,
  redirectedMethod,
  refusalOf,
} from './policy.js';

const scope = { service: 'users', endpoint: 'http://10.0.0.5:8080/base', host: undefined };
const sameOrigin = { follow: 'same-origin', max: 21 } as const;

describe('maxHops', () => {
  it("the request's own maxRedirects replaces the policy's max; 'none' and no rule follow nothing", () => {
    expect(maxHops(sameOrigin, undefined)).toBe(21);
    expect(maxHops(sameOrigin, null)).toBe(21);
    expect(maxHops(sameOrigin, 3)).toBe(3);
    expect(maxHops(sameOrigin, 0)).toBe(0);
    expect(maxHops({ follow: 'any', max: 2 }, 50)).toBe(50);
    expect(maxHops({ follow: 'none', max: 21 }, 5)).toBe(0);
    expect(maxHops(undefined, 5)).toBe(0);
  });
});

describe('nextHop', () => {
  it("follows the endpoint's own origin, whatever the path", () => {
    const hop = nextHop(new URL('http://10.0.0.5:8080/elsewhere?q=1'), scope, sameOrigin);
    expect([hop.onEndpoint, hop.url.href]).toEqual([true, 'http://10.0.0.5:8080/elsewhere?q=1']);
  });

  it("a Location naming the request's Host goes back to the endpoint", () => {
    const hop = nextHop(new URL('http://api.example/x?y=1'), { ...scope, host: 'api.example' }, sameOrigin);
    expect([hop.onEndpoint, hop.url.href]).toEqual([true, 'http://10.0.0.5:8080/x?y=1']);
  });

  it('another origin (host, port or scheme) is refused, naming the origin only', () => {
    for (const target of [
      'http://10.0.0.6:8080/x',
      'http://10.0.0.5:8081/x',
      'https://10.0.0.5:8080/x',
      'http://ada:hunter2@evil.example/cb?token=s3cret',
    ]) {
      let err: unknown;
      try {
        nextHop(new URL(target), scope, sameOrigin);
      } catch (e) {
        err = e;
      }
      expect(isMeshError(err, 'MESH_REDIRECT_REFUSED'), target).toBe(true);
      expect((err as Error).message).toContain(new URL(target).origin);
      expect((err as Error).message).not.toMatch(/hunter2|s3cret|\/cb|\/x/);
      expect((err as { service?: string }).service).toBe('users');
    }
  });

  it("'any' follows other http(s) origins, never another scheme", () => {
    const any = { follow: 'any', max: 21 } as const;
    expect(nextHop(new URL('https://other.example/x'), scope, any).onEndpoint).toBe(false);
    expect(() => nextHop(new URL('ftp://other.example/x'), scope, any)).toThrow(/ftp:/);
  });
});

describe('redirectedMethod', () => {
  it('303, and 301/302 after a POST, become a GET without the body; the rest keep both', () => {
    const table: Array<[number, string, string, boolean]> = [
      [301, 'POST', 'GET', true],
      [302, 'POST', 'GET', true],
      [303, 'POST', 'GET', true],
      [303, 'PUT', 'GET', true],
      [303, 'GET', 'GET', false],
      [303, 'HEAD', 'HEAD', false],
      [301, 'PUT', 'PUT', false],
      [302, 'DELETE', 'DELETE', false],
      [307, 'POST', 'POST', false],
      [308, 'PATCH', 'PATCH', false],
    ];
    for (const [status, method, next, dropBody] of table) {
      expect(redirectedMethod(status, method), `${status} ${method}`).toEqual({ method: next, dropBody });
    }
  });
});

describe('what counts as a redirect', () => {
  it('any 3xx with a Location; relative Locations name the origin they came from', () => {
    expect(isRedirect(302, '/x')).toBe(true);
    expect(isRedirect(300, 'http://a/')).toBe(true);
    expect(isRedirect(304, undefined)).toBe(false);
    expect(isRedirect(302, '')).toBe(false);
    expect(isRedirect(200, '/x')).toBe(false);
    expect(isRelative('/x')).toBe(true);
    expect(isRelative('x?y')).toBe(true);
    expect(isRelative('?page=2')).toBe(true);
    expect(isRelative('//other/x')).toBe(false);
    expect(isRelative('HTTPS://other/x')).toBe(false);
  });

  it('a refusal travels on its reply, invisible to what walks the reply', () => {
    let err: unknown;
    try {
      nextHop(new URL('http://evil.example/'), scope, sameOrigin);
    } catch (e) {
      err = e;
    }
    const reply = markRefused({ status: 302 }, err as never);
    expect(refusalOf(reply)).toBe(err);
    expect(Object.keys(reply)).toEqual(['status']);
    expect(JSON.stringify(reply)).toBe('{"status":302}');
    expect(refusalOf({ status: 302 })).toBeUndefined();
  });
});
