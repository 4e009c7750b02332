/**
 * The KV part of the Consul emulator (TEST DOUBLE, see consul-emulator.ts): `GET /v1/kv/:key`
 * (blocking on `index` and `wait`), `PUT /v1/kv/:key` (the body is the value; answers `true`),
 * `DELETE /v1/kv/:key`, after https://developer.hashicorp.com/consul/api-docs/kv. Values are returned
 * base64-encoded in `Value`, with `CreateIndex`/`ModifyIndex`. No `recurse`, `cas`, sessions or locks.
 *
 * Index rules, after Consul's `agent/consul/kvs_endpoint.go`: a present key answers with its own
 * `ModifyIndex` and a blocking read wakes only when that key changes; a MISSING key answers 404 with
 * the index of the whole KV table (its last write, deletions included: the tombstones), so a blocking
 * read of it wakes on every write to any key, with nothing changed for it; when the table was never
 * written, the index is 1 (Consul never answers 0 there, so that clients block).
 */

import type { ServerResponse } from 'node:http';
import { blockUntil, type Waiters } from './blocking.js';

interface Entry {
  value: Buffer;
  createIndex: number;
  modifyIndex: number;
}

type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

/** Keys and their indexes; `nextIndex` is the emulator's shared Raft index counter. */
export class KvStore {
  readonly #entries = new Map<string, Entry>();
  /** The KV table's index: its last write, deletions included. */
  #tableIndex = 0;
  /** Answer X-Consul-Index 0 for missing keys, as some old Consul versions did (a lever). */
  zeroIndexBug = false;

  constructor(
    private readonly nextIndex: () => number,
    private readonly waiters: Waiters,
  ) {}

  /** Set `key` to `value` (as a test helper would `consul kv put`). */
  put(key: string, value: string | Buffer): void {
    const index = this.nextIndex();
    const prev = this.#entries.get(key);
    this.#entries.set(key, {
      value: Buffer.from(value),
      createIndex: prev?.createIndex ?? index,
      modifyIndex: index,
    });
    this.#tableIndex = index;
    this.waiters.wake();
  }

  /** Delete `key`. */
  delete(key: string): void {
    const index = this.nextIndex();
    this.#entries.delete(key);
    this.#tableIndex = index;
    this.waiters.wake();
  }

  /** A snapshot restore: every index at most `index` (data kept). */
  restore(index: number): void {
    this.#tableIndex = Math.min(this.#tableIndex, index);
    for (const entry of this.#entries.values()) {
      entry.modifyIndex = Math.min(entry.modifyIndex, index);
      entry.createIndex = Math.min(entry.createIndex, entry.modifyIndex);
    }
  }

  /** Serve one `/v1/kv/:key` request; `allowed` says whether the caller may read or write keys. */
  async handle(
    method: string,
    key: string,
    q: URLSearchParams,
    body: string,
    res: ServerResponse,
    reply: Reply,
    allowed: { read: boolean; write: boolean; denied: (permission: string) => string },
  ): Promise<void> {
    if (method === 'PUT' || method === 'DELETE') {
      if (!allowed.write) return reply(403, allowed.denied('key:write'));
      if (method === 'PUT') this.put(key, body);
      else this.delete(key);
      return reply(200, true);
    }
    if (method !== 'GET') return reply(405, 'method not allowed');
    if (!allowed.read) return reply(403, allowed.denied('key:read'));
    const wait = Math.min(parseWait(q.get('wait') ?? '5m'), 600_000);
    const raw = q.get('index') ?? '0';
    if (!Number.isFinite(wait) || !/^\d+$/.test(raw)) return reply(400, 'Invalid query');
    const index = Number(raw);
    if (index > 0 && this.#indexOf(key) <= index) {
      await blockUntil(
        res,
        this.waiters,
        () => this.#indexOf(key) > index,
        wait + Math.random() * (wait / 16),
      );
    }
    const entry = this.#entries.get(key);
    const reported = entry ? entry.modifyIndex : this.zeroIndexBug ? 0 : this.#indexOf(key);
    const headers = { 'x-consul-index': String(reported), 'x-consul-knownleader': 'true' };
    if (!entry) return reply(404, '', headers);
    reply(
      200,
      [
        {
          LockIndex: 0,
          Key: key,
          Flags: 0,
          Value: entry.value.toString('base64'),
          CreateIndex: entry.createIndex,
          ModifyIndex: entry.modifyIndex,
        },
      ],
      headers,
    );
  }

  /** The index a read of `key` reports: its ModifyIndex, or the table's (at least 1) when missing. */
  #indexOf(key: string): number {
    return this.#entries.get(key)?.modifyIndex ?? Math.max(1, this.#tableIndex);
  }
}

/** `10s`, `500ms`, `5m` (Go durations, as Consul takes them); NaN when not one. */
function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) return Number.NaN;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms'];
  return Number(m[1]) * unit;
}
