/**
 * @module
 * The default `KeyStore`: one SQLite file (better-sqlite3@12) in the node's data directory.
 *
 * **Schema version 2** (`sqlite-store-rows.ts` has the tables): public columns in clear, so
 * an operator can read a store with the sqlite3 shell; secrets sealed with AES-256-GCM under
 * a key derived from the storage key, bound to their row and store (`store-crypto.ts`); and
 * **every row of every table authenticated** (an HMAC over all its columns under another
 * derived key) and listed in an authenticated manifest. An edited, moved, foreign, deleted,
 * added or rolled-back row is refused (`corrupt`, naming the table and row) when the store
 * opens, and again when the row is read. Rolling back the whole file to an older copy of
 * itself cannot be detected from the file alone (docs/operations.md). A share is sealed as 32
 * bytes big-endian.
 *
 * **Upgrading from schema version 1** happens automatically at the first open by this build,
 * in one transaction, after the whole v1 store passed the v1 checks (`sqlite-store-v1.ts`):
 * a crash leaves the v1 store as it was. `upgradedFrom` says it happened (the node logs it).
 * A store of a newer schema is refused, never guessed at.
 *
 * **Durability**: WAL journal with `synchronous=FULL` (a committed transaction survives power
 * loss) and `locking_mode=EXCLUSIVE` (a second node process on the same data directory is
 * refused with `in-use` instead of both dealing from one share).
 *
 * **Deleted secrets leave no bytes** (finding 1 of the security review): `secure_delete=ON`
 * zeroes deleted rows and freed pages in the pages SQLite writes, and `temp_store=MEMORY`
 * keeps sorts and statement journals off the disk; but in WAL mode the older images of a
 * page stay in the `-wal` file (and the database file keeps its old page) until a checkpoint.
 * So every transaction that deleted or replaced a sealed secret (a version's share, a session
 * secret, a round state) ends, after its commit, with `wal_checkpoint(TRUNCATE)`: the zeroed
 * pages reach the database file and the WAL is emptied, before the call returns (a few ms:
 * one more fsync; docs/benchmarks.md). A status change rewrites a version with the very blob
 * it had, and frees nothing. The open checkpoints once too, for a crash between a commit and
 * its checkpoint. (Copies of old blocks that the file system or the disk keeps below the
 * file are beyond SQLite's reach: use full-disk encryption.)
 *
 * **Opening**:
 * - A new store is built in a temporary file next to the target and hard-linked into place
 *   only when complete, so the path either names a whole store or nothing (a crash during
 *   creation leaves no half-made store that a later open would have to guess about). File
 *   mode 0600, missing parent directories created 0700.
 * - An existing store is first checked through a read-only connection: schema version and
 *   schema objects, scope, key check, every row (v2) or every row's v1 validity (v1). A
 *   refusal therefore never writes: the file stays byte-identical even when a crash left
 *   committed pages in the WAL (a read-write close would checkpoint them). Side files that the
 *   read-only connection had to create (empty -wal, -shm) are removed.
 * - The read-write connection checks again under its exclusive lock, then upgrades a v1 store.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Hex } from '../protocol/ledger.ts';
import {
  KeyStoreError,
  SHARE_BYTES,
  SESSION_SECRET_KEY_BYTES,
  assertSync,
  checkMetaKey,
  checkMetaValue,
  checkMpk,
  checkScope,
  checkSessionKey,
  checkSessionPublicKey,
  checkStatusChange,
  checkUint,
  checkVersion,
  copyVersion,
  isActiveVersion,
  roundStateJson,
  wasActiveAt,
  type KeyStore,
  type StoreScope,
  type StoredSessionKey,
  type StoredVersion,
  type VersionStatus,
} from './key-store.ts';
import { SCHEMA_V2, SCHEMA_VERSION_V2, StoreRows, TABLES, openRows, versionValues, type Row } from './sqlite-store-rows.ts';
import { SCHEMA_VERSION_V1, migrateV1, readV1 } from './sqlite-store-v1.ts';
import { bytesToShare, deriveStoreKeys, shareToBytes, type StoreKeys } from './store-crypto.ts';

/** The schema version this build writes. */
export const SCHEMA_VERSION = SCHEMA_VERSION_V2;

