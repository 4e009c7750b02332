/**
 * A `register()` registration checked against the rules the Consul agent enforces, then written as
 * the JSON body of `PUT /v1/agent/service/register`
 * (https://developer.hashicorp.com/consul/api-docs/agent/service#register-service).
 *
 * The agent refuses, with a 400, what Consul's `agent/structs/structs.go` (`ValidateServiceMetadata`,
 * `ValidateWeights`) and `agent/agent_endpoint.go` reject: meta keys outside `[a-zA-Z0-9_-]`, longer
 * than 128 characters or starting with the reserved `consul-`, more than 64 meta pairs, values over
 * 512 characters, a wildcard address (`0.0.0.0`, `::`), `Weights.Passing` below 1 or weights over
 * 65535. Checking here first names the field (`MESH_BAD_OPTIONS`) before anything is sent.
 */
import { hostname } from 'node:os';
import { MeshError } from '../../errors/mesh-error.js';

/** The health check that decides whether the registered instance receives traffic. */
export interface ServiceCheckOptions {
  /** URL the agent GETs every `interval`: 2xx passing, 429 warning, else critical. @defaultValue none */
  http?: string;
  /** TTL in ms; the registrar reports "passing" every `ttl / 3` ms. @defaultValue none */
  ttl?: number;
  /** Interval of an `http` check, in ms (required with `http`). @defaultValue none */
  interval?: number;
  /** Time limit of one `http` check, in ms. @defaultValue `min(interval, 10000)` */
  timeout?: number;
  /** Let the agent remove the service once critical this long, in ms. @defaultValue never */
  deregisterCriticalServiceAfter?: number;
}

/** How much traffic an instance gets relative to its peers, by health (Consul's `Weights`). */
export interface ServiceWeights {
  /** Weight while every check passes: an integer from 1 to 65535. */
  passing: number;
  /**
   * Weight while a check warns: an integer from 0 (no traffic) to 65535. Consul itself stores 0 when
   * a `Weights` object omits it, so it is always sent. @defaultValue `1`
   */
  warning?: number;
}

/** What to register: one instance of a service. */
export interface ServiceRegistration {
  /** Logical service name, as clients look it up. */
  name: string;
  /** Instance ID, unique on this agent. @defaultValue `<name>-<address or host name>-<port>` */
  id?: string;
  /** Address clients connect to; not a wildcard (`0.0.0.0`, `::`). @defaultValue the agent's node address */
  address?: string;
  /** Port clients connect to. */
  port: number;
  /** Tags (e.g. `v2`, `canary`). @defaultValue `[]` */
  tags?: readonly string[];
  /**
   * Metadata (e.g. `version`, `zone`; `scheme: https` makes clients use HTTPS): at most 64 pairs,
   * keys of `[a-zA-Z0-9_-]` up to 128 characters not starting with `consul-`, values up to 512
   * characters. @defaultValue `{}`
   */
  meta?: Readonly<Record<string, string>>;
  /** Traffic weights. @defaultValue Consul's: `{ passing: 1, warning: 1 }` */
  weights?: ServiceWeights;
  /** The instance's health check: exactly one of `http` or `ttl`. */
  check: ServiceCheckOptions;
}

/** The registration body, in the agent's JSON form. */
export interface ConsulServiceBody {
  Name: string;
  ID: string;
  Address?: string;
  Port: number;
  Tags?: string[];
  Meta?: Record<string, string>;
  Weights?: { Passing: number; Warning: number };
  Check: {
    Name: string;
    TTL?: string;
    HTTP?: string;
    Interval?: string;
    Timeout?: string;
    Status?: string;
    DeregisterCriticalServiceAfter?: string;
  };
}

