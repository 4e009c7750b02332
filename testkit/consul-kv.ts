/**
 * The KV part of the Consul emulator (TEST DOUBLE, see consul-emulator.ts): `GET /v1/kv/:key`
 * (blocking on `index` and `wait` as the health endpoint does; 404 with `X-Consul-Index` for a
 * missing key), `PUT /v1/kv/:key` (the body is the value; answers `true`), `DELETE /v1/kv/:key`,
 * after https://developer.hashicorp.com/consul/api-docs/kv. Values are returned base64-encoded in
 * `Value`, with `CreateIndex`/`ModifyIndex`. No `recurse`, `cas`, sessions or locks.
 */

import type { ServerResponse } from 'node:http';
import { blockUntil } from './blocking.js';

interface Entry {
  value: Buffer;
  createIndex: number;
  modifyIndex: number;
}

type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

/** Keys and their indexes; `nextIndex` is the emulator's shared index counter. */
export class KvStore {
  readonly #entries = new Map<string, Entry>();
  /** Per key, the index of its last change (deletions included). */
  readonly #indexes = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  constructor(
    private readonly nextIndex: () => number,
    private readonly currentIndex: () => number,
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
    this.#changed(key, index);
  }

  /** Delete `key`. */
  delete(key: string): void {
    const index = this.nextIndex();
    this.#entries.delete(key);
    this.#changed(key, index);
  }

  /** Serve one `/v1/kv/:key` request. */
  async handle(
    method: string,
    key: string,
    q: URLSearchParams,
    body: string,
    res: ServerResponse,
    reply: Reply,
  ): Promise<void> {
    if (method === 'PUT') {
      this.put(key, body);
      return reply(200, true);
    }
    if (method === 'DELETE') {
      this.delete(key);
      return reply(200, true);
    }
    if (method !== 'GET') return reply(405, 'method not allowed');
    const wait = Math.min(parseWait(q.get('wait') ?? '5m'), 600_000);
    const index = Number(q.get('index') ?? '0');
    if (!Number.isFinite(wait) || !Number.isInteger(index) || index < 0) return reply(400, 'Invalid query');
    if (index > 0 && this.#indexOf(key) <= index) {
      await blockUntil(res, this.#waiters, () => this.#indexOf(key) > index, wait);
    }
    const headers = { 'x-consul-index': String(this.#indexOf(key)), 'x-consul-knownleader': 'true' };
    const entry = this.#entries.get(key);
    if (!entry) return reply(404, '', headers);
    reply(
      200,
      [
        {
          Key: key,
          Value: entry.value.toString('base64'),
          Flags: 0,
          LockIndex: 0,
          CreateIndex: entry.createIndex,
          ModifyIndex: entry.modifyIndex,
        },
      ],
      headers,
    );
  }

  #changed(key: string, index: number): void {
    this.#indexes.set(key, index);
    for (const waiter of [...this.#waiters]) waiter();
  }

  #indexOf(key: string): number {
    return this.#indexes.get(key) ?? this.currentIndex();
  }
}

/** `10s`, `500ms`, `5m` (Go durations, as Consul takes them); NaN when not one. */
function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) return Number.NaN;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms'];
  return Number(m[1]) * unit;
}
