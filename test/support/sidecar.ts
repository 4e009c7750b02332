/** Helpers for sidecar tests: an in-process sidecar on free ports, and raw requests to it. */
import http from 'node:http';
import { Sidecar } from '../../src/sidecar/sidecar.js';

/** Start a sidecar on free loopback ports with `options` (MeshClient options + sidecar ones). */
export async function sidecarFor(options: Record<string, unknown>): Promise<Sidecar> {
  return new Sidecar({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', ...options }).start();
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with full control of the request target (absolute or origin form) and Host. */
export function raw(
  base: string,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: target,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