/** Consul's limits on service metadata (Consul's `agent/structs/structs.go`). */
const META_MAX_PAIRS = 64;
const META_KEY_MAX = 128;
const META_VALUE_MAX = 512;
const META_KEY = /^[a-zA-Z0-9_-]+$/;
const WEIGHT_MAX = 65_535;
/** What Consul's `ipaddr.IsAny` calls a wildcard address. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

/** Validate a {@link ServiceRegistration} and translate it; errors name the offending field. */
export function toConsulService(r: ServiceRegistration): ConsulServiceBody {
  const bad = (field: string, rule: string) => new MeshError('MESH_BAD_OPTIONS', `register.${field} ${rule}`);
  if (!r || typeof r !== 'object') throw bad('', 'must be an object');
  if (!isText(r.name)) throw bad('name', 'must be a non-empty string');
  if (r.id !== undefined && !isText(r.id)) throw bad('id', 'must be a non-empty string');
  if (r.address !== undefined && !isText(r.address)) throw bad('address', 'must be a non-empty string');
  if (r.address !== undefined && ANY_ADDRESS.has(r.address)) {
    throw bad(
      'address',
      `"${r.address}" is a wildcard address, which Consul refuses: give the address clients can reach`,
    );
  }
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535)
    throw bad('port', 'must be an integer from 1 to 65535');
  if (r.tags !== undefined && !(Array.isArray(r.tags) && r.tags.every(isText))) {
    throw bad('tags', 'must be an array of non-empty strings');
  }
  if (r.meta !== undefined) checkMeta(r.meta, bad);
  const weights = r.weights === undefined ? undefined : checkWeights(r.weights, bad);
  const c = r.check;
  if (!c || typeof c !== 'object') throw bad('check', 'is required ({ http, interval } or { ttl })');
  if ((c.http === undefined) === (c.ttl === undefined))
    throw bad('check', 'must set exactly one of http or ttl');
  const check: ConsulServiceBody['Check'] = { Name: `Service '${r.name}' check` };
  if (c.http !== undefined) {
    if (!isText(c.http) || !/^https?:\/\/./i.test(c.http)) throw bad('check.http', 'must be an http(s) URL');
    if (c.interval === undefined) throw bad('check.interval', 'is required with check.http');
    check.HTTP = c.http;
    check.Interval = duration(c.interval, () => bad('check.interval', 'must be a positive number of ms'));
    const timeout = c.timeout ?? Math.min(c.interval, 10_000);
    check.Timeout = duration(timeout, () => bad('check.timeout', 'must be a positive number of ms'));
  } else {
    check.TTL = duration(c.ttl, () => bad('check.ttl', 'must be a positive number of ms'));
    // The caller registers when it is ready to serve; Consul would otherwise start the TTL critical.
    check.Status = 'passing';
  }
  if (c.deregisterCriticalServiceAfter !== undefined) {
    check.DeregisterCriticalServiceAfter = duration(c.deregisterCriticalServiceAfter, () =>
      bad('check.deregisterCriticalServiceAfter', 'must be a positive number of ms'),
    );
  }
  // Stable across restarts, so a restarted instance replaces its old entry instead of adding one.
  const id = r.id ?? `${r.name}-${r.address ?? hostname()}-${r.port}`;
  return {
    Name: r.name,
    ID: id,
    ...(r.address !== undefined && { Address: r.address }),
    Port: r.port,
    ...(r.tags !== undefined && { Tags: [...r.tags] }),
    ...(r.meta !== undefined && { Meta: { ...r.meta } }),
    ...(weights && { Weights: weights }),
    Check: check,
  };
}

function checkMeta(meta: unknown, bad: (field: string, rule: string) => MeshError): void {
  if (!meta || typeof meta !== 'object' || Array.isArray(meta))
    throw bad('meta', 'must map names to strings');
  const entries = Object.entries(meta);
  if (entries.length > META_MAX_PAIRS) {
    throw bad('meta', `has ${entries.length} pairs; Consul allows at most ${META_MAX_PAIRS}`);
  }
  for (const [key, value] of entries) {
    const field = `meta[${JSON.stringify(key)}]`;
    if (typeof value !== 'string') throw bad('meta', 'must map names to strings');
    if (!META_KEY.test(key))
      throw bad(field, 'key may hold only letters, digits, "_" and "-" (Consul\'s rule)');
    if (key.length > META_KEY_MAX)
      throw bad(field, `key is longer than Consul's limit of ${META_KEY_MAX} characters`);
    if (key.startsWith('consul-'))
      throw bad(field, "key prefix 'consul-' is reserved by Consul for internal use");
    if (value.length > META_VALUE_MAX) {
      throw bad(field, `value is ${value.length} characters; Consul allows at most ${META_VALUE_MAX}`);
    }
  }
}

function checkWeights(
  w: ServiceWeights,
  bad: (field: string, rule: string) => MeshError,
): { Passing: number; Warning: number } {
  if (!w || typeof w !== 'object') throw bad('weights', 'must be { passing, warning? }');
  const passing = w.passing;
  const warning = w.warning ?? 1;
  if (!Number.isInteger(passing) || passing < 1 || passing > WEIGHT_MAX) {
    throw bad('weights.passing', `must be an integer from 1 to ${WEIGHT_MAX} (Consul refuses less than 1)`);
  }
  if (!Number.isInteger(warning) || warning < 0 || warning > WEIGHT_MAX) {
    throw bad('weights.warning', `must be an integer from 0 to ${WEIGHT_MAX}`);
  }
  return { Passing: passing, Warning: warning };
}

/** A Go duration string for `ms` milliseconds: `"10s"` when whole seconds, else `"1500ms"`. */
function duration(ms: number | undefined, invalid: () => Error): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw invalid();
  const whole = Math.ceil(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
