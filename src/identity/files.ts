/**
 * TLS material from files, re-read when they change: what cert-manager's CSI driver and Kubernetes
 * secret volumes (an atomic swap of a `..data` symlink) and SPIRE's helper (one file written after
 * another) leave on disk.
 *
 * Two ways to notice a change, so that neither is trusted alone: `fs.watch` on the files'
 * directories (a swap of the symlink, a rename over a file, an in-place write), and a poll every
 * `pollInterval` on the mesh's clock that re-reads the files and compares their text (file-system
 * notifications are lost on some volumes and after a directory is replaced). A change is applied
 * only when all three files, read together, make material that passes every check (`material.ts`):
 * a certificate written before its key is ignored until the key follows, and the last good
 * material stays in force meanwhile. Connections open when it changes keep theirs.
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { MeshError } from '../errors/mesh-error.js';
import { buildMaterial, type PemSet, type TlsMaterial } from './material.js';
import { type IdentityEvents, type IdentitySource, MaterialHolder } from './source.js';
import type { IdentityPattern } from './spiffe.js';

/** Each part: PEM text given in the options, or a file path. */
export type PartSources = Record<keyof PemSet, { text: string } | { path: string }>;

/** Whether an option value is PEM text rather than a path. */
export function isPemText(value: string): boolean {
  return value.includes('-----BEGIN');
}

/** What a file source needs of the mesh. */
export interface FileSourceContext {
  clock: Clock;
  events: EventSink<IdentityEvents>;
  pollInterval: number;
  expected: IdentityPattern | undefined;
}

const PARTS = ['cert', 'key', 'ca'] as const;

/** Material from files (and any part given as text), re-read on change. */
export class FileSource implements IdentitySource {
  readonly kind = 'files';
  readonly #parts: PartSources;
  readonly #ctx: FileSourceContext;
  readonly #holder: MaterialHolder;
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: TimerHandle | undefined;
  /** The text last read of each part, to tell a change from a touch. */
  #lastText = '';
  #reading: Promise<void> | undefined;
  #again = false;

  /**
   * Read and check the files once, now: a problem fails construction with `MESH_BAD_OPTIONS`
   * naming the part (`options.tls.cert: ...`).
   */
  constructor(parts: PartSources, ctx: FileSourceContext, root = 'options.tls') {
    this.#parts = parts;
    this.#ctx = ctx;
    this.#holder = new MaterialHolder('files', ctx.clock, ctx.events, 0, () => 'no TLS material');
    const pems = {} as PemSet;
    for (const part of PARTS) {
      const source = parts[part];
      if ('text' in source) pems[part] = source.text;
      else {
        try {
          pems[part] = readFileSync(source.path, 'utf8');
        } catch (error) {
          throw new MeshError(
            'MESH_BAD_OPTIONS',
            `${root}.${part}: cannot read ${source.path} (${codeOf(error)})`,
          );
        }
      }
    }
    const material = buildMaterial(pems, ctx.expected);
    if (typeof material === 'string')
      throw new MeshError('MESH_BAD_OPTIONS', `${root}.${partOf(material)}: ${material}`);
    this.#lastText = textKey(pems);
    this.#holder.set(material);
    for (const part of PARTS) {
      const source = parts[part];
      if ('path' in source) this.#watch(dirname(source.path));
    }
    this.#schedule();
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

  /** Read the files now (also what a notification or the poll does); resolves once applied or refused. */
  reload(): Promise<void> {
    if (this.#holder.closed) return Promise.resolve();
    if (this.#reading) {
      // A change noticed during a read may have been missed by it: read once more after.
      this.#again = true;
      return this.#reading;
    }
    this.#reading = this.#read().finally(() => {
      this.#reading = undefined;
      if (this.#again && !this.#holder.closed) {
        this.#again = false;
        void this.reload();
      }
    });
    return this.#reading;
  }

  async close(): Promise<void> {
    this.#holder.close();
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#reading;
  }

  async #read(): Promise<void> {
    const pems = {} as PemSet;
    for (const part of PARTS) {
      const source = this.#parts[part];
      if ('text' in source) pems[part] = source.text;
      else {
        try {
          pems[part] = await readFile(source.path, 'utf8');
        } catch (error) {
          // Mid-swap, a file may be missing for a moment: the next notification or poll reads it.
          this.#holder.problem(new Error(`${part}: cannot read ${source.path} (${codeOf(error)})`));
          return;
        }
      }
    }
    const key = textKey(pems);
    if (key === this.#lastText) return;
    const material = buildMaterial(pems, this.#ctx.expected);
    if (typeof material === 'string') {
      this.#holder.problem(new Error(material));
      return;
    }
    this.#lastText = key;
    this.#holder.set(material);
  }

  #watch(dir: string): void {
    if (this.#watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, () => void this.reload());
    } catch {
      // Not watchable here (some volumes): the poll still notices changes.
      return;
    }
    watcher.on('error', () => {
      // The directory was replaced or removed: stop this watch; the poll re-establishes it.
      watcher.close();
      this.#watchers.delete(dir);
    });
    this.#watchers.set(dir, watcher);
  }

  #schedule(): void {
    if (this.#holder.closed) return;
    this.#timer = this.#ctx.clock.setTimeout(() => {
      for (const part of PARTS) {
        const source = this.#parts[part];
        if ('path' in source) this.#watch(dirname(source.path));
      }
      void this.reload().finally(() => this.#schedule());
    }, this.#ctx.pollInterval);
  }
}

function textKey(pems: PemSet): string {
  return `${pems.cert}\u0000${pems.key}\u0000${pems.ca}`;
}

/** The option part a material problem is about (`certificate: ...` is the cert's). */
function partOf(problem: string): 'cert' | 'key' | 'ca' {
  if (problem.startsWith('key:')) return 'key';
  if (problem.startsWith('trust bundle:')) return 'ca';
  return 'cert';
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
