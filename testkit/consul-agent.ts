/**
 * The agent and catalog endpoints of the Consul emulator (TEST DOUBLE, see consul-emulator.ts):
 * what is registered, its checks (TTL expiry, HTTP probes, reaping), and the health, catalog and
 * agent answers, filtered by the caller's ACLs. Shapes and rules are in consul-catalog.ts.
 */
import { request, type ServerResponse } from 'node:http';
import { awaitIndex, type Waiters } from './blocking.js';
import type { Caller } from './consul-acl.js';
import {
  agentService,
  type CheckRecord,
  type CheckStatus,
  catalogService,
  NODE_ID,
  nodeRecord,
  parseRegistration,
  publicCheck,
  type ServiceRecord,
  serfHealth,
} from './consul-catalog.js';

type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

export interface AgentSettings {
  node: string;
  datacenter: string;
  wanAddress: string;
  minCheckInterval: number;
  minDeregisterAfter: number;
  nextIndex: () => number;
  currentIndex: () => number;
  waiters: Waiters;
}

/** Services and checks registered through the emulated agent, and the endpoints that show them. */
export class AgentCatalog {
  readonly #s: AgentSettings;
  readonly #services = new Map<string, ServiceRecord>();
  readonly #checks = new Map<string, CheckRecord>();
  /** Per service name, the index of its last change (tombstones included, as Consul keeps them). */
  readonly #nameIndex = new Map<string, number>();
  #servicesIndex = 1;
  #checksIndex = 1;

  constructor(settings: AgentSettings) {
    this.#s = settings;
  }

