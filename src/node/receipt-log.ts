/**
 * @module
 * The operator's receipt log (issue 16, item 4): every answered key release appends its signed
 * receipt (`src/crypto/receipt.ts`), hash-chained to the one before; `GET /receipts` serves
 * it; each confirmation commits its head on-chain. Two implementations share this interface:
 * SQLite (`openSqliteReceiptLog`, the node's, one file `receipts.sqlite` beside the key
 * store) and memory (`MemoryReceiptLog`, tests and benchmarks).
 *
 * **Why its own file, not a key-store table.** The log holds no secret and authenticates
 * itself (every entry signed, chained, and its head on-chain), so it needs none of the key
 * store's row sealing and MACs; and the key store's manifest (one MAC per row, rewritten on
 * every write) would make each release cost O(log size). A separate file keeps the key store,
 * its backups and its doctor checks unchanged.
 *
 * **Append-only, write before answering.** `append` is synchronous (the entry is committed to
 * the file: it survives a crash of the process) and `durable()` resolves once every entry
 * appended so far is on stable storage (it survives power loss too); the handler does both
 * before it seals and sends the answer, so no crash loses the receipt of an answer that left
 * the node. The SQLite file refuses UPDATE and DELETE (triggers): the node itself cannot
 * rewrite history, and anyone who edits the file around them is caught by verifiers against
 * the on-chain head, not by this module.
 *
 * **Durability modes** (`docs/benchmarks.md`, "Release receipts"; WAL journal in each):
 * - `background` (the node's default): `synchronous = NORMAL` for the insert — the entry is in
 *   the file before the answer leaves, so a crash of the process loses nothing — and one
 *   fdatasync of the WAL file at most every `BACKGROUND_SYNC_MS` after an append, off the event
 *   loop; `durable()` does not wait for it. What the chain sees is always on stable storage:
 *   `durableHead()` is the head as of the last completed sync, and that is the head a
 *   confirmation commits. A power loss can lose the receipts of the last few milliseconds'
 *   answers, never an entry a committed head covers (verifiers would flag that).
 * - `group`: `synchronous = NORMAL` for the insert, then `durable()` fdatasyncs the
 *   WAL file off the event loop (libuv's thread pool), one sync shared by every entry appended
 *   before it started: a group commit. Same guarantee as `full` for every answer sent, at one
 *   fsync per batch instead of one per release with the event loop blocked.
 * - `full`: `synchronous = FULL`, SQLite fsyncs the WAL in every append (blocking).
 * - `normal`: no sync at all: survives a process crash, may lose the last entries on power loss.
 *
 * **Schema** (version 1, in `meta.schema_version`; a later version adds a migration step to
 * `MIGRATIONS` and never guesses at a newer file):
 *
 *   meta     (key TEXT PK, value TEXT)   schema_version, chain_id, registry, operator
 *   receipts (position INTEGER PK, app_id TEXT, receipt BLOB (243 bytes), signature BLOB, hash BLOB (32))
 *            index on (app_id, position); triggers refuse UPDATE and DELETE
 *
 * Opening checks scope and schema, then the whole chain (positions, prevHash links, each
 * stored hash = keccak256(receipt)) without signatures: a damaged log is refused with the
 * first broken position named, before the node appends to it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { decodeReceipt, entryHash, RECEIPT_BYTES, ZERO_HEAD } from '../crypto/receipt.ts';
import type { Hex } from '../protocol/ledger.ts';
import type { StoreScope } from './key-store.ts';

/** One stored entry. */
export interface ReceiptLogEntry {
  readonly position: number;
  readonly appId: Hex;
  /** The 243 receipt bytes. */
  readonly receipt: Uint8Array;
  /** The operator's signature over them. */
  readonly signature: Uint8Array;
  /** keccak256(receipt). */
  readonly hash: Hex;
}

export interface ReceiptLogHead {
  /** Entries in the log. */
  readonly count: number;
  /** Hash of the last entry; ZERO_HEAD when empty. */
  readonly hash: Hex;
}