export interface OpenSqliteKeyStoreOptions {
  /** The store file (created if missing). */
  readonly path: string;
  /** The 32-byte storage key (see `parseStorageKey`). Copied; the caller may wipe it. */
  readonly storageKey: Uint8Array;
  /** Who this store belongs to; an existing store with another scope is refused. */
  readonly scope: StoreScope;
  /** How long to wait for another process's lock before `in-use` (default 1000 ms). */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (or creates) the key store at `path` for `scope`, upgrading a schema-1 store.
 * Refuses, before any write and leaving the file byte-identical:
 * - `corrupt`: not a SQLite file, not a key store, an unknown schema version, a schema
 *   object added or changed, or a row that fails its checks ("… is damaged: versions row 3
 *   was altered (its contents do not match its authentication tag)");
 * - `scope-mismatch`: another chain, registry or operator ("this key store belongs to
 *   chain 1, not 31337");
 * - `wrong-storage-key`: "the storage key does not open this key store";
 * - `in-use`: another process has it open.
 */
export function openSqliteKeyStore(opts: OpenSqliteKeyStoreOptions): SqliteKeyStore {
  if (typeof opts !== 'object' || opts === null) throw new KeyStoreError('bad-argument', 'openSqliteKeyStore: expected {path, storageKey, scope}');
  if (typeof opts.path !== 'string' || opts.path.length === 0) throw new KeyStoreError('bad-argument', 'key store path: expected a non-empty string');
  const scope = checkScope(opts.scope);
  const keys = deriveStoreKeys(opts.storageKey);
  const timeout = opts.busyTimeoutMs ?? 1000;
  const path = resolve(opts.path);

  if (!existsSync(path)) createStore(path, scope, keys);
  if (!lstatSync(path).isFile()) throw new KeyStoreError('bad-argument', `key store path ${path} is not a regular file`);

  checkReadOnly(path, scope, keys, timeout);

  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout });
  } catch (e) {
    throw mapOpenError(e, path);
  }
  try {
    // Connection settings only; none of these writes to the file.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    db.pragma('temp_store = MEMORY');
    // The first read takes the exclusive lock; checking again closes the window between
    // the read-only check and this connection (another process could have replaced the file).
    const version = schemaVersion(db, path);
    const rows = version === SCHEMA_VERSION_V2 ? openRows(db, path, scope, keys) : null;
    // Only now may the open write: a store someone switched to another journal mode is put
    // back to WAL, a v1 store is upgraded, and the WAL is emptied.
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') db.pragma('journal_mode = WAL');
    const upgraded = rows ?? migrateV1(db, path, scope, keys);
    checkpoint(db);
    return new SqliteKeyStore(db, path, scope, upgraded, rows === null ? 1 : null);
  } catch (e) {
    db.close();
    throw mapOpenError(e, path);
  }
}

/**
 * Opens an existing store **read-only** for tools that must never write (`kms-server doctor`,
 * `kms-server backup`): the same checks as `openSqliteKeyStore` (schema, scope, storage key,
 * every row), through a read-only connection that is kept open. Every write method of the
 * result fails (SQLite refuses it). Refuses a missing file (`not-found`), a schema-1 store
 * (`corrupt`: start the node once to upgrade it) and a store a running node holds (`in-use`:
 * the node locks it exclusively). `close()` removes the side files the read-only connection
 * had to create, so the data directory is left as it was found.
 */
export function openSqliteKeyStoreReadOnly(opts: OpenSqliteKeyStoreOptions): SqliteKeyStore {
  if (typeof opts !== 'object' || opts === null) throw new KeyStoreError('bad-argument', 'openSqliteKeyStoreReadOnly: expected {path, storageKey, scope}');
  if (typeof opts.path !== 'string' || opts.path.length === 0) throw new KeyStoreError('bad-argument', 'key store path: expected a non-empty string');
  const scope = checkScope(opts.scope);
  const keys = deriveStoreKeys(opts.storageKey);
  const path = resolve(opts.path);
  if (!existsSync(path)) throw new KeyStoreError('not-found', `there is no key store at ${path}`);
  if (!lstatSync(path).isFile()) throw new KeyStoreError('bad-argument', `key store path ${path} is not a regular file`);
  const { db, cleanUp } = openReadOnlyConnection(path, opts.busyTimeoutMs ?? 1000);
  try {
    if (schemaVersion(db, path) !== SCHEMA_VERSION_V2) {
      throw new KeyStoreError('corrupt', `${path} is a schema version ${SCHEMA_VERSION_V1} key store: start the node once (it upgrades the store), then try again`);
    }
    const rows = openRows(db, path, scope, keys);
    return new ReadOnlySqliteKeyStore(db, path, scope, rows, cleanUp);
  } catch (e) {
    db.close();
    cleanUp();
    throw mapOpenError(e, path);
  }
}

