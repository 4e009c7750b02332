/**
 * The redirect policy, decided the same way for every transport of the fat client: which
 * `Location`s a request may follow (see `options.ts`), how many hops, and what the next hop
 * sends (RFC 9110 section 15.4, as follow-redirects and so axios apply it: 303, and 301/302
 * after a POST, become a GET without the body; 307 and 308 keep the method and the body).
 *
 * "The endpoint" is the origin the request was sent to: the endpoint the balancer chose, or the
 * sidecar in sidecar mode. A `Location` naming the host of the request's own `Host` header
 * counts as the endpoint too: that is how a server behind a virtual host (or behind the sidecar,
 * which routes by `Host`) names itself, and how a relative `Location` is resolved when the
 * request carried a `Host`. Such a hop goes back to the endpoint, with the same `Host`.
 */
import type { RedirectRule } from '../core/call.js';
import { MeshError } from '../errors/mesh-error.js';

/** Where a request was sent: the endpoint's origin, and the `Host` header it carried (if any). */
export interface RedirectScope {
  readonly service: string;
  /** The URL of the endpoint (or the sidecar) the request was sent to; its origin is "the endpoint". */
  readonly endpoint: string;
  /** The request's own `Host` header, lower-case, when it set one. */
  readonly host: string | undefined;
}

/** Where a followed redirect goes. */
export type Hop =
  /** Back to the endpoint; `url` is rewritten onto the endpoint's origin. */
  | { readonly onEndpoint: true; readonly url: URL }
  /** To another origin (`follow: 'any'` only). */
  | { readonly onEndpoint: false; readonly url: URL };

/** The most hops a request follows: its own `maxRedirects` when it set one, else the policy's. */
export function maxHops(rule: RedirectRule | undefined, requested: unknown): number {
  if (!rule || rule.follow === 'none') return 0;
  const own = Number(requested);
  return requested !== undefined && requested !== null && Number.isFinite(own) ? Math.max(0, own) : rule.max;
}

/**
 * The next hop for a redirect to `target`, or MESH_REDIRECT_REFUSED. Userinfo in a `Location`
 * is never sent (nor by axios); the refusal names the target's origin only, since a path or
 * query may carry tokens.
 */
export function nextHop(target: URL, scope: RedirectScope, rule: RedirectRule): Hop {
  const endpoint = new URL(scope.endpoint);
  if (target.origin === endpoint.origin) return { onEndpoint: true, url: target };
  if (scope.host !== undefined && target.host === scope.host && target.protocol === endpoint.protocol) {
    const url = new URL(target.pathname + target.search, endpoint);
    return { onEndpoint: true, url };
  }
  if (rule.follow === 'any' && (target.protocol === 'http:' || target.protocol === 'https:')) {
    return { onEndpoint: false, url: target };
  }
  throw refusal(scope, target, `it leaves the endpoint (redirects.follow: '${rule.follow}')`);
}

function refusal(scope: RedirectScope, target: URL, why: string): MeshError {
  const where = target.protocol === 'http:' || target.protocol === 'https:' ? target.origin : target.protocol;
  return new MeshError('MESH_REDIRECT_REFUSED', `redirect to ${where} not followed: ${why}`, {
    service: scope.service,
  });
}

/**
 * The method of the hop after a `status` redirect of a `method` request, and whether the body
 * (and its `Content-*` headers) is dropped.
 */
export function redirectedMethod(status: number, method: string): { method: string; dropBody: boolean } {
  const post = (status === 301 || status === 302) && method === 'POST';
  if (post || (status === 303 && method !== 'GET' && method !== 'HEAD')) {
    return { method: 'GET', dropBody: true };
  }
  return { method, dropBody: false };
}

const REFUSAL = Symbol('mesh-client.redirect-refused');

/**
 * Mark `reply` (a 3xx the policy does not follow) with its refusal. A refused redirect is the
 * endpoint's genuine answer, so the pipeline sees a reply, not a failure: no breaker, outlier
 * detector or retry counts it against the endpoint. The edge then fails the request with the
 * refusal.
 */
export function markRefused<T extends object>(reply: T, refusal: MeshError): T {
  Object.defineProperty(reply, REFUSAL, { value: refusal });
  return reply;
}

/** The refusal a reply carries, if it is a redirect the policy did not follow. */
export function refusalOf(reply: object): MeshError | undefined {
  return (reply as { [REFUSAL]?: MeshError })[REFUSAL];
}

/** Whether a `Location` is relative (a path, or a query): it names the origin it came from. */
export function isRelative(location: string): boolean {
  return !/^[a-z][a-z\d+.-]*:/i.test(location) && !location.startsWith('//');
}

/** Whether a response is a redirect a client may follow: a 3xx with a `Location`. */
export function isRedirect(status: number, location: unknown): location is string {
  return status >= 300 && status < 400 && typeof location === 'string' && location !== '';
}