export interface ReceiptQuery {
  /** First position (inclusive). */
  readonly from: number;
  /** Most entries returned. */
  readonly limit: number;
  /** Only entries of this app (lowercase bytes32 hex). */
  readonly appId?: Hex | undefined;
}

export type ReceiptLogErrorCode = 'corrupt' | 'scope-mismatch' | 'not-next' | 'closed';

export class ReceiptLogError extends Error {
  override readonly name = 'ReceiptLogError';
  constructor(readonly code: ReceiptLogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ReceiptLog {
  head(): ReceiptLogHead;
  /**
   * The newest head known to be on stable storage: what a confirmation may commit on-chain.
   * Equal to `head()` except in `background` mode between an append and its sync.
   */
  durableHead(): ReceiptLogHead;
  /** Resolves once every entry appended before the call is on stable storage (see the module header). */
  durable(): Promise<void>;
  /**
   * Appends the next entry and returns it once committed. The receipt must be at position
   * `head().count` and chain `head().hash` (else `not-next`: nothing is written).
   */
  append(receipt: Uint8Array, signature: Uint8Array): ReceiptLogEntry;
  /** Entries with position ≥ from, ascending, at most `limit` (of one app when `appId` is given). */
  list(q: ReceiptQuery): ReceiptLogEntry[];
  close(): void;
}

/** Checks that `receipt` is the next entry after `head`; returns its app id and hash. */
function checkNext(head: ReceiptLogHead, receipt: Uint8Array, signature: Uint8Array): { appId: Hex; hash: Hex } {
  if (!(receipt instanceof Uint8Array) || receipt.length !== RECEIPT_BYTES) throw new ReceiptLogError('not-next', `a receipt is ${RECEIPT_BYTES} bytes`);
  if (!(signature instanceof Uint8Array) || signature.length < 1 || signature.length > 255) throw new ReceiptLogError('not-next', 'a receipt signature is 1 to 255 bytes');
  const r = decodeReceipt(receipt);
  if (r.position !== head.count) throw new ReceiptLogError('not-next', `the receipt is for position ${r.position}, the log is at ${head.count}`);
  if (r.prevHash !== head.hash) throw new ReceiptLogError('not-next', `the receipt does not chain the log's head ${head.hash}`);
  return { appId: r.appId, hash: entryHash(receipt) };
}

function copyEntry(e: ReceiptLogEntry): ReceiptLogEntry {
  return { ...e, receipt: Uint8Array.from(e.receipt), signature: Uint8Array.from(e.signature) };
}

/** The in-memory log (tests, benchmarks): the same rules, nothing survives the process. */
export class MemoryReceiptLog implements ReceiptLog {
  readonly #entries: ReceiptLogEntry[] = [];
  #closed = false;

  head(): ReceiptLogHead {
    this.#open();
    const last = this.#entries.at(-1);
    return { count: this.#entries.length, hash: last?.hash ?? ZERO_HEAD };
  }

  async durable(): Promise<void> {
    this.#open();
  }

  durableHead(): ReceiptLogHead {
    return this.head();
  }

  append(receipt: Uint8Array, signature: Uint8Array): ReceiptLogEntry {
    const { appId, hash } = checkNext(this.head(), receipt, signature);
    const e: ReceiptLogEntry = { position: this.#entries.length, appId, receipt: Uint8Array.from(receipt), signature: Uint8Array.from(signature), hash };
    this.#entries.push(e);
    return copyEntry(e);
  }

  list(q: ReceiptQuery): ReceiptLogEntry[] {
    this.#open();
    const out: ReceiptLogEntry[] = [];
    for (let i = Math.max(0, q.from); i < this.#entries.length && out.length < q.limit; i++) {
      const e = this.#entries[i] as ReceiptLogEntry;
      if (q.appId === undefined || e.appId === q.appId) out.push(copyEntry(e));
    }
    return out;
  }

  close(): void {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new ReceiptLogError('closed', 'the receipt log was closed');
  }
}

// ---------------------------------------------------------------------------------------
// SQLite

export const RECEIPT_LOG_SCHEMA_VERSION = 1;

export type ReceiptLogSync = 'background' | 'group' | 'full' | 'normal';

/** `background` mode: the longest an appended entry waits for its fdatasync. */
export const BACKGROUND_SYNC_MS = 20;

const SCHEMA_V1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
CREATE TABLE receipts (
  position INTEGER PRIMARY KEY NOT NULL CHECK (position >= 0),
  app_id TEXT NOT NULL,
  receipt BLOB NOT NULL CHECK (length(receipt) = ${RECEIPT_BYTES}),
  signature BLOB NOT NULL,
  hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE INDEX receipts_by_app ON receipts (app_id, position);
CREATE TRIGGER receipts_append_only_update BEFORE UPDATE ON receipts BEGIN SELECT RAISE(ABORT, 'the receipt log is append-only'); END;
CREATE TRIGGER receipts_append_only_delete BEFORE DELETE ON receipts BEGIN SELECT RAISE(ABORT, 'the receipt log is append-only'); END;
`;

/** Schema steps: MIGRATIONS[v] takes a version-v file to version v + 1 (none yet beyond creation). */
const MIGRATIONS: Readonly<Record<number, (db: Database.Database) => void>> = {};

export interface OpenSqliteReceiptLogOptions {
  readonly path: string;
  /** Whose log this is; an existing file of another chain, registry or operator is refused. */
  readonly scope: StoreScope;
  /** How appends reach stable storage (module header): `background` (default), `group`, `full` or `normal`. */
  readonly synchronous?: ReceiptLogSync;
}

interface Row {
  position: number;
  app_id: string;
  receipt: Buffer;
  signature: Buffer;
  hash: Buffer;
}

function rowEntry(r: Row): ReceiptLogEntry {
  return {
    position: r.position, appId: r.app_id as Hex, receipt: new Uint8Array(r.receipt),
    signature: new Uint8Array(r.signature), hash: `0x${r.hash.toString('hex')}` as Hex,
  };
}

/** Opens (or creates) the log at `path` and checks it whole (module header). */
export function openSqliteReceiptLog(opts: OpenSqliteReceiptLogOptions): SqliteReceiptLog {
  const path = resolve(opts.path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw new ReceiptLogError('corrupt', `${path} could not be opened as a receipt log: ${(e as Error).message}`, { cause: e });
  }
  try {
    db.pragma('journal_mode = WAL');
    const sync = opts.synchronous ?? 'background';
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    const scope = { chain_id: opts.scope.chainId.toString(), registry: opts.scope.registry.toLowerCase(), operator: opts.scope.operator.toLowerCase() };
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    if (!hasMeta) {
      db.transaction(() => {
        db.exec(SCHEMA_V1);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('schema_version', String(RECEIPT_LOG_SCHEMA_VERSION));
        for (const [k, v] of Object.entries(scope)) put.run(k, v);
      })();
    }
    const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    let version = Number(meta.get('schema_version'));
    if (!Number.isInteger(version) || version < 1 || version > RECEIPT_LOG_SCHEMA_VERSION) {
      throw new ReceiptLogError('corrupt', `${path} has receipt log schema version ${String(meta.get('schema_version')).slice(0, 20)}; this build reads up to ${RECEIPT_LOG_SCHEMA_VERSION}`);
    }
    for (; version < RECEIPT_LOG_SCHEMA_VERSION; version++) {
      const step = MIGRATIONS[version];
      if (step === undefined) throw new Error(`unreachable: no receipt log migration from schema version ${version}`);
      db.transaction(() => {
        step(db);
        db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(version + 1));
      })();
    }
    for (const [k, v] of Object.entries(scope)) {
      if (meta.get(k) !== v) throw new ReceiptLogError('scope-mismatch', `the receipt log ${path} belongs to ${k} ${String(meta.get(k))}, not ${v}`);
    }
    return new SqliteReceiptLog(db, path, checkChain(db, path), sync);
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Walks the stored log once: positions 0…n−1, each hash = keccak256(receipt), each prevHash the one before. */
function checkChain(db: Database.Database, path: string): ReceiptLogHead {
  let count = 0;
  let prev: Hex = ZERO_HEAD;
  const damaged = (why: string) => new ReceiptLogError('corrupt', `the receipt log ${path} is damaged at position ${count}: ${why}. It is the node's public audit trail: keep the file for investigation and move it aside to start a new log (verifiers will report this operator inconsistent with its committed head)`);
  for (const r of db.prepare('SELECT position, app_id, receipt, signature, hash FROM receipts ORDER BY position').iterate() as IterableIterator<Row>) {
    if (r.position !== count) throw damaged(`found position ${r.position}`);
    let hash: Hex;
    let receipt;
    try {
      receipt = decodeReceipt(new Uint8Array(r.receipt));
      hash = entryHash(new Uint8Array(r.receipt));
    } catch (e) {
      throw damaged((e as Error).message);
    }
    if (receipt.position !== count || receipt.prevHash !== prev || receipt.appId !== r.app_id) throw damaged('the receipt does not chain the entry before it');
    if (`0x${r.hash.toString('hex')}` !== hash) throw damaged('the stored hash is not the receipt\'s');
    prev = hash;
    count++;
  }
  return { count, hash: prev };
}

export class SqliteReceiptLog implements ReceiptLog {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #listAll: Database.Statement;
  readonly #listApp: Database.Statement;
  #head: ReceiptLogHead;
  #closed = false;
  readonly #sync: ReceiptLogSync;
  /** Group commit: the sync in flight, and the one queued behind it (covers later appends). */
  #syncing: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #wal: FileHandle | null = null;
  /** `background`: the head as of the last completed sync, and the timer of the next one. */
  #synced: ReceiptLogHead;
  #timer: NodeJS.Timeout | null = null;
  /**
   * Write batching: entries appended in one turn of the event loop are inserted in one
   * transaction right after it (setImmediate): a commit per entry was most of a receipt's
   * cost. `#persisted` is the head in the file; `#written` settles when the batch is in it.
   */
  #pending: [number, string, Buffer, Buffer, Buffer][] = [];
  #persisted: ReceiptLogHead;
  #written: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | null = null;
  #flushTimer: NodeJS.Immediate | null = null;
  readonly #insertMany: (rows: readonly [number, string, Buffer, Buffer, Buffer][]) => void;

  constructor(db: Database.Database, readonly path: string, head: ReceiptLogHead, sync: ReceiptLogSync = 'background') {
    this.#db = db;
    this.#head = head;
    // What the file held at open was committed by an earlier process: a checkpoint at its
    // close, or the sync of its last batch, made it durable (or it was lost before this open).
    this.#synced = head;
    this.#persisted = head;
    this.#sync = sync;
    this.#insert = db.prepare('INSERT INTO receipts (position, app_id, receipt, signature, hash) VALUES (?, ?, ?, ?, ?)');
    this.#listAll = db.prepare('SELECT position, app_id, receipt, signature, hash FROM receipts WHERE position >= ? ORDER BY position LIMIT ?');
    this.#listApp = db.prepare('SELECT position, app_id, receipt, signature, hash FROM receipts WHERE app_id = ? AND position >= ? ORDER BY position LIMIT ?');
    this.#insertMany = db.transaction((rows: readonly [number, string, Buffer, Buffer, Buffer][]) => {
      for (const r of rows) this.#insert.run(...r);
    });
  }

  /** Inserts the pending batch now (one transaction). On failure the head goes back to the file's and every waiter is rejected. */
  #flush(): void {
    if (this.#flushTimer !== null) clearImmediate(this.#flushTimer);
    this.#flushTimer = null;
    const rows = this.#pending;
    const written = this.#written;
    this.#pending = [];
    this.#written = null;
    if (rows.length === 0) return;
    try {
      this.#insertMany(rows);
      this.#persisted = { count: (rows.at(-1)?.[0] ?? -1) + 1, hash: `0x${(rows.at(-1)?.[4] as Buffer).toString('hex')}` as Hex };
      written?.resolve();
    } catch (e) {
      // Nothing of the batch is in the file: receipts chained on it must not be answered.
      this.#head = this.#persisted;
      written?.reject(e);
    }
  }

  head(): ReceiptLogHead {
    this.#open();
    return this.#head;
  }

  append(receipt: Uint8Array, signature: Uint8Array): ReceiptLogEntry {
    this.#open();
    const { appId, hash } = checkNext(this.#head, receipt, signature);
    const position = this.#head.count;
    this.#pending.push([position, appId, Buffer.from(receipt), Buffer.from(signature), Buffer.from(hash.slice(2), 'hex')]);
    if (this.#written === null) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined); // observed by durable(); never an unhandled rejection
      this.#written = { promise, resolve, reject };
      this.#flushTimer = setImmediate(() => this.#flush());
    }
    this.#head = { count: position + 1, hash };
    if (this.#sync === 'background' && this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.#backgroundSync();
      }, BACKGROUND_SYNC_MS);
      this.#timer.unref();
    }
    return { position, appId, receipt: Uint8Array.from(receipt), signature: Uint8Array.from(signature), hash };
  }

  /**
   * `group`: one fdatasync of the WAL file per batch. A caller arriving while a sync runs
   * waits for the next one (its entry may have been written after the running sync began); at
   * most one is queued, and every caller arriving meanwhile shares it.
   */
  async durable(): Promise<void> {
    if (this.#closed) throw new ReceiptLogError('closed', 'the receipt log was closed');
    // In the file (the batch this caller's entry is in), then, in `group` mode, on disk.
    if (this.#written !== null) await this.#written.promise;
    if (this.#sync === 'group') await this.#groupSync();
  }

  durableHead(): ReceiptLogHead {
    this.#open();
    return this.#sync === 'background' ? this.#synced : this.#head;
  }

  /** `background`: syncs every entry appended so far (shares a sync in flight); the next tick's timer covers later ones. */
  async #backgroundSync(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    const covered = this.#persisted;
    try {
      await this.#groupSync();
      if (covered.count > this.#synced.count) this.#synced = covered;
    } catch {
      // A failed sync leaves `durableHead` where it was: the entries stay uncommitted on-chain
      // and the next append schedules another attempt.
    }
  }

  #groupSync(): Promise<void> {
    if (this.#syncing === null) {
      this.#syncing = this.#fdatasync().finally(() => { this.#syncing = null; });
      return this.#syncing;
    }
    this.#queued ??= this.#syncing.catch(() => undefined).then(() => {
      this.#queued = null;
      return this.#groupSync();
    });
    return this.#queued;
  }

  async #fdatasync(): Promise<void> {
    // The WAL file exists from the first commit on and keeps its inode while the connection is
    // open (SQLite rewinds it after a checkpoint, having synced the database file first).
    this.#wal ??= await open(`${this.path}-wal`, 'r+');
    await this.#wal.datasync();
  }

  list(q: ReceiptQuery): ReceiptLogEntry[] {
    this.#open();
    this.#flush();
    const from = Math.max(0, q.from);
    const rows = (q.appId === undefined ? this.#listAll.all(from, q.limit) : this.#listApp.all(q.appId, from, q.limit)) as Row[];
    return rows.map(rowEntry);
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // The handle is only ever synced; closing it with a sync in flight is safe (the sync resolves or rejects).
    void this.#wal?.close().catch(() => undefined);
    this.#wal = null;
    // The last connection's close checkpoints the WAL into the database, syncing both
    // (synchronous = NORMAL syncs around a checkpoint): nothing appended is left unsynced.
    this.#db.close();
  }

  #open(): void {
    if (this.#closed) throw new ReceiptLogError('closed', 'the receipt log was closed');
  }
}