/**
 * The scope a store file says it belongs to, read without the storage key and **not yet
 * authenticated**: a tool that is not told the chain (`kms-server backup` runs offline) learns
 * it here, then opens the store with it, and that open checks it under the storage key.
 */
export function peekStoreScope(path: string, busyTimeoutMs = 1000): StoreScope {
  const full = resolve(path);
  if (!existsSync(full)) throw new KeyStoreError('not-found', `there is no key store at ${full}`);
  const store = openReadOnlyConnection(full, busyTimeoutMs);
  try {
    schemaVersion(store.db, full);
    const get = (key: string): unknown => (store.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: unknown } | undefined)?.value;
    const chainId = get('chain_id');
    if (typeof chainId !== 'string' || !/^[1-9]\d{0,30}$/.test(chainId)) throw new KeyStoreError('corrupt', `${full} is damaged: its chain id is unreadable`);
    try {
      return checkScope({ chainId: BigInt(chainId), registry: get('registry') as Hex, operator: get('operator') as Hex });
    } catch (cause) {
      throw new KeyStoreError('corrupt', `${full} is damaged: its scope is unreadable`, { cause });
    }
  } catch (e) {
    throw mapOpenError(e, full);
  } finally {
    store.db.close();
    store.cleanUp();
  }
}

/** A read-only connection, and how to remove the side files it had to create. */
function openReadOnlyConnection(path: string, timeout: number): { db: Database.Database; cleanUp: () => void } {
  const wal = `${path}-wal`;
  const shm = `${path}-shm`;
  const hadWal = existsSync(wal);
  const hadShm = existsSync(shm);
  const cleanUp = () => {
    if (!hadWal && existsSync(wal) && statSync(wal).size === 0) unlinkSync(wal);
    if (!hadShm && existsSync(shm)) unlinkSync(shm);
  };
  try {
    return { db: new Database(path, { readonly: true, fileMustExist: true, timeout }), cleanUp };
  } catch (e) {
    cleanUp();
    throw mapOpenError(e, path);
  }
}