  /** Serve one agent, health or catalog request. */
  async handle(
    method: string,
    path: string,
    q: URLSearchParams,
    body: string,
    caller: Caller,
    res: ServerResponse,
    reply: Reply,
  ): Promise<void> {
    let m: RegExpExecArray | null;
    const get = method === 'GET';
    if ((m = /^\/v1\/health\/service\/([^/]+)$/.exec(path)) && get) {
      const name = decodeURIComponent(m[1] ?? '');
      const index = await this.#block(q, res, reply, () => this.#indexOf(name));
      if (index !== undefined) this.#health(name, q, caller, reply, index);
      return;
    }
    if ((m = /^\/v1\/health\/state\/(any|passing|warning|critical)$/.exec(path)) && get) {
      const index = await this.#block(q, res, reply, () => this.#checksIndex);
      if (index === undefined) return;
      const state = m[1];
      const visible = this.#allChecks().filter((c) => state === 'any' || c.Status === state);
      const shown = visible.filter(
        (c) => caller.nodeRead() && (c.ServiceName === '' || caller.serviceRead(c.ServiceName)),
      );
      return reply(200, shown.map(publicCheck), this.#meta(index, caller, shown.length < visible.length));
    }
    if (path === '/v1/catalog/services' && get) {
      const index = await this.#block(q, res, reply, () => this.#servicesIndex);
      if (index === undefined) return;
      const all = new Map<string, Set<string>>([['consul', new Set()]]);
      for (const s of this.#services.values()) {
        const tags = all.get(s.Service) ?? new Set<string>();
        for (const t of s.Tags) tags.add(t);
        all.set(s.Service, tags);
      }
      const shown = [...all].filter(([name]) => caller.serviceRead(name));
      const answer = Object.fromEntries(shown.map(([name, tags]) => [name, [...tags].sort()]));
      return reply(200, answer, this.#meta(index, caller, shown.length < all.size));
    }
    if (path === '/v1/agent/services' && get) {
      const shown = [...this.#services.values()].filter((s) => caller.serviceRead(s.Service));
      const headers = caller.authenticated && shown.length < this.#services.size ? filteredHeader : {};
      return reply(
        200,
        Object.fromEntries(shown.map((s) => [s.ID, agentService(s, this.#s.datacenter)])),
        headers,
      );
    }
    if ((m = /^\/v1\/agent\/service\/([^/]+)$/.exec(path)) && get && m[1] !== 'register') {
      const id = decodeURIComponent(m[1] ?? '');
      const service = this.#services.get(id);
      if (!service) return reply(404, `unknown service ID: ${id}`);
      if (!caller.serviceRead(service.Service))
        return reply(403, caller.denied('service:read', service.Service));
      return reply(200, {
        ...agentService(service, this.#s.datacenter),
        ContentHash: hashOf(JSON.stringify(service)),
      });
    }
    if (path === '/v1/agent/self' && get) {
      if (!caller.agentRead()) return reply(403, caller.denied('agent:read', this.#s.node));
      const { node, datacenter } = this.#s;
      return reply(200, {
        Config: { Datacenter: datacenter, NodeName: node, NodeID: NODE_ID, Server: true, Version: '1.21.0' },
        Member: {
          Name: node,
          Addr: '127.0.0.1',
          Port: 8301,
          Tags: { dc: datacenter, role: 'consul' },
          Status: 1,
        },
      });
    }
    if (path === '/v1/agent/service/register' && method === 'PUT') return this.#register(body, caller, reply);
    if ((m = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path)) && method === 'PUT') {
      const id = decodeURIComponent(m[1] ?? '');
      const service = this.#services.get(id);
      if (!service)
        return reply(
          404,
          `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
        );
      if (!caller.serviceWrite(service.Service))
        return reply(403, caller.denied('service:write', service.Service));
      this.#deregister(id);
      return reply(200);
    }
    if ((m = /^\/v1\/agent\/check\/(pass|warn|fail)\/([^/]+)$/.exec(path)) && method === 'PUT') {
      const check = this.#checks.get(decodeURIComponent(m[2] ?? ''));
      if (!check)
        return reply(
          404,
          `Unknown check ID "${m[2]}". Ensure that the check ID is passed, not the check name.`,
        );
      if (!caller.serviceWrite(check.ServiceName))
        return reply(403, caller.denied('service:write', check.ServiceName));
      if (check.ttl === undefined)
        return reply(500, `CheckID "${check.CheckID}" does not have associated TTL`);
      const status = ({ pass: 'passing', warn: 'warning', fail: 'critical' } as const)[m[1] as 'pass'];
      this.#update(check, status, q.get('note') ?? '');
      this.#armTtl(check);
      return reply(200);
    }
    if (path === '/v1/agent/checks' && get) {
      const shown = [...this.#checks].filter(([, c]) => caller.serviceRead(c.ServiceName));
      return reply(200, Object.fromEntries(shown.map(([id, c]) => [id, publicCheck(c)])));
    }
    return reply(path.startsWith('/v1/') ? 405 : 404, 'Unsupported by the Consul emulator');
  }

  /** Set the status of every check of service `serviceId`. */
  setHealth(serviceId: string, status: CheckStatus, output: string): void {
    const checks = this.#checksOf(serviceId);
    if (checks.length === 0) throw new Error(`emulator: service ${serviceId} has no checks`);
    for (const check of checks) this.#update(check, status, output);
  }

  /** An idempotent write that moves indexes (of `name`, or of every service) without changing data. */
  bump(name?: string): void {
    const index = this.#s.nextIndex();
    for (const key of name === undefined ? [...this.#nameIndex.keys()] : [name])
      this.#nameIndex.set(key, index);
    this.#servicesIndex = this.#checksIndex = index;
    this.#s.waiters.wake();
  }

  /** Remove everything (an agent restart without its data dir when `notify`; shutdown otherwise). */
  clear(notify = false): void {
    const names = new Set([...this.#services.values()].map((s) => s.Service));
    for (const check of this.#checks.values()) clearTimeout(check.timer);
    this.#services.clear();
    this.#checks.clear();
    if (!notify) return;
    const index = this.#s.nextIndex();
    for (const name of names) this.#nameIndex.set(name, index);
    this.#servicesIndex = this.#checksIndex = index;
    this.#s.waiters.wake();
  }

  /** Every index at most `index` (a snapshot restore). */
  restore(index: number): void {
    for (const [name, i] of this.#nameIndex) this.#nameIndex.set(name, Math.min(i, index));
    this.#servicesIndex = Math.min(this.#servicesIndex, index);
    this.#checksIndex = Math.min(this.#checksIndex, index);
    for (const r of [...this.#services.values(), ...this.#checks.values()]) {
      r.ModifyIndex = Math.min(r.ModifyIndex, index);
      r.CreateIndex = Math.min(r.CreateIndex, r.ModifyIndex);
    }
  }

  /** Deregister services critical for longer than their DeregisterCriticalServiceAfter. */
  reap(): void {
    const now = Date.now();
    for (const check of [...this.#checks.values()]) {
      if (check.deregisterAfter === undefined || check.criticalSince === undefined) continue;
      if (now - check.criticalSince >= Math.max(check.deregisterAfter, this.#s.minDeregisterAfter)) {
        this.#deregister(check.ServiceID);
      }
    }
  }

  /** Wait per the blocking rules; the index to report, or undefined when a 400 was answered. */
  #block(
    q: URLSearchParams,
    res: ServerResponse,
    reply: Reply,
    index: () => number,
  ): Promise<number | undefined> {
    return awaitIndex(q, res, reply, this.#s.waiters, index);
  }

  #health(name: string, q: URLSearchParams, caller: Caller, reply: Reply, index: number): void {
    const tags = q.getAll('tag');
    const passing = q.has('passing') && q.get('passing') !== 'false';
    const all = [...this.#services.values()]
      .filter((s) => s.Service === name && tags.every((t) => s.Tags.includes(t)))
      .map((s) => ({ service: s, checks: [serfHealth(this.#s.node), ...this.#checksOf(s.ID)] }))
      .filter((e) => !passing || e.checks.every((c) => c.Status === 'passing'))
      .sort((a, b) => a.service.ID.localeCompare(b.service.ID));
    // Consul leaves out what the token may not read, and answers 200 all the same.
    const shown = caller.serviceRead(name) && caller.nodeRead() ? all : [];
    const entries = shown.map((e) => ({
      Node: nodeRecord(this.#s),
      Service: catalogService(e.service, this.#s.datacenter),
      Checks: e.checks.map(publicCheck),
    }));
    reply(200, entries, this.#meta(index, caller, shown.length < all.length));
  }

  #meta(index: number, caller: Caller, filtered: boolean): Record<string, string> {
    return {
      'x-consul-index': String(Math.max(1, index)),
      'x-consul-knownleader': 'true',
      'x-consul-lastcontact': '0',
      'x-consul-effective-consistency': 'leader',
      ...(filtered && caller.authenticated ? filteredHeader : {}),
    };
  }

  #register(body: string, caller: Caller, reply: Reply): void {
    const parsed = parseRegistration(body);
    if (!parsed.ok) {
      reply(400, parsed.text);
      return;
    }
    const def = parsed.service;
    if (!caller.serviceWrite(def.Service)) {
      reply(403, caller.denied('service:write', def.Service));
      return;
    }
    const old = this.#services.get(def.ID);
    const oldChecks = new Map(this.#checksOf(def.ID).map((c) => [c.CheckID, c] as const));
    if (old) this.#deregister(def.ID, false);
    const index = this.#s.nextIndex();
    this.#services.set(def.ID, { ...def, CreateIndex: old?.CreateIndex ?? index, ModifyIndex: index });
    for (const c of parsed.checks) {
      const before = oldChecks.get(c.CheckID);
      const status: CheckStatus = before?.Status ?? c.Status ?? 'critical';
      const check: CheckRecord = {
        Node: this.#s.node,
        CheckID: c.CheckID,
        Name: c.Name,
        Status: status,
        Notes: c.Notes,
        Output: before?.Output ?? '',
        ServiceID: def.ID,
        ServiceName: def.Service,
        ServiceTags: [...def.Tags],
        Type: c.ttl ? 'ttl' : 'http',
        CreateIndex: before?.CreateIndex ?? index,
        ModifyIndex: index,
        ...(c.ttl ? { ttl: c.ttl } : {}),
        ...(c.http && c.interval
          ? {
              probe: {
                url: c.http,
                every: Math.max(c.interval, this.#s.minCheckInterval),
                timeout: c.timeout ?? 10_000,
              },
            }
          : {}),
        ...(c.deregisterAfter ? { deregisterAfter: c.deregisterAfter } : {}),
        ...(status === 'critical' ? { criticalSince: Date.now() } : {}),
      };
      this.#checks.set(check.CheckID, check);
      this.#armTtl(check);
      this.#startProbe(check);
    }
    this.#servicesIndex = this.#checksIndex = index;
    this.#changed(def.Service, index);
    reply(200);
  }

  #deregister(id: string, notify = true): void {
    const service = this.#services.get(id);
    if (!service) return;
    this.#services.delete(id);
    for (const check of this.#checksOf(id)) {
      clearTimeout(check.timer);
      this.#checks.delete(check.CheckID);
    }
    if (!notify) return;
    const index = this.#s.nextIndex();
    this.#servicesIndex = this.#checksIndex = index;
    this.#changed(service.Service, index);
  }

  #update(check: CheckRecord, status: CheckStatus, output: string): void {
    if (check.Status === status && check.Output === output) return;
    if (status === 'critical' && check.Status !== 'critical') check.criticalSince = Date.now();
    if (status !== 'critical') check.criticalSince = undefined;
    check.Status = status;
    check.Output = output;
    check.ModifyIndex = this.#checksIndex = this.#s.nextIndex();
    this.#changed(check.ServiceName, check.ModifyIndex);
  }

  #armTtl(check: CheckRecord): void {
    if (check.ttl === undefined) return;
    clearTimeout(check.timer);
    check.timer = setTimeout(() => this.#update(check, 'critical', 'TTL expired'), check.ttl).unref();
  }

  /** Run an HTTP check every interval: 2xx passing, 429 warning, anything else critical (Consul's rule). */
  #startProbe(check: CheckRecord): void {
    const probe = check.probe;
    if (!probe) return;
    const current = () => this.#checks.get(check.CheckID) === check;
    const run = () => {
      const req = request(probe.url, { method: 'GET', agent: false, timeout: probe.timeout }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        const status = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
        if (current()) this.#update(check, status, `HTTP GET ${probe.url}: ${code}`);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        if (current()) this.#update(check, 'critical', `HTTP GET ${probe.url}: ${err.message}`);
      });
      req.end();
      if (current()) check.timer = setTimeout(run, probe.every).unref();
    };
    // Consul staggers a new check's first run randomly within its interval.
    check.timer = setTimeout(run, Math.random() * probe.every).unref();
  }

  #changed(name: string, index: number): void {
    this.#nameIndex.set(name, index);
    this.#s.waiters.wake();
  }

  /** The index a query on `name` reports: its last change, or the services table's for unknown names. */
  #indexOf(name: string): number {
    return this.#nameIndex.get(name) ?? this.#servicesIndex;
  }

  #checksOf(serviceId: string): CheckRecord[] {
    return [...this.#checks.values()].filter((c) => c.ServiceID === serviceId);
  }

  #allChecks(): CheckRecord[] {
    return [serfHealth(this.#s.node), ...this.#checks.values()];
  }
}

const filteredHeader = { 'x-consul-results-filtered-by-acls': 'true' };

function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(16, '0');
}
