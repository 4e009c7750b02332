/**
 * Deadline propagation across services: a caller's deadline travels with its requests in the
 * `x-mesh-deadline-ms` header (milliseconds left when the request left), and a service that
 * receives one can make its own outgoing calls inherit it, as gRPC deadlines and Moleculer's
 * distributed timeouts do. The whole chain then stops at the first caller's deadline instead of
 * each hop running its own full timeout after the caller has given up.
 *
 * In a service: run each request's handler inside {@link withIncomingDeadline} (or mount
 * {@link deadlineMiddleware}); every `MeshClient` call made while handling it then uses the
 * smaller of its own deadline and the time the caller has left. The ambient deadline lives in
 * an AsyncLocalStorage, so it follows the handler's async work without being passed around.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The header carrying the time left (ms) to an upstream. */
export const DEADLINE_HEADER = 'x-mesh-deadline-ms';

interface Ambient {
  /** `performance.now()` when the time left runs out. */
  readonly expiresAt: number;
}

const ambient = new AsyncLocalStorage<Ambient>();

/** Anything with Node-style lower-case headers: node:http, express and fastify (`req.raw`) requests. */
export interface HasHeaders {
  headers: Record<string, string | string[] | undefined>;
}

/** The time left (ms) a request's `x-mesh-deadline-ms` header grants, if it carries a valid one. */
export function deadlineOf(req: HasHeaders): number | undefined {
  const raw = req.headers[DEADLINE_HEADER];
  const value = Number(Array.isArray(raw) ? raw[0] : raw);
  return raw !== undefined && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * Run `fn` with `req`'s deadline as the ambient deadline of every mesh call it makes. Without
 * a deadline header, `fn` runs as is.
 */
export function withIncomingDeadline<T>(req: HasHeaders, fn: () => T): T {
  const left = deadlineOf(req);
  if (left === undefined) return fn();
  return ambient.run({ expiresAt: performance.now() + left }, fn);
}

/**
 * Connect/express middleware: `app.use(deadlineMiddleware())`. For fastify:
 * `fastify.addHook('onRequest', (req, _reply, done) => withIncomingDeadline(req.raw, done))`.
 */
export function deadlineMiddleware(): (req: HasHeaders, res: unknown, next: () => void) => void {
  return (req, _res, next) => withIncomingDeadline(req, next);
}

/** Milliseconds left of the ambient deadline (negative once passed), or undefined when there is none. */
export function remainingDeadline(): number | undefined {
  const store = ambient.getStore();
  return store === undefined ? undefined : store.expiresAt - performance.now();
}
