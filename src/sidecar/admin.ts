/**
 * The admin listener: `/healthz`, `/ready`, `/stats` (JSON) and `/metrics` (Prometheus text),
 * over whatever answers them: a one-process sidecar's own state, or the primary of several
 * workers asking each of them.
 */
import http from 'node:http';

/** What the admin listener serves. */
export interface AdminRoutes {
  /** `undefined` while ready; else why not, the body of the 503 (`draining`). */
  notReady(): string | undefined;
  /** The `/stats` document. */
  stats(): unknown;
  /** The `/metrics` page and its content type. */
  metrics(): Promise<{ contentType: string; text: string }>;
}

/** A node:http server answering the admin paths from `routes` (GET and HEAD only). */
export function createAdminServer(routes: AdminRoutes): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n');
      return;
    }
    switch (path) {
      case '/healthz':
        send(res, 200, 'ok\n');
        return;
      case '/ready': {
        const why = routes.notReady();
        send(res, why === undefined ? 200 : 503, why === undefined ? 'ready\n' : `${why}\n`);
        return;
      }
      case '/stats':
        Promise.resolve()
          .then(() => routes.stats())
          .then(
            (body) => send(res, 200, body),
            (error: unknown) => send(res, 500, `stats failed: ${(error as Error).message}\n`),
          );
        return;
      case '/metrics':
        routes.metrics().then(
          ({ contentType, text }) => {
            res.writeHead(200, { 'content-type': contentType });
            res.end(text);
          },
          (error: unknown) => send(res, 500, `metrics failed: ${(error as Error).message}\n`),
        );
        return;
      default:
        send(res, 404, 'not found: try /healthz, /ready, /stats, /metrics\n');
    }
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}
