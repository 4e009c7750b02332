/**
 * Label values with a bounded set of values, so a metric's series count cannot grow with traffic
 * (Prometheus: "do not use labels to store dimensions with high cardinality").
 *
 * Methods follow OpenTelemetry's HTTP conventions (the RFC 9110 methods plus PATCH; anything else
 * is `_OTHER`), statuses are reduced to their class, and error codes must look like codes.
 */

/** Known HTTP methods, in a fixed order (an index per method keeps label lookups allocation-free). */
export const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  '_OTHER',
] as const;

const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length - 1;

/** Index of `method` in {@link METHODS}; unknown methods map to `_OTHER`. */
export function methodIndex(method: string): number {
  return METHOD_INDEX.get(method) ?? OTHER_METHOD;
}

/** `method` if it is a known HTTP method, else `_OTHER`. */
export function normalizeMethod(method: string): string {
  return METHODS[methodIndex(method)]!;
}

/** Status classes; `error` is a request that got no HTTP response at all. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other', 'error'] as const;

/** Index of a status in {@link STATUS_CLASSES}; `undefined` (no response) is `error`. */
export function statusClassIndex(status: number | undefined): number {
  if (status === undefined) return 6;
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
}

const CODE = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

/** An error code or status as a label value: codes (`ECONNREFUSED`, `MESH_TIMEOUT`, `503`) pass, anything else is `OTHER`. */
export function codeLabel(code: string | undefined): string {
  if (code === undefined) return 'ERROR';
  return CODE.test(code) || /^\d{3}$/.test(code) ? code : 'OTHER';
}
