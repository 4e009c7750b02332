/**
 * The catalog of the Consul emulator (TEST DOUBLE, see consul-emulator.ts): the services and checks
 * registered through the agent, registration validation with Consul's own messages, and the JSON
 * shapes of the answers (checked against fixtures written from Consul's API docs by
 * test/consul-contract.test.ts).
 *
 * Index rules, after Consul's state store: one Raft index counter; the services and checks tables
 * each remember the index of their last write; each service name remembers the index of its last
 * change (tombstones included), which is what `/v1/health/service/:name` reports, while
 * `/v1/health/state/any` reports the checks table's index.
 *
 * Registration validation, after Consul's `agent/agent_endpoint.go` and `agent/structs/structs.go`:
 * a wildcard address, bad weights and bad meta are refused with 400 and Consul's texts; an omitted
 * `Weights` becomes `{ Passing: 1, Warning: 1 }`, but a `Weights` object without `Warning` keeps
 * Go's zero value, 0.
 */

/** A check status. */
export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface ServiceRecord {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Address: string;
  TaggedAddresses?: Record<string, { address: string; port: number }>;
  Port: number;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  /** Connect-native (`Connect: { Native: true }` in the registration). */
  ConnectNative?: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface CheckRecord {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
  ttl?: number;
  probe?: { url: string; every: number; timeout: number };
  deregisterAfter?: number;
  criticalSince?: number;
  timer?: NodeJS.Timeout;
}

/** A registration as the agent would store it, or the 400 text it would answer. */
export type Parsed =
  | { ok: true; service: Omit<ServiceRecord, 'CreateIndex' | 'ModifyIndex'>; checks: CheckDef[] }
  | { ok: false; text: string };

export interface CheckDef {
  CheckID: string;
  Name: string;
  Status: CheckStatus | undefined;
  Notes: string;
  ttl?: number;
  http?: string;
  interval?: number;
  timeout?: number;
  deregisterAfter?: number;
}

/** A Go duration (`"1m30s"`, `"300ms"`) in ms, or undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] ?? ''] ?? 0), 0);
}

const META_KEY = /^[a-zA-Z0-9_-]+$/;

/** Consul's `ValidateServiceMetadata`, with its texts. */
function metaError(meta: Record<string, unknown>): string | undefined {
  const entries = Object.entries(meta);
  // Consul's own wording, "Node" included, for service metadata too.
  if (entries.length > 64) return 'Node metadata cannot contain more than 64 key/value pairs';
  for (const [key, value] of entries) {
    const text = typeof value === 'string' ? value : String(value);
    let why: string | undefined;
    if (key === '') why = 'Key cannot be blank';
    else if (!META_KEY.test(key)) why = 'Key contains invalid characters';
    else if (key.length > 128) why = 'Key is too long (limit: 128 characters)';
    else if (key.startsWith('consul-')) why = "Key prefix 'consul-' is reserved for internal use";
    else if (text.length > 512) why = 'Value is too long (limit: 512 characters)';
    if (why) return `Couldn't load metadata pair ('${key}', '${text}'): ${why}`;
  }
  return undefined;
}

/** Parse and validate a `PUT /v1/agent/service/register` body as the agent does. */
export function parseRegistration(body: string): Parsed {
  let def: Record<string, unknown>;
  try {
    def = JSON.parse(body || '{}') as Record<string, unknown>;
  } catch (error) {
    return { ok: false, text: `Request decode failed: ${(error as Error).message}` };
  }
  const name = def.Name;
  if (typeof name !== 'string' || name === '') return { ok: false, text: 'Missing service name' };
  const address = typeof def.Address === 'string' ? def.Address : '';
  if (address === '0.0.0.0' || address === '::' || address === '[::]') {
    return { ok: false, text: 'Invalid service address' };
  }
  let weights = { Passing: 1, Warning: 1 };
  if (def.Weights !== undefined && def.Weights !== null) {
    const w = def.Weights as { Passing?: unknown; Warning?: unknown };
    // Go decodes a missing field to its zero value.
    const passing = typeof w.Passing === 'number' ? w.Passing : 0;
    const warning = typeof w.Warning === 'number' ? w.Warning : 0;
    if (passing < 1) return { ok: false, text: 'Invalid Weights: Passing must be greater than 0' };
    if (warning < 0) return { ok: false, text: 'Invalid Weights: Warning must be greater or equal than 0' };
    if (passing > 65535 || warning > 65535)
      return { ok: false, text: 'Invalid Weights: Weight must be less than 65536' };
    weights = { Passing: passing, Warning: warning };
  }
  const meta = (def.Meta ?? {}) as Record<string, unknown>;
  const bad = metaError(meta);
  if (bad) return { ok: false, text: `Invalid Service Meta: ${bad}` };
  const id = typeof def.ID === 'string' && def.ID !== '' ? def.ID : name;
  const raw = Array.isArray(def.Checks)
    ? (def.Checks as Record<string, unknown>[])
    : def.Check
      ? [def.Check as Record<string, unknown>]
      : [];
  const checks: CheckDef[] = [];
  for (const [i, c] of raw.entries()) {
    const ttl = typeof c.TTL === 'string' ? parseGoDuration(c.TTL) : undefined;
    const interval = typeof c.Interval === 'string' ? parseGoDuration(c.Interval) : undefined;
    const http = typeof c.HTTP === 'string' ? c.HTTP : undefined;
    if (c.Status !== undefined && c.Status !== '' && !isStatus(c.Status)) {
      return { ok: false, text: "Status for checks must 'passing', 'warning', 'critical'" };
    }
    if (!(ttl && ttl > 0) && !(http && interval && interval > 0)) {
      return { ok: false, text: 'Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval' };
    }
    const deregisterAfter =
      typeof c.DeregisterCriticalServiceAfter === 'string'
        ? parseGoDuration(c.DeregisterCriticalServiceAfter)
        : undefined;
    const timeout = typeof c.Timeout === 'string' ? parseGoDuration(c.Timeout) : undefined;
    checks.push({
      CheckID:
        typeof c.CheckID === 'string'
          ? c.CheckID
          : raw.length > 1
            ? `service:${id}:${i + 1}`
            : `service:${id}`,
      Name: typeof c.Name === 'string' ? c.Name : `Service '${name}' check`,
      Status: isStatus(c.Status) ? c.Status : undefined,
      Notes: typeof c.Notes === 'string' ? c.Notes : '',
      ...(ttl ? { ttl } : {}),
      ...(http && interval ? { http, interval, ...(timeout ? { timeout } : {}) } : {}),
      ...(deregisterAfter ? { deregisterAfter } : {}),
    });
  }
  const tagged = def.TaggedAddresses as
    | Record<string, { Address?: string; address?: string; Port?: number; port?: number }>
    | undefined;
  return {
    ok: true,
    service: {
      ID: id,
      Service: name,
      Tags: stringArray(def.Tags),
      Meta: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)])),
      Address: address,
      ...(tagged && {
        TaggedAddresses: Object.fromEntries(
          Object.entries(tagged).map(([k, v]) => [
            k,
            { address: v.address ?? v.Address ?? '', port: v.port ?? v.Port ?? 0 },
          ]),
        ),
      }),
      Port: typeof def.Port === 'number' ? def.Port : 0,
      Weights: weights,
      EnableTagOverride: def.EnableTagOverride === true,
      ...((def.Connect as { Native?: unknown } | undefined)?.Native === true && { ConnectNative: true }),
    },
    checks,
  };
}

