/**
 * @module
 * The devnet's lock file, `<dir>/devnet.lock`: one devnet per state directory.
 *
 * The file is created with `O_EXCL` (`wx`), so two starts cannot both win. It holds the
 * owner's pid, the RPC URL once anvil answers, and the pids of the children (anvil and the
 * `kms-server`s), rewritten atomically (temp file + rename) whenever they change.
 *
 * A lock whose owner is alive (and, where `/proc` tells, is a devnet script) refuses the
 * start. A lock whose owner is gone is *stale* (the owner was killed with SIGKILL, or the
 * machine rebooted): it is taken over, and any child it lists that still runs and still is
 * an anvil or a kms-server is killed first, so that no orphan keeps a port or a data dir.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const LOCK_FILE = 'devnet.lock';

export interface LockChild {
  /** `anvil`, `op1`, `op2`, … */
  readonly name: string;
  readonly pid: number;
}

export interface LockInfo {
  readonly pid: number;
  /** The chain's RPC URL, null while anvil is starting. */
  readonly rpc: string | null;
  /** ISO time the devnet started. */
  readonly startedAt: string;
  readonly children: readonly LockChild[];
}

export type AcquireLockResult =
  | { readonly ok: true; readonly lock: DevnetLock; /** The stale lock that was taken over, if any. */ readonly tookOver: LockInfo | null; readonly killedOrphans: readonly LockChild[] }
  | { readonly ok: false; /** The running devnet's lock. */ readonly holder: LockInfo };

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process, or null where `/proc` does not tell (other OS, gone, hidden). */
function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

/** The pid runs a devnet script (guards against a reused pid). Unknown: assume it does. */
function isDevnetProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const cmd = cmdlineOf(pid);
  return cmd === null || cmd.includes('devnet');
}

/** The pid still runs what the lock says it ran (anvil or kms-server). Unknown: leave it alone. */
function isOurChild(child: LockChild): boolean {
  if (!isAlive(child.pid)) return false;
  const cmd = cmdlineOf(child.pid);
  if (cmd === null) return false;
  return child.name === 'anvil' ? cmd.includes('anvil') : cmd.includes('kms-server');
}

function parseLock(text: string): LockInfo | null {
  try {
    const o = JSON.parse(text) as Partial<LockInfo> | null;
    if (typeof o !== 'object' || o === null || typeof o.pid !== 'number') return null;
    const children = Array.isArray(o.children)
      ? o.children.filter((c): c is LockChild => typeof c === 'object' && c !== null && typeof c.name === 'string' && typeof c.pid === 'number')
      : [];
    return { pid: o.pid, rpc: typeof o.rpc === 'string' ? o.rpc : null, startedAt: typeof o.startedAt === 'string' ? o.startedAt : '', children };
  } catch {
    return null;
  }
}

/** Reads a lock file; null when it is missing or unreadable. */
export function readLock(dir: string): LockInfo | null {
  try {
    return parseLock(readFileSync(join(dir, LOCK_FILE), 'utf8'));
  } catch {
    return null;
  }
}

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** The lock this process holds. */
export class DevnetLock {
  readonly path: string;
  #info: LockInfo;
  #released = false;

  constructor(path: string, info: LockInfo) {
    this.path = path;
    this.#info = info;
  }

  get info(): LockInfo {
    return this.#info;
  }

  /** Records the RPC URL and the children (atomic rewrite). */
  update(change: { rpc?: string; children?: readonly LockChild[] }): void {
    if (this.#released) return;
    this.#info = { ...this.#info, ...change };
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.#info, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  /** Removes the lock file if it is still ours. Idempotent; synchronous (safe in an 'exit' handler). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const current = readLock(dirname(this.path));
    if (current !== null && current.pid !== process.pid) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Takes the lock of `dir` (created 0700 if missing), taking over a stale one.
 *
 * @example
 * const r = acquireLock('.devnet');
 * if (!r.ok) { console.error(`a devnet is already running (pid ${r.holder.pid})`); process.exit(1); }
 */
export function acquireLock(dir: string): AcquireLockResult {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, rpc: null, startedAt: new Date().toISOString(), children: [] };
  let tookOver: LockInfo | null = null;
  const killedOrphans: LockChild[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // removed meanwhile: try again
      }
      const holder = parseLock(text);
      if (holder === null) {
        // Another start may be between creating and writing it: give it a moment.
        if (attempt < 5) {
          sleepSync(100);
          continue;
        }
      } else if (isDevnetProcess(holder.pid)) {
        return { ok: false, holder };
      } else {
        for (const child of holder.children) {
          if (isOurChild(child)) {
            try {
              process.kill(child.pid, 'SIGKILL');
              killedOrphans.push(child);
            } catch {
              // gone meanwhile
            }
          }
        }
        tookOver = holder;
      }
      // Stale: remove it, unless someone replaced it since we read it.
      try {
        if (readFileSync(path, 'utf8') === text) unlinkSync(path);
      } catch {
        // gone meanwhile
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(info, null, 2)}\n`);
    } finally {
      closeSync(fd);
    }
    return { ok: true, lock: new DevnetLock(path, info), tookOver, killedOrphans };
  }
  throw new Error(`could not take the devnet lock ${path}${existsSync(path) ? ' (it keeps changing)' : ''}`);
}
