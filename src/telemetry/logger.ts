/**
 * The library's logging: silent unless a {@link Logger} is given, and never a secret in a line.
 *
 * Everything the mesh logs goes through {@link safeLogger}, which redacts the fields first
 * ({@link redact}: values of `authorization`, `cookie`, `set-cookie`, `proxy-authorization`,
 * `x-consul-token` and any key naming a token, password or secret, at any depth) and keeps a
 * throwing logger from breaking the request it was called from. Errors are logged as
 * {@link errorFields} (type, code, redacted message), never as the error object: an axios error
 * carries its request config, headers included.
 *
 * The key list is the one pino's `redact` is given in the sidecar (OWASP logging cheat sheet:
 * session ids, access tokens, passwords are never logged).
 */
import type { Logger } from './options.js';

/** What replaces a redacted value. */
export const REDACTED = '[Redacted]';

/** Header and field names whose values are secrets. */
const SECRET_KEY =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-consul-token|x-api-key|api[-_]?key)$|token|passw(or)?d|secret/i;

/** Secrets that can hide inside free text: credentials after a scheme, tokens in query strings or headers. */
const SECRET_TEXT: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic|Digest|Negotiate)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [
    /\b(authorization|proxy-authorization|cookie|set-cookie|x-consul-token)(["']?\s*[:=]\s*["']?)[^\s"',;}]+/gi,
    `$1$2${REDACTED}`,
  ],
  [/([?&][^=&\s]*(?:token|key|secret|password|passwd|sig)[^=&\s]*=)[^&\s#"']+/gi, `$1${REDACTED}`],
  [/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${REDACTED}@`],
];

/** `text` with credentials, tokens in query strings and passwords in URLs replaced by `[Redacted]`. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A copy of `value` fit for a log line: secret-named keys' values replaced at any depth, strings
 * scrubbed by {@link redactText}, errors reduced to their type, code and redacted message. Cycles and depth are bounded.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return errorFields(value);
  if (depth > 6) return '[Object]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

/** The loggable facts of an error: its type, code and (redacted) message; never its config or headers. */
export function errorFields(error: unknown): { type: string; code?: string; message: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: redactText(String(error)) };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: redactText(error.message),
  };
}

type Level = keyof Logger;
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/** `logger` behind redaction and a guard: a logger that throws never breaks a request. */
export function safeLogger(logger: Logger): Logger {
  const out = {} as Logger;
  for (const level of LEVELS) {
    out[level] = (fields, msg) => {
      try {
        logger[level](redact(fields) as Record<string, unknown>, msg);
      } catch {
        // Logging is best-effort: the request it describes matters more.
      }
    };
  }
  return out;
}

/** Keys pino's `redact` option should censor in the sidecar's own log lines (see `cli.ts`). */
export const PINO_REDACT_PATHS = [
  'authorization',
  'cookie',
  'token',
  'password',
  '*.authorization',
  '*.cookie',
  '*["set-cookie"]',
  '*["proxy-authorization"]',
  '*["x-consul-token"]',
  '*.token',
  '*.password',
  'headers.*',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

/** Scheme, then the authority up to its last `@`: the userinfo of a URL. */
const USERINFO = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/;

/**
 * `url` without its userinfo (`http://user:pass@host` -> `http://[Redacted]@host`), for what
 * shows endpoint URLs: admin `/stats`, metric labels. A user name alone can be a token, so the
 * whole userinfo goes. Cheap when there is none (the usual case).
 */
export function redactUrl(url: string): string {
  return url.includes('@') ? url.replace(USERINFO, `$1${REDACTED}@`) : url;
}