/** A check as the HTTP API shows it (internal bookkeeping left out). */
export function publicCheck(check: CheckRecord): Record<string, unknown> {
  const { ttl: _ttl, probe: _p, deregisterAfter: _d, criticalSince: _c, timer: _t, ...rest } = check;
  return rest;
}

/** The node's `serfHealth` check: the agent is alive. */
export function serfHealth(node: string): CheckRecord {
  return {
    Node: node,
    CheckID: 'serfHealth',
    Name: 'Serf Health Status',
    Status: 'passing',
    Notes: '',
    Output: 'Agent alive and reachable',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

export function isStatus(value: unknown): value is CheckStatus {
  return value === 'passing' || value === 'warning' || value === 'critical';
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The emulated node's ID. */
export const NODE_ID = '00000000-0000-0000-0000-000000000001';

/** The node as `/v1/health/service` shows it. */
export function nodeRecord(s: { node: string; datacenter: string; wanAddress: string }) {
  return {
    ID: NODE_ID,
    Node: s.node,
    Address: '127.0.0.1',
    Datacenter: s.datacenter,
    TaggedAddresses: { lan: '127.0.0.1', lan_ipv4: '127.0.0.1', wan: s.wanAddress, wan_ipv4: s.wanAddress },
    Meta: { 'consul-network-segment': '' },
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

/** A service as `/v1/health/service` shows it. */
export function catalogService(s: ServiceRecord, datacenter: string) {
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: [...s.Tags],
    Address: s.Address,
    ...(s.TaggedAddresses && { TaggedAddresses: s.TaggedAddresses }),
    Meta: { ...s.Meta },
    Port: s.Port,
    Weights: { ...s.Weights },
    EnableTagOverride: s.EnableTagOverride,
    ...(s.ConnectNative && { Connect: { Native: true } }),
    Datacenter: datacenter,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

/** A service as the agent endpoints show it. */
export function agentService(s: ServiceRecord, datacenter: string) {
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: [...s.Tags],
    Meta: { ...s.Meta },
    Port: s.Port,
    Address: s.Address,
    ...(s.TaggedAddresses && { TaggedAddresses: s.TaggedAddresses }),
    Weights: { ...s.Weights },
    EnableTagOverride: s.EnableTagOverride,
    ...(s.ConnectNative && { Connect: { Native: true } }),
    Datacenter: datacenter,
  };
}
