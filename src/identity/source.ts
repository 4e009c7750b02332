/**
 * Where a workload's TLS material comes from, and how its replacements reach the connections: a
 * source holds the material in force, hands it to whoever asks at the moment they connect, and tells
 * its listeners when it is replaced. Connections already open keep the material they were made
 * with (in-flight requests finish on them); new connections take the new material.
 *
 * Three sources: PEM text given in the options (fixed), files that are re-read when they change
 * (`files.ts`), and Consul Connect's CA (`consul-ca.ts`).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { MeshError } from '../errors/mesh-error.js';
import type { TlsMaterial } from './material.js';

/** New TLS material is in force (new connections present it and trust its bundle). */
export interface TlsRotatedEvent {
  /** Where it came from: `'files'` or `'consul'`. */
  source: SourceKind;
  /** Our identity (the certificate's SPIFFE ID). */
  identity: string;
  /** The certificate's serial number, colon-hex. */
  serial: string;
  notAfter: Date;
  /** CA certificates in the trust bundle. */
  trustAnchors: number;
}

/** New material could not be loaded; the last good material stays in force. */
export interface TlsErrorEvent {
  source: SourceKind;
  error: Error;
}

/** The events of a TLS material source. */
export interface IdentityEvents {
  'tls-rotated': TlsRotatedEvent;
  'tls-error': TlsErrorEvent;
}

/** The kinds of source. */
export type SourceKind = 'inline' | 'files' | 'consul';

/** What every source offers. */
export interface IdentitySource {
  readonly kind: SourceKind;
  /** The material in force, or `undefined` before the first arrived. */
  current(): TlsMaterial | undefined;
  /**
   * The material in force, once there is some. Rejects with `MESH_TLS_UNAVAILABLE` when none arrives
   * within the source's initial timeout, or `MESH_CLOSED`.
   */
  ready(): Promise<TlsMaterial>;
  /** Call `listener` with each replacement; returns the function that stops it. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  /** Stop watching: no timer, watch or socket is left. */
  close(): Promise<void>;
}

interface Waiter {
  resolve: (m: TlsMaterial) => void;
  reject: (e: Error) => void;
  timer?: TimerHandle;
}

/** The state every source shares: the material in force, its waiters and listeners. */
export class MaterialHolder {
  #material: TlsMaterial | undefined;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();
  #waiters: Waiter[] = [];
  #closed = false;
  /** The last problem reported, so that the same one is not reported on every poll. */
  #lastProblem: string | undefined;

  constructor(
    readonly kind: SourceKind,
    private readonly clock: Clock,
    private readonly events: EventSink<IdentityEvents>,
    private readonly initialTimeout: number,
    private readonly unavailable: () => string,
  ) {}

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  ready(): Promise<TlsMaterial> {
    if (this.#material) return Promise.resolve(this.#material);
    if (this.#closed) return Promise.reject(new MeshError('MESH_CLOSED', 'the TLS source was closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      waiter.timer = this.clock.setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new MeshError('MESH_TLS_UNAVAILABLE', this.unavailable()));
      }, this.initialTimeout);
      this.#waiters.push(waiter);
    });
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Put `material` in force (it passed every check). */
  set(material: TlsMaterial): void {
    if (this.#closed) return;
    const first = this.#material === undefined;
    this.#material = material;
    this.#lastProblem = undefined;
    for (const w of this.#waiters.splice(0)) {
      if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
      w.resolve(material);
    }
    if (!first) for (const listener of [...this.#listeners]) listener(material);
    const { facts } = material;
    this.events.emit('tls-rotated', {
      source: this.kind,
      identity: facts.identity.id,
      serial: facts.serial,
      notAfter: facts.notAfter,
      trustAnchors: material.bundle.length,
    });
  }

  /** Report what kept new material out; the same problem twice in a row is reported once. */
  problem(error: Error): void {
    if (this.#closed || error.message === this.#lastProblem) return;
    this.#lastProblem = error.message;
    this.events.emit('tls-error', { source: this.kind, error });
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
      w.reject(new MeshError('MESH_CLOSED', 'the TLS source was closed'));
    }
    this.#listeners.clear();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** PEM text from the options: checked once, never replaced. */
export class InlineSource implements IdentitySource {
  readonly kind = 'inline';
  readonly #holder: MaterialHolder;

  constructor(material: TlsMaterial, clock: Clock, events: EventSink<IdentityEvents>) {
    this.#holder = new MaterialHolder('inline', clock, events, 0, () => 'no TLS material');
    this.#holder.set(material);
  }

  current(): TlsMaterial | undefined {
    return this.#holder.current();
  }

  ready(): Promise<TlsMaterial> {
    return this.#holder.ready();
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    return this.#holder.onChange(listener);
  }

  async close(): Promise<void> {
    this.#holder.close();
  }
}
