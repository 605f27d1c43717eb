/**
 * @module
 * What the devnet prints: permanent lines, and one *status line* for what it is waiting for.
 *
 * On a terminal the status line is redrawn in place (`\r` + erase line) and a permanent line
 * first erases it. Elsewhere (a pipe, a log file, a test) a status is printed as its own line
 * when its text changes, at most every `minGapMs`, and repeated every `repeatMs` even when it
 * has not changed, so a reader always sees that the script is alive and what it waits for.
 */

export interface PrinterOptions {
  readonly tty?: boolean;
  readonly write?: (text: string) => void;
  readonly minGapMs?: number;
  readonly repeatMs?: number;
  readonly now?: () => number;
}

export class Printer {
  readonly tty: boolean;
  readonly #write: (text: string) => void;
  readonly #minGapMs: number;
  readonly #repeatMs: number;
  readonly #now: () => number;
  #statusShown = false;
  #lastStatus = '';
  #lastStatusAt = Number.NEGATIVE_INFINITY;
  #pending: string | null = null;

  constructor(opts: PrinterOptions = {}) {
    this.tty = opts.tty ?? process.stdout.isTTY === true;
    this.#write = opts.write ?? ((t) => void process.stdout.write(t));
    this.#minGapMs = opts.minGapMs ?? 3000;
    this.#repeatMs = opts.repeatMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** A permanent line. */
  line(text = ''): void {
    this.#clearStatus();
    this.#write(`${text}\n`);
  }

  /** Several permanent lines. */
  lines(texts: readonly string[]): void {
    for (const t of texts) this.line(t);
  }

  /** The current status ("waiting for genesis: …"). */
  status(text: string): void {
    const now = this.#now();
    if (this.tty) {
      const cols = process.stdout.columns ?? 120;
      const shown = text.length > cols - 1 ? `${text.slice(0, cols - 2)}…` : text;
      this.#write(`\r\x1b[2K${shown}`);
      this.#statusShown = true;
      this.#lastStatus = text;
      return;
    }
    const changed = text !== this.#lastStatus;
    if ((changed && now - this.#lastStatusAt >= this.#minGapMs) || now - this.#lastStatusAt >= this.#repeatMs) {
      this.#write(`${text}\n`);
      this.#lastStatus = text;
      this.#lastStatusAt = now;
      this.#pending = null;
    } else if (changed) {
      this.#pending = text;
    }
  }

  /** Ends the status line (a final state is printed by the caller as a permanent line). */
  endStatus(): void {
    this.#clearStatus();
    this.#lastStatus = '';
    this.#lastStatusAt = Number.NEGATIVE_INFINITY;
    this.#pending = null;
  }

  /** The last status that was not printed because of the rate limit, if any. */
  get pendingStatus(): string | null {
    return this.#pending;
  }

  #clearStatus(): void {
    if (this.tty && this.#statusShown) {
      this.#write('\r\x1b[2K');
      this.#statusShown = false;
    }
  }
}

/** `0x70997970…79c8`-style short form of a long hex string. */
export function shortHex(h: string, head = 6, tail = 4): string {
  return h.length <= 2 + head + tail + 1 ? h : `${h.slice(0, 2 + head)}…${h.slice(-tail)}`;
}

/** Seconds with one decimal: `3.2 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Local wall-clock time `HH:MM:SS`. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}
