/**
 * Retries across layers. When an app and its sidecar both retry, attempts multiply (Istio
 * retries twice by default; an app that also retries three times turns one request into nine
 * upstream). A mesh-sidecar reports on every reply how many attempts it made below
 * (`x-mesh-attempts`); a retry filter above reads it, does not retry that reply again, and
 * charges those attempts to its own budget, so one budget bounds the chain
 * (`retry.stacking: 'avoid'`, the default).
 */
import type { Reply } from '../core/call.js';

/** Response header: attempts made below this point for the request. */
export const ATTEMPTS_HEADER = 'x-mesh-attempts';

/** Attempts a mesh layer below reported on `reply`; 1 when it reported none. */
export function attemptsBelow(reply: Reply): number {
  const headers = reply.headers;
  if (!headers) return 1;
  // AxiosHeaders and node/undici header objects both expose lower-case names as properties.
  const raw = headers[ATTEMPTS_HEADER];
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(n) && n > 1 ? n : 1;
}
