/**
 * Progress while runs go: one line per run. On a terminal the line is redrawn in place (phase,
 * elapsed time, requests, success so far); otherwise, e.g. in CI logs or when piped, a line is
 * printed when the run starts measuring, at each quarter of the window and when it ends, so the
 * log stays short and readable. Scenario events ("c turns slow") are printed as they happen.
 */
import type { RunProgress } from './orchestrate.js';
import { fmt } from './stats.js';

export interface ProgressLine {
  update(progress: RunProgress): void;
  /** Free-form status, redrawn in place on a terminal, not printed otherwise. */
  status(text: string): void;
  /** A scenario event or other remark, printed on its own line. */
  note(text: string): void;
  /** The run ended; `summary` replaces the live line. */
  done(summary: string): void;
  fail(message: string): void;
}

export class Progress {
  readonly #tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly quiet = false,
  ) {
    this.#tty = out.isTTY === true;
  }

  /** Print a heading (a phase of the whole run). */
  heading(text: string): void {
    if (!this.quiet) this.out.write(`\n${text}\n`);
  }

  /** Print a line as is. */
  say(text: string): void {
    if (!this.quiet) this.out.write(`${text}\n`);
  }

  /** Start the line of one run. */
  begin(label: string): ProgressLine {
    const out = this.out;
    const quiet = this.quiet;
    const tty = this.#tty;
    const name = label.padEnd(34);
    let last = '';
    let quarter = -1;
    let phase = '';
    const draw = (text: string) => {
      if (quiet) return;
      if (tty) {
        out.write(`\r\x1b[2K${text}`);
        last = text;
      } else {
        out.write(`${text}\n`);
      }
    };
    const describe = (p: RunProgress) => {
      const success = p.requests === 0 ? '-' : fmt.pct(p.ok / p.requests);
      switch (p.phase) {
        case 'start':
          return `${name} starting`;
        case 'warmup':
          return `${name} warming up`;
        case 'measure': {
          const s = (p.elapsedMs / 1000).toFixed(1);
          return `${name} ${s}/${(p.durationMs / 1000).toFixed(0)} s  ${p.requests} req  ${success} ok`;
        }
        case 'drain':
          return `${name} finishing in-flight requests  ${p.requests} req  ${success} ok`;
      }
    };
    return {
      update(p) {
        if (tty) {
          draw(describe(p));
          return;
        }
        // Not a terminal: the start of each phase, and each quarter of the window.
        const q = p.phase === 'measure' ? Math.floor((4 * p.elapsedMs) / p.durationMs) : -1;
        if (p.phase !== phase || (q > quarter && q < 4)) {
          phase = p.phase;
          quarter = q;
          if (p.phase !== 'drain') draw(describe(p));
        }
      },
      status(text) {
        if (tty) draw(`${name} ${text}`);
      },
      note(text) {
        if (quiet) return;
        if (tty) {
          out.write(`\r\x1b[2K  > ${text}\n`);
          if (last) out.write(last);
        } else {
          out.write(`  > ${text}\n`);
        }
      },
      done(summary) {
        if (quiet) return;
        if (tty) out.write(`\r\x1b[2K${name} ${summary}\n`);
        else out.write(`${name} ${summary}\n`);
      },
      fail(message) {
        if (quiet) return;
        if (tty) out.write(`\r\x1b[2K`);
        out.write(`${name} FAILED: ${message}\n`);
      },
    };
  }
}
