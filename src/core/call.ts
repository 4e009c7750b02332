/**
 * The request path as functions, after Finagle's "Your Server as a Function" (Eriksen, 2013):
 * a {@link Handler} turns a {@link Call} into a {@link Reply}; a {@link Filter} wraps a handler
 * to add one concern; {@link compose} stacks filters around a transport.
 *
 * Filters are generic in the request and reply they carry, so the same filters run in the fat
 * client (axios config in, AxiosResponse out) and in the sidecar (a streamed ingress request in,
 * a streamed upstream response out).
 */
import type { Endpoint } from './endpoint.js';
import type { MeshSignal } from './signal.js';
import type { EndpointView, PickRequest } from './view.js';

/** One request travelling down the pipeline; attempt-level fields are set by the filters. */
export interface Call<Req = unknown> extends PickRequest {
  /** Logical service name. */
  readonly service: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path and query, relative to the endpoint. */
  readonly path: string;
  /** Key for consistent hashing (`ring-hash`), when the caller gave one. */
  readonly hashKey: string | undefined;
  /** Whether sending the request twice is harmless (idempotent method, or the caller said so). */
  readonly idempotent: boolean;
  /** Whether the body can be sent again; a streamed body that was not buffered cannot. */
  readonly replayable: boolean;
  /** The position-specific request (axios config, or the sidecar's ingress request). */
  readonly request: Req;
  /** Aborts when the caller gives up; per attempt, also at the per-try timeout or deadline. */
  signal: MeshSignal;
  /** Absolute deadline on the mesh clock; `Infinity` when none. */
  deadline: number;
  /**
   * This request's own limit (ms) for one attempt, which the per-try stage prefers to the
   * policy's: a caller who gave the request a timeout of its own gave each attempt that long.
   * `undefined` when the request set none.
   */
  readonly perTry?: number | false | undefined;
  /** Which redirects the transport may follow for this request; `undefined`: none (the sidecar). */
  readonly redirects?: RedirectRule | undefined;
  /** 1-based attempt number. */
  attempt: number;
  /** Endpoints that earlier attempts of this request went to (shared by all its attempts). */
  readonly tried: Endpoint[];
  /** The endpoint this attempt goes to; set by the balance filter. */
  endpoint: Endpoint | undefined;
  /**
   * The endpoints this request may go to, when routing narrowed them (a subset of the service's
   * pool, see `route/`); the balance filter picks from it instead of the whole pool.
   */
  subset?: EndpointView | undefined;
  /**
   * Headers the filters add to this attempt's outgoing request (the time left, trace context).
   * Filters replace the object rather than mutate it: attempts share the request's fields.
   */
  headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * Which redirects a transport follows for a request, and how many. The fat client's transports
 * read it; a proxy (the sidecar) passes redirects back to its client instead.
 */
export interface RedirectRule {
  /**
   * `same-origin`: a relative Location, or one on the origin the request was sent to; `any`:
   * wherever the Location says; `none`: the 3xx is the response.
   */
  readonly follow: 'same-origin' | 'any' | 'none';
  /** Most redirects followed, unless the request sets its own limit. */
  readonly max: number;
}

/** What comes back: the transport's response, whatever its status. */
export interface Reply {
  /** HTTP status code. */
  readonly status: number;
  /** Response headers, lower-case names (read by filters for cross-layer signals). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** Releases the reply's resources when a filter drops it (a retried 503's body). */
  discard?(): void;
}

/** A service: one call in, one reply out. Rejects only when no HTTP response was obtained. */
export type Handler<Req = unknown, Rep extends Reply = Reply> = (call: Call<Req>) => Promise<Rep>;

/** One concern wrapped around a handler; blind to the request and reply types it carries. */
export type Filter = <Req, Rep extends Reply>(next: Handler<Req, Rep>) => Handler<Req, Rep>;

/** Stack filters around a transport, outermost first: `compose(a, b)(t)` is `a(b(t))`. */
export function compose(
  ...filters: Filter[]
): <Req, Rep extends Reply>(transport: Handler<Req, Rep>) => Handler<Req, Rep> {
  return <Req, Rep extends Reply>(transport: Handler<Req, Rep>) => {
    let handler = transport;
    for (let i = filters.length - 1; i >= 0; i--) handler = filters[i]!(handler);
    return handler;
  };
}

/** What an edge (the fat client's adapter, the sidecar's ingress) knows of a new request. */
export interface CallInit<Req> {
  service: string;
  method: string;
  path: string;
  hashKey: string | undefined;
  idempotent: boolean;
  replayable: boolean;
  request: Req;
  signal: MeshSignal;
  deadline: number;
  /** The request's own per-attempt limit, when it set one. */
  perTry?: number | false | undefined;
  /** The redirects the transport may follow; none when absent. */
  redirects?: RedirectRule | undefined;
}

/**
 * The call for a request entering the pipeline. Every call is made here (or by
 * {@link attemptOf}), so all share one shape, which keeps the filters' property reads monomorphic.
 */
export function newCall<Req>(init: CallInit<Req>): Call<Req> {
  return {
    service: init.service,
    method: init.method,
    path: init.path,
    hashKey: init.hashKey,
    idempotent: init.idempotent,
    replayable: init.replayable,
    request: init.request,
    signal: init.signal,
    deadline: init.deadline,
    perTry: init.perTry,
    redirects: init.redirects,
    // The first attempt, also when no retry stage numbers them.
    attempt: 1,
    tried: [],
    endpoint: undefined,
    subset: undefined,
    headers: undefined,
  };
}

/**
 * The call of one attempt of `call`: its own attempt number, endpoint and per-attempt fields, so
 * the filters below can set them without touching the request; `tried` is shared unless given.
 */
export function attemptOf<Req>(call: Call<Req>, attempt: number, tried: Endpoint[] = call.tried): Call<Req> {
  return { ...call, attempt, tried, endpoint: undefined };
}

/** Methods RFC 9110 (section 9.2.2) defines as idempotent. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);
