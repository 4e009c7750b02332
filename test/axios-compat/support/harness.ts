/**
 * The shape of a compatibility case and the three targets each case runs against:
 * - `axios`: a bare axios instance pointed at the server (the reference);
 * - `mesh`: `mesh.service('svc')` of a MeshClient on the default transport (axios's http adapter);
 * - `mesh-undici`: the same with `transport: 'undici'`.
 * Both mesh targets discover the same server through static discovery. A case states its
 * expected outcome once: what plain axios does, or, where a mesh differs on purpose, the
 * documented behaviour (`mesh`: a refusal, a redirect policy, a timeout model), which then
 * applies to both mesh targets.
 */
import { Agent } from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { MeshClient, type MeshClientOptions } from 'mesh-client';
import type { Servers } from './servers.js';

export type TargetName = 'axios' | 'mesh' | 'mesh-undici';
export const TARGETS: readonly TargetName[] = ['axios', 'mesh', 'mesh-undici'];

/** Which server a case's target points at. */
export type OriginName = 'http' | 'https' | 'mtls' | 'closed' | 'named';

/** Host name the `named` origin uses: it resolves only through a case's own `lookup`. */
export const NAMED_HOST = 'compat-upstream.test';

/** What a case's `run` gets. */
export interface Ctx {
  readonly target: TargetName;
  readonly mesh: boolean;
  readonly servers: Servers;
  /** Unique per case and target; sent as `x-tag` by `request`. */
  readonly tag: string;
  /** The origin this target points at. */
  readonly origin: string;
  /** What relative URLs are relative to: the origin for plain axios, '' through the mesh. */
  readonly base: string;
  /** The AxiosInstance under test. */
  readonly http: AxiosInstance;
  /** `http.request` with the case's `x-tag` header added. */
  request<T = unknown>(config: AxiosRequestConfig): Promise<AxiosResponse<T>>;
  /** Run `fn` after the case, whatever its outcome. */
  defer(fn: () => unknown): void;
  /** Set environment variables for the rest of the case. */
  env(vars: Record<string, string | undefined>): void;
}

/** What a run produced: its value, or what it threw. */
export type Result = { ok: true; value: unknown } | { ok: false; err: unknown };

export interface Expectation {
  /** One line for the matrix. */
  readonly label: string;
  check(result: Result, ctx: Ctx): void | Promise<void>;
}

export interface Case {
  /** `group/name`, unique. */
  readonly id: string;
  readonly origin?: OriginName;
  /** Extra MeshClient options for the mesh targets. */
  readonly meshOptions?: MeshClientOptions;
  run(ctx: Ctx): Promise<unknown>;
  /** What plain axios does (and so what the mesh must do). */
  readonly expect: Expectation;
  /** The documented behaviour where a mesh differs on purpose; applies to both mesh targets. */
  readonly mesh?: Expectation;
  readonly timeoutMs?: number;
}

/** One case on one target, with its clean-up. */
export class Run {
  readonly #deferred: Array<() => unknown> = [];
  #mesh: MeshClient | undefined;
  readonly ctx: Ctx;

  constructor(c: Case, target: TargetName, servers: Servers, seq: number) {
    const origin = originOf(c.origin ?? 'http', servers);
    const tag = `${c.id}#${target}#${seq}`;
    let http: AxiosInstance;
    if (target === 'axios') {
      // Fresh keep-alive agents, as each MeshClient has: no socket is reused across cases.
      const agents = {
        httpAgent: new Agent({ keepAlive: true }),
        httpsAgent: new https.Agent({ keepAlive: true }),
      };
      this.#deferred.push(
        () => agents.httpAgent.destroy(),
        () => agents.httpsAgent.destroy(),
      );
      http = axios.create({ baseURL: origin, ...agents });
    } else {
      this.#mesh = new MeshClient({
        discovery: { static: { svc: [origin] } },
        ...(target === 'mesh-undici' ? { transport: 'undici' as const } : {}),
        ...c.meshOptions,
      });
      http = this.#mesh.service('svc');
    }
    const deferred = this.#deferred;
    this.ctx = {
      target,
      mesh: target !== 'axios',
      servers,
      tag,
      origin,
      base: target === 'axios' ? origin : '',
      http,
      request: (config) => http.request({ ...config, headers: { 'x-tag': tag, ...config.headers } }),
      defer: (fn) => deferred.push(fn),
      env: (vars) => {
        for (const [name, value] of Object.entries(vars)) {
          const before = process.env[name];
          deferred.push(() => restore(name, before));
          restore(name, value);
        }
      },
    };
  }

  /** Run the case; a run still unsettled after `boundMs` counts as failed, so the matrix shows it. */
  async run(c: Case, boundMs: number): Promise<Result> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not settle within ${boundMs} ms`)), boundMs);
    });
    try {
      return { ok: true, value: await Promise.race([c.run(this.ctx), bound]) };
    } catch (err) {
      return { ok: false, err };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const fn of this.#deferred.splice(0).reverse()) await fn();
    await this.#mesh?.close();
  }
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function originOf(name: OriginName, s: Servers): string {
  switch (name) {
    case 'http':
      return s.http;
    case 'https':
      return s.https;
    case 'mtls':
      return s.mtls;
    case 'closed':
      return s.closed;
    case 'named':
      return `http://${NAMED_HOST}:${new URL(s.http).port}`;
  }
}

/** A short description of what a run produced, for the matrix. */
export function describeResult(r: Result): string {
  if (!r.ok) {
    const e = r.err as { name?: string; code?: string; message?: string } | undefined;
    const kind = e?.constructor?.name ?? typeof e;
    return `${kind}${e?.code ? ` ${e.code}` : ''}: ${String(e?.message ?? e).slice(0, 70)}`;
  }
  const v = r.value as { status?: number; statusText?: string; res?: { status?: number } } | undefined;
  if (typeof v?.status === 'number') return `${v.status} ${v.statusText ?? ''}`.trim();
  if (typeof v?.res?.status === 'number') return `${v.res.status}`;
  try {
    return `resolved ${JSON.stringify(v)?.slice(0, 60) ?? String(v)}`;
  } catch {
    return 'resolved';
  }
}
