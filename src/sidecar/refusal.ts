/**
 * The sidecar's own answers when it does not deliver a request: a status, `x-mesh-error` with a
 * stable code, and a JSON body `{ error, message }`.
 *
 * The message is written for the client and never carries what the sidecar knows of its
 * surroundings: an upstream's address (`connect ECONNREFUSED 10.0.0.7:8080`), a registry's
 * error text (Consul's ACL messages), a stack. Those go to the sidecar's log and `/stats`.
 */
import { STATUS_CODES } from 'node:http';
import { errorCode } from '../errors/classify.js';
import { isMeshError, type MeshErrorCode } from '../errors/mesh-error.js';
import { codeLabel } from '../telemetry/labels.js';

/** The `Via` the sidecar adds, both ways. */
export const VIA = '1.1 mesh-sidecar';

/** A refusal: what the client is told. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  /** Close the connection after the answer (the request's body was not read, or framing is in doubt). */
  close?: boolean;
}

const STATUS_OF: Partial<Record<MeshErrorCode, number>> = {
  MESH_BAD_REQUEST: 400,
  MESH_UNKNOWN_SERVICE: 404,
  MESH_RATE_LIMITED: 429,
  MESH_BULKHEAD_FULL: 503,
  MESH_TIMEOUT: 504,
};

/** What the client reads for a failure the pipeline reported, by code. */
const PUBLIC_MESSAGE: Partial<Record<string, string>> = {
  MESH_BAD_REQUEST: 'the request cannot be delivered as sent',
  MESH_UNKNOWN_SERVICE: 'the sidecar does not route to this service',
  MESH_NO_ENDPOINTS: 'no endpoint of the service is available',
  MESH_CIRCUIT_OPEN: 'every endpoint of the service has an open circuit breaker',
  MESH_TIMEOUT: 'the request did not complete within its deadline',
  MESH_RATE_LIMITED: "the service's rate limit refused the request",
  MESH_BULKHEAD_FULL: "the service's concurrency limit is full",
  MESH_DISCOVERY_UNAVAILABLE: 'the registry could not list the endpoints of the service',
  MESH_CLOSED: 'the sidecar is shutting down',
  MESH_OVERLOADED: 'the sidecar is over a limit: try again later',
};

/** The refusal for an error the pipeline rejected with: a mesh code maps to its status, a transport failure to 502. */
export function refusalOf(err: unknown): Refusal {
  const code = codeLabel(errorCode(err));
  if (isMeshError(err)) {
    return {
      status: STATUS_OF[err.code] ?? 503,
      code,
      message: PUBLIC_MESSAGE[err.code] ?? 'the mesh could not deliver the request',
    };
  }
  return { status: 502, code, message: `the upstream connection failed (${code})` };
}

/** The JSON body of a refusal. */
export function refusalBody(r: Refusal): string {
  return JSON.stringify({ error: r.code, message: r.message });
}

/** A whole HTTP/1.1 response for a refusal, for a socket node:http no longer answers on. */
export function rawRefusal(status: number, code: string, message: string): string {
  const body = refusalBody({ status, code, message });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-mesh-error: ${code}\r\n` +
    `via: ${VIA}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
