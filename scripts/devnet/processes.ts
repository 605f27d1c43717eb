/**
 * @module
 * The devnet's child processes (anvil and the `kms-server`s): spawning, logs, unexpected
 * deaths, and an ordered, clean stop.
 *
 * - anvil runs in its own process group (`detached`), so a Ctrl-C in the terminal does not reach
 *   it: the devnet stops it last, after the servers (a server stopping while the chain is already
 *   gone would fail its last tick). The servers stay in the terminal's group: a Ctrl-C reaches
 *   them directly too, so they stop (cleanly, on SIGINT) even if the devnet script could not.
 * - A child's stdout and stderr go through a pipe into its log file. If the script itself is
 *   killed without a chance to clean up (SIGKILL), the pipes close and a child's next write
 *   fails, which ends it; the next `npm start` also kills any orphan its stale lock lists.
 * - A child that exits while nobody asked it to is reported once, with the tail of its log.
 * - On any exit of the script, an `exit` handler SIGKILLs whatever still runs (synchronous:
 *   nothing else is possible there).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedChild {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly process: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** True once it has exited. */
  hasExited(): boolean;
}

export interface SpawnParameters {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Appended to (created 0600). */
  readonly logFile: string;
  /** Called with every stdout chunk (after it is logged), e.g. to find anvil's port. */
  readonly onStdout?: (chunk: string) => void;
  /** When given, only the stdout lines it keeps are logged (anvil names every RPC call it serves). */
  readonly keepStdoutLine?: (line: string) => boolean;
  /** Milliseconds between SIGTERM and SIGKILL when stopping (default 10 000). */
  readonly stopTimeoutMs?: number;
  /**
   * Own process group (default true): a Ctrl-C in the terminal does not reach it, the devnet
   * stops it. false: it gets the terminal's Ctrl-C itself, so it stops even if the devnet
   * script cannot (the servers: they stop cleanly on SIGINT).
   */
  readonly detached?: boolean;
}

export type UnexpectedExitHandler = (child: ManagedChild, info: ExitInfo) => void;

interface Entry {
  readonly child: ManagedChild;
  readonly stopTimeoutMs: number;
  expected: boolean;
}

export function describeExit(info: ExitInfo): string {
  return info.signal !== null ? `signal ${info.signal}` : `exit code ${info.code ?? '?'}`;
}

/**
 * The last `lines` lines of a log file, pino JSON lines shown as `LEVEL message (err)`.
 * Reads at most the last 16 KiB.
 */
export function logTail(file: string, lines = 15): string[] {
  let text: string;
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const len = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(len);
      const n = readSync(fd, buf, 0, len, size - len);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const all = text.split('\n').filter((l) => l.trim().length > 0);
  return all.slice(-lines).map(renderLogLine);
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino JSON line as `LEVEL message key=value…` on one line; other lines as they are; at most 300 characters. */
export function renderLogLine(line: string): string {
  let out = line;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o === 'object' && o !== null && typeof o.msg === 'string') {
      const level = typeof o.level === 'number' ? (LEVELS[o.level] ?? String(o.level)) : '';
      const extra: string[] = [];
      for (const [k, v] of Object.entries(o)) {
        if (['level', 'time', 'pid', 'hostname', 'msg', 'app', 'reqId', 'req', 'res', 'responseTime'].includes(k)) continue;
        extra.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      }
      out = `${level} ${o.msg}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}`;
    }
  } catch {
    // not JSON: shown as it is
  }
  out = out.replace(/\s*\n\s*/g, ' '); // a message may span lines (chain errors carry meta lines)
  return out.length > 300 ? `${out.slice(0, 297)}...` : out;
}

/** Starts, watches and stops the devnet's children. */
export class Supervisor {
  readonly #entries: Entry[] = [];
  #onUnexpectedExit: UnexpectedExitHandler = () => undefined;
  #exitHook = false;

  /** Who is told when a child dies on its own. */
  onUnexpectedExit(handler: UnexpectedExitHandler): void {
    this.#onUnexpectedExit = handler;
  }

  get children(): readonly ManagedChild[] {
    return this.#entries.map((e) => e.child);
  }

  spawn(name: string, p: SpawnParameters): ManagedChild {
    this.#installExitHook();
    const logFd = openSync(p.logFile, 'a', 0o600);
    const proc = spawn(p.command, [...p.args], {
      cwd: p.cwd,
      env: p.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: p.detached ?? true,
    });
    let done = false;
    let closeLog = false;
    const write = (chunk: Buffer): void => {
      if (closeLog) return;
      try {
        writeSync(logFd, chunk);
      } catch {
        // a full disk must not take the devnet down
      }
    };
    let partial = '';
    const keep = p.keepStdoutLine;
    proc.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (keep === undefined) {
        write(chunk);
      } else {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        const kept = lines.filter(keep);
        if (kept.length > 0) write(Buffer.from(`${kept.join('\n')}\n`));
      }
      p.onStdout?.(text);
    });
    proc.stderr?.on('data', write);
    const exited = new Promise<ExitInfo>((resolve) => {
      // 'close' (not 'exit'): the pipes are drained, so the log holds the last words.
      proc.once('close', (code, signal) => {
        if (partial !== '') write(Buffer.from(`${partial}\n`));
        done = true;
        closeLog = true;
        try {
          closeSync(logFd);
        } catch {
          // already closed
        }
        resolve({ code, signal });
      });
      proc.once('error', (err) => {
        if (done) return;
        write(Buffer.from(`devnet: could not start ${p.command}: ${err.message}\n`));
        done = true;
        closeLog = true;
        resolve({ code: null, signal: null });
      });
    });
    const child: ManagedChild = {
      name,
      pid: proc.pid ?? -1,
      logFile: p.logFile,
      process: proc,
      exited,
      hasExited: () => done,
    };
    const entry: Entry = { child, stopTimeoutMs: p.stopTimeoutMs ?? 10_000, expected: false };
    this.#entries.push(entry);
    void exited.then((info) => {
      if (!entry.expected) this.#onUnexpectedExit(child, info);
    });
    return child;
  }

  /**
   * Stops the named children (all when omitted) in parallel: SIGTERM, then SIGKILL after
   * their stop timeout. Resolves with what each did.
   */
  async stop(names?: readonly string[]): Promise<Array<{ name: string; info: ExitInfo; killed: boolean }>> {
    const entries = this.#entries.filter((e) => names === undefined || names.includes(e.child.name));
    return Promise.all(
      entries.map(async (e) => {
        e.expected = true;
        let killed = false;
        if (!e.child.hasExited()) {
          signal(e.child.pid, 'SIGTERM');
          const timer = setTimeout(() => {
            killed = true;
            signal(e.child.pid, 'SIGKILL');
          }, e.stopTimeoutMs);
          const info = await e.child.exited;
          clearTimeout(timer);
          return { name: e.child.name, info, killed };
        }
        return { name: e.child.name, info: await e.child.exited, killed };
      }),
    );
  }

  /** SIGKILLs every child still running (synchronous; for the 'exit' handler). */
  killAllSync(): void {
    for (const e of this.#entries) {
      e.expected = true;
      if (!e.child.hasExited()) signal(e.child.pid, 'SIGKILL');
    }
  }

  #installExitHook(): void {
    if (this.#exitHook) return;
    this.#exitHook = true;
    process.on('exit', () => this.killAllSync());
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Reads a whole small file, '' when missing. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