/** Builds a complete empty store in a temporary file, then links it into place. */
function createStore(path: string, scope: StoreScope, keys: StoreKeys): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.creating-${randomBytes(6).toString('hex')}`;
  // 'wx' + 0600: the file exists with owner-only permissions before SQLite writes a byte;
  // SQLite gives its -wal and -shm files the same mode.
  closeSync(openSync(tmp, 'wx', 0o600));
  try {
    const db = new Database(tmp, { fileMustExist: true });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.transaction(() => {
        db.exec(SCHEMA_V2);
        StoreRows.create(db, path, keys, scope, null).saveManifest();
      })();
      // Everything into the main file before it is linked: the -wal is not linked with it.
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, path); // fails if path appeared meanwhile: never overwrite a store
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    fsyncDir(dir);
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) if (existsSync(f)) unlinkSync(f);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** All checks through a read-only connection; removes the side files it had to create. */
function checkReadOnly(path: string, scope: StoreScope, keys: StoreKeys, timeout: number): void {
  const wal = `${path}-wal`;
  const shm = `${path}-shm`;
  const hadWal = existsSync(wal);
  const hadShm = existsSync(shm);
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout });
    try {
      // A v1 store is read whole and checked as its upgrade will vouch for it.
      if (schemaVersion(db, path) === SCHEMA_VERSION_V2) openRows(db, path, scope, keys);
      else readV1(db, path, scope, keys);
    } finally {
      db.close();
    }
  } catch (e) {
    throw mapOpenError(e, path);
  } finally {
    // A read-only connection to a WAL database creates an empty -wal and a -shm when they
    // are missing. Missing means nobody else had them in use (our own connections run in
    // exclusive mode, which holds the -wal open and needs no -shm), so they are ours to
    // remove, and a refused open leaves the directory as it found it. A -shm is only an
    // index of the -wal: the next open rebuilds it from the -wal.
    if (!hadWal && existsSync(wal) && statSync(wal).size === 0) unlinkSync(wal);
    if (!hadShm && existsSync(shm)) unlinkSync(shm);
  }
}

/** The store's schema version ('1' or '2'); refuses anything else. Reads only. */
function schemaVersion(db: Database.Database, path: string): string {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  if (!hasMeta) throw new KeyStoreError('corrupt', `${path} is not an eigenx-kms key store (it has no meta table)`);
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: unknown } | undefined;
  const version = row?.value;
  if (version !== SCHEMA_VERSION_V2 && version !== SCHEMA_VERSION_V1) {
    throw new KeyStoreError(
      'corrupt',
      `${path} has key store schema version ${String(version).slice(0, 20)}; this build reads version ${SCHEMA_VERSION_V2} (and upgrades version ${SCHEMA_VERSION_V1})`,
    );
  }
  return version;
}

/**
 * Empties the WAL into the database file (see the module comment). In exclusive locking mode
 * no other connection can hold a read that blocks it; if one ever did, the caller's write is
 * committed but a freed secret may still be in the WAL, which the error says.
 */
function checkpoint(db: Database.Database): void {
  const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
  if (r === undefined || r.busy !== 0) {
    throw new KeyStoreError('in-use', 'the key store could not empty its WAL (a reader holds it): a deleted secret may remain in the -wal file until the next write or close');
  }
}

function mapOpenError(e: unknown, path: string): unknown {
  if (e instanceof KeyStoreError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB') return new KeyStoreError('corrupt', `${path} is not an eigenx-kms key store (not a SQLite database)`, { cause: e });
  if (code === 'SQLITE_CORRUPT') return new KeyStoreError('corrupt', `${path} is a damaged SQLite database`, { cause: e });
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED') {
    return new KeyStoreError('in-use', `the key store ${path} is in use by another process`, { cause: e });
  }
  return e;
}

const { meta: META, versions: VERSIONS, session_keys: SESSION_KEYS, round_states: ROUND_STATES, kv: KV } = TABLES;

export class SqliteKeyStore implements KeyStore {
  readonly scope: StoreScope;
  /** The resolved file path (public; used in messages and by the node's status). */
  readonly path: string;
  /** The schema version this open upgraded the store from, or null when it was current. */
  readonly upgradedFrom: number | null;
  readonly #db: Database.Database;
  readonly #rows: StoreRows;
  /** Depth of nested transactions: the manifest is saved and the WAL emptied at depth 0. */
  #depth = 0;

  /** Use `openSqliteKeyStore`: it runs the checks this constructor assumes. */
  constructor(db: Database.Database, path: string, scope: StoreScope, rows: StoreRows, upgradedFrom: number | null) {
    this.#db = db;
    this.path = path;
    this.scope = scope;
    this.#rows = rows;
    this.upgradedFrom = upgradedFrom;
  }

  #live(): void {
    if (!this.#db.open) throw new KeyStoreError('closed', 'the key store is closed');
  }

  /**
   * Every write runs here: in a transaction (a savepoint when nested) whose outermost level
   * saves the manifest before it commits and, if a sealed secret was deleted or replaced,
   * empties the WAL after. A throw undoes the writes and the in-memory manifest alike.
   */
  #tx<T>(fn: () => T): T {
    this.#live();
    const rows = this.#rows;
    const outer = this.#depth === 0;
    const saved = rows.snapshot();
    this.#depth++;
    let result: T;
    try {
      result = this.#db.transaction(() => {
        const r = fn();
        assertSync(r);
        if (outer) rows.saveManifest();
        return r;
      })();
    } catch (e) {
      rows.restore(saved);
      throw e;
    } finally {
      this.#depth--;
    }
    if (outer && rows.freedSecret) {
      checkpoint(this.#db);
      rows.freedSecret = false;
    }
    return result;
  }

  mpk(): Hex | null {
    this.#live();
    const row = this.#rows.get(META, 'mpk');
    return row === null ? null : (row['value'] as Hex);
  }

  bindMpk(mpk: Hex): void {
    const m = checkMpk(mpk);
    this.#tx(() => {
      const current = this.mpk();
      if (current === m) return;
      if (current !== null) {
        throw new KeyStoreError('scope-mismatch', `this key store is bound to master public key ${current.slice(0, 18)}…, not ${m.slice(0, 18)}…`);
      }
      this.#rows.put(META, ['mpk', m]);
    });
  }

  putVersion(v: StoredVersion): void {
    this.#tx(() => {
      const c = checkVersion(v, this.mpk());
      const share = shareToBytes(c.share);
      this.#rows.put(VERSIONS, versionValues(c, this.#rows.seal('versions', c.id, share)));
      share.fill(0);
    });
  }

  getVersion(id: number): StoredVersion | null {
    this.#live();
    const row = this.#rows.get(VERSIONS, checkUint(id, 'version id'));
    return row === null ? null : this.#version(row);
  }

  listVersions(): StoredVersion[] {
    this.#live();
    return this.#rows.all(VERSIONS, 'id').map((r) => this.#version(r));
  }

  activeVersion(): StoredVersion | null {
    this.#live();
    return this.#newest((status) => isActiveVersion(status));
  }

  versionAt(t: number): StoredVersion | null {
    this.#live();
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new KeyStoreError('bad-argument', 'versionAt: t must be a finite number');
    return this.#newest((status, activatedAt) => wasActiveAt(status, activatedAt, t));
  }

  /**
   * The newest version satisfying the rule both stores share (`key-store.ts`): chosen from
   * the status columns of every version, then read (and checked) alone, so the release path
   * pays one row MAC, not one per version.
   */
  #newest(rule: (status: VersionStatus, activatedAt: number | null) => boolean): StoredVersion | null {
    let id: number | null = null;
    for (const r of this.#rows.peek(VERSIONS, ['id', 'status', 'activated_at'], 'id')) {
      if (rule(r['status'] as VersionStatus, r['activated_at'] as number | null)) id = r['id'] as number; // ascending: the last match is the newest
    }
    if (id === null) return null;
    const row = this.#rows.get(VERSIONS, id);
    // The checked row must agree with what chose it.
    if (row === null || !rule(row['status'] as VersionStatus, row['activated_at'] as number | null)) {
      throw new KeyStoreError('corrupt', `${this.path} is damaged: versions row ${id} changed while it was read`);
    }
    return this.#version(row);
  }

  #version(row: Row): StoredVersion {
    const id = row['id'] as number;
    const what = `the share of version ${id}`;
    const bytes = this.#rows.open('versions', id, row['share'] ?? null, what);
    if (bytes.length !== SHARE_BYTES) throw new KeyStoreError('corrupt', `${what} has the wrong length`);
    let holders: unknown;
    try {
      holders = JSON.parse(String(row['holders']));
    } catch (cause) {
      throw new KeyStoreError('corrupt', `version ${id} in the key store is damaged: holders is not JSON`, { cause });
    }
    try {
      // Re-validated on the way out: defence in depth behind the row MAC.
      const checked = checkVersion(
        {
          id,
          status: row['status'] as VersionStatus,
          share: bytesToShare(bytes),
          publicPoly: row['public_poly'] as Hex,
          publicPolyHash: row['public_poly_hash'] as Hex,
          threshold: row['threshold'] as number,
          holders: holders as Hex[],
          confirmedAt: row['confirmed_at'] as number,
          activatedAt: row['activated_at'] as number | null,
        },
        null,
      );
      return copyVersion(checked); // caller-owned and mutable, as from the memory store
    } catch (cause) {
      const detail = cause instanceof KeyStoreError ? cause.message : 'invalid row';
      throw new KeyStoreError('corrupt', `version ${id} in the key store is damaged (${detail})`, { cause });
    } finally {
      bytes.fill(0);
    }
  }

  setVersionStatus(id: number, status: VersionStatus, activatedAt?: number): void {
    this.#tx(() => {
      const row = this.#rows.get(VERSIONS, checkUint(id, 'version id'));
      if (row === null) throw new KeyStoreError('not-found', `version ${id} is not in the key store`);
      const at = checkStatusChange(this.#version(row), status, activatedAt);
      const values = VERSIONS.columns.map((c) => row[c] ?? null);
      values[VERSIONS.columns.indexOf('status')] = status;
      values[VERSIONS.columns.indexOf('activated_at')] = at;
      // The same sealed share as before: nothing secret is freed.
      this.#rows.put(VERSIONS, values, { sameSecret: true });
    });
  }

  deleteVersion(id: number): void {
    const key = checkUint(id, 'version id');
    this.#tx(() => this.#rows.delete(VERSIONS, key));
  }

  putSessionKey(k: StoredSessionKey): void {
    this.#live();
    const c = checkSessionKey(k);
    this.#tx(() => this.#rows.put(SESSION_KEYS, [c.publicKey, c.createdAt, this.#rows.seal('session_keys', c.publicKey, c.secretKey)]));
  }

  getSessionKey(publicKey: Hex): StoredSessionKey | null {
    this.#live();
    const row = this.#rows.get(SESSION_KEYS, checkSessionPublicKey(publicKey));
    return row === null ? null : this.#sessionKey(row);
  }

  listSessionKeys(): StoredSessionKey[] {
    this.#live();
    return this.#rows.all(SESSION_KEYS, 'created_at, public_key').map((r) => this.#sessionKey(r));
  }

  #sessionKey(row: Row): StoredSessionKey {
    const publicKey = row['public_key'] as Hex;
    const what = `the secret of session key ${publicKey}`;
    const secretKey = this.#rows.open('session_keys', publicKey, row['secret'] ?? null, what);
    if (secretKey.length !== SESSION_SECRET_KEY_BYTES) throw new KeyStoreError('corrupt', `${what} has the wrong length`);
    return { publicKey, secretKey, createdAt: row['created_at'] as number };
  }

  deleteSessionKey(publicKey: Hex): void {
    const key = checkSessionPublicKey(publicKey);
    this.#tx(() => this.#rows.delete(SESSION_KEYS, key));
  }

  putRoundState(session: number, state: unknown): void {
    this.#live();
    const id = checkUint(session, 'session');
    const json = Buffer.from(roundStateJson(id, state), 'utf8');
    this.#tx(() => this.#rows.put(ROUND_STATES, [id, this.#rows.seal('round_states', id, json)]));
    json.fill(0);
  }

  getRoundState(session: number): unknown {
    this.#live();
    const id = checkUint(session, 'session');
    const row = this.#rows.get(ROUND_STATES, id);
    if (row === null) return null;
    const what = `the round state of session ${id}`;
    const bytes = this.#rows.open('round_states', id, row['state'] ?? null, what);
    const json = Buffer.from(bytes).toString('utf8');
    bytes.fill(0);
    try {
      return JSON.parse(json) as unknown;
    } catch (cause) {
      throw new KeyStoreError('corrupt', `${what} is not valid JSON`, { cause });
    }
  }

  listRoundStates(): number[] {
    this.#live();
    return this.#rows.peek(ROUND_STATES, ['session'], 'session').map((r) => Number(r['session']));
  }

  deleteRoundState(session: number): void {
    const id = checkUint(session, 'session');
    this.#tx(() => this.#rows.delete(ROUND_STATES, id));
  }

  getMeta(key: string): string | null {
    this.#live();
    const row = this.#rows.get(KV, checkMetaKey(key));
    return row === null ? null : (row['value'] as string);
  }

  setMeta(key: string, value: string): void {
    this.#live();
    const k = checkMetaKey(key);
    const v = checkMetaValue(k, value);
    this.#tx(() => this.#rows.put(KV, [k, v]));
  }

  /** The connection's durability settings, for /status and tests. */
  settings(): { journalMode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; lockingMode: string; secureDelete: boolean } {
    this.#live();
    const sync = ['off', 'normal', 'full', 'extra'] as const;
    return {
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: sync[Number(this.#db.pragma('synchronous', { simple: true }))] ?? 'off',
      lockingMode: String(this.#db.pragma('locking_mode', { simple: true })),
      secureDelete: Number(this.#db.pragma('secure_delete', { simple: true })) === 1,
    };
  }

  transaction<T>(fn: () => T): T {
    // better-sqlite3 rolls back on throw and turns nested calls into savepoints.
    return this.#tx(fn);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** A `SqliteKeyStore` over a read-only connection whose `close()` also removes the side files it created. */
class ReadOnlySqliteKeyStore extends SqliteKeyStore {
  readonly #cleanUp: () => void;
  constructor(db: Database.Database, path: string, scope: StoreScope, rows: StoreRows, cleanUp: () => void) {
    super(db, path, scope, rows, null);
    this.#cleanUp = cleanUp;
  }

  override close(): void {
    super.close();
    this.#cleanUp();
  }
}
