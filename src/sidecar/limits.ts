/**
 * The proxy listener's limits: how long a client may take, how many connections and headers it
 * may open, how many bytes all requests together may hold in retry buffers. Nothing a client
 * sends can grow the sidecar's memory past them.
 *
 * Defaults follow the two proxies sidecars are usually compared with: HAProxy's recommended
 * `timeout http-request 10s` for the time to send a request's headers (node:http's own default is
 * 60 s, checked every 30 s, so a slow client could be held up to 90 s), Envoy's `max_headers_count` of 100
 * and node:http's (and HAProxy's `tune.bufsize`) 16 KiB of headers. node:http drops headers past
 * its count silently; the ingress answers 431 instead (see `screen.ts`).
 */
import type http from 'node:http';
import { z } from 'zod';

const ms = z.number().int().min(1).max(2_147_483_647);
const count = z.number().int().min(1).max(1_000_000_000_000);

/** The proxy listener's limits: sidecar config keys, each with its default. */
export const limitsShape = {
  /**
   * Time (ms) a client has to send a request's headers, from connect (or from the first byte of a
   * later request on the connection); then 408 and close (HAProxy's `timeout http-request`).
   */
  headersTimeout: ms.default(10_000),
  /** Time (ms) a client has to send a whole request, headers and body; then 408 and close. */
  requestTimeout: ms.default(300_000),
  /** Time (ms) an idle keep-alive connection is kept open between requests. */
  keepAliveTimeout: ms.default(5_000),
  /** Time (ms) a connection with a request open may pass with no byte either way before it is closed (Envoy's stream idle timeout). */
  idleTimeout: ms.default(60_000),
  /** Time (ms) an upgraded connection (WebSocket) may pass with no byte either way before both sides are closed (HAProxy's `timeout tunnel`). */
  tunnelIdleTimeout: ms.default(3_600_000),
  /** Client connections open at once (tunnels included); a connection past it gets 503 `MESH_OVERLOADED` and is closed. Also the listen backlog (the kernel caps it at `net.core.somaxconn`). */
  maxConnections: count.default(1024),
  /** Header fields in one request; more gets 431 (node:http would drop the rest silently). */
  maxHeadersCount: z.number().int().min(1).max(10_000).default(100),
  /** Bytes of a request's start line and headers together; more gets 431. */
  maxHeaderBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(16_384),
  /**
   * Response bodies up to this size (bytes) are read whole within the attempt, for requests that
   * may be retried, so an upstream failing mid-body is retried instead of cutting the client's
   * response; larger ones stream. `0` streams every response.
   */
  responseBufferBytes: z.number().int().min(0).max(1_000_000_000_000).default(65_536),
  /**
   * Bytes all requests in flight may hold in retry buffers together (request and response
   * bodies); a request whose body does not fit gets 503 `MESH_OVERLOADED`.
   */
  bufferBudgetBytes: count.default(64 * 1024 * 1024),
};

const limitsSchema = z.strictObject(limitsShape);

/**
 * Limits of the proxy listener (sidecar config keys).
 * @interface
 */
export type IngressLimitOptions = z.input<typeof limitsSchema>;

/** The limits with their defaults applied. */
export type IngressLimits = z.output<typeof limitsSchema>;

/** The names of the limit keys, to pick them out of a parsed config. */
export const LIMIT_KEYS = Object.keys(limitsShape) as Array<keyof IngressLimits>;

/**
 * Cross-field rules, as zod issues on the path a person would fix: node:http refuses a header
 * timeout above the request timeout, and a retry buffer larger than the whole budget could never
 * be filled.
 */
export function checkLimits(
  config: IngressLimits & { retryBufferBytes: number },
  ctx: z.RefinementCtx,
): void {
  if (config.headersTimeout > config.requestTimeout) {
    ctx.addIssue({
      code: 'custom',
      path: ['headersTimeout'],
      message: `must not exceed requestTimeout (${config.requestTimeout})`,
    });
  }
  if (config.responseBufferBytes > config.bufferBudgetBytes) {
    ctx.addIssue({
      code: 'custom',
      path: ['responseBufferBytes'],
      message: `must not exceed bufferBudgetBytes (${config.bufferBudgetBytes})`,
    });
  }
  if (config.retryBufferBytes > config.bufferBudgetBytes) {
    ctx.addIssue({
      code: 'custom',
      path: ['retryBufferBytes'],
      message: `must not exceed bufferBudgetBytes (${config.bufferBudgetBytes})`,
    });
  }
}

/** The node:http server options that carry the limits. */
export function serverOptions(limits: IngressLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    maxHeaderSize: limits.maxHeaderBytes,
    // node:http checks both timeouts on this interval (30 s by default): a tenth of the header
    // timeout, within [100 ms, 1 s], drops a slow client close to its deadline.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeout / 10))),
    requireHostHeader: true,
  };
}

/** Apply the limits node:http takes as properties rather than constructor options. */
export function applyServerLimits(server: http.Server, limits: IngressLimits): void {
  // One over the limit, so the ingress can tell a request that had more (and refuse it with 431)
  // from one that had exactly the limit: node:http keeps at most this many and drops the rest.
  server.maxHeadersCount = limits.maxHeadersCount + 1;
  server.keepAliveTimeout = limits.keepAliveTimeout;
  server.timeout = limits.idleTimeout;
}
