/**
 * @module
 * The default `KeyStore`: one SQLite file (better-sqlite3@12) in the node's data directory.
 *
 * Schema (version 1; every table STRICT):
 *
 *   meta         (key TEXT PK, value ANY)   schema_version '1', chain_id (decimal), registry,
 *                                           operator, key_check (sealed blob), mpk (once bound)
 *   versions     (id INTEGER PK, status, public_poly, public_poly_hash, threshold,
 *                 holders JSON, confirmed_at, activated_at, share BLOB sealed)
 *   session_keys (public_key TEXT PK, created_at, secret BLOB sealed)
 *   round_states (session INTEGER PK, state BLOB sealed JSON)
 *   kv           (key TEXT PK, value TEXT)  the KeyStore's getMeta/setMeta, in clear
 *
 * Public fields stay in clear so an operator can inspect a store with the sqlite3 shell;
 * secrets are sealed with `store-crypto.ts` (AES-256-GCM, the row's identity as AAD). A
 * share is sealed as 32 bytes big-endian.
 *
 * Durability: WAL journal with `synchronous=FULL` (a committed transaction survives power
 * loss), `secure_delete=ON` (a deleted session secret or share is overwritten, not left in
 * a free page for whoever later learns the storage key), and `locking_mode=EXCLUSIVE` (a
 * second node process on the same data directory is refused with `in-use` instead of both
 * dealing from one share).
 *
 * Opening:
 * - A new store is built in a temporary file next to the target and hard-linked into place
 *   only when complete, so the path either names a whole store or nothing (a crash during
 *   creation leaves no half-made store that a later open would have to guess about). File
 *   mode 0600, missing parent directories created 0700.
 * - An existing store is first checked through a read-only connection: schema version,
 *   scope, key check. A refusal therefore never writes: the file stays byte-identical even
 *   when a crash left committed pages in the WAL (a read-write close would checkpoint them).
 *   Side files that the read-only connection had to create (empty -wal, -shm) are removed.
 */
import Database from 'better-sqlite3';
import { randomBytes, type KeyObject } from 'node:crypto';
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
  roundStateJson,
  type KeyStore,
  type StoreScope,
  type StoredSessionKey,
  type StoredVersion,
  type VersionStatus,
} from './key-store.ts';
import { bytesToShare, importStorageKey, makeKeyCheck, openValue, rowAad, sealValue, shareToBytes, verifyKeyCheck } from './store-crypto.ts';

export const SCHEMA_VERSION = '1';

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

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value ANY NOT NULL) STRICT;
CREATE TABLE versions (
  id INTEGER PRIMARY KEY NOT NULL CHECK (id >= 0),
  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
  public_poly TEXT NOT NULL,
  public_poly_hash TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  holders TEXT NOT NULL,
  confirmed_at INTEGER NOT NULL,
  activated_at INTEGER,
  share BLOB NOT NULL
) STRICT;
CREATE TABLE session_keys (public_key TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, secret BLOB NOT NULL) STRICT;
CREATE TABLE round_states (session INTEGER PRIMARY KEY NOT NULL, state BLOB NOT NULL) STRICT;
CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
`;
const TABLES = ['meta', 'versions', 'session_keys', 'round_states', 'kv'];

/**
 * Opens (or creates) the key store at `path` for `scope`. Refuses, before any write and
 * leaving the file byte-identical:
 * - `corrupt`: not a SQLite file, not a key store, or an unknown schema version;
 * - `scope-mismatch`: another chain, registry or operator ("this key store belongs to
 *   chain 1, not 31337");
 * - `wrong-storage-key`: "the storage key does not open this key store";
 * - `in-use`: another process has it open.
 */
export function openSqliteKeyStore(opts: OpenSqliteKeyStoreOptions): SqliteKeyStore {
  if (typeof opts !== 'object' || opts === null) throw new KeyStoreError('bad-argument', 'openSqliteKeyStore: expected {path, storageKey, scope}');
  if (typeof opts.path !== 'string' || opts.path.length === 0) throw new KeyStoreError('bad-argument', 'key store path: expected a non-empty string');
  const scope = checkScope(opts.scope);
  const key = importStorageKey(opts.storageKey);
  const timeout = opts.busyTimeoutMs ?? 1000;
  const path = resolve(opts.path);

  if (!existsSync(path)) createStore(path, scope, key);
  if (!lstatSync(path).isFile()) throw new KeyStoreError('bad-argument', `key store path ${path} is not a regular file`);

  checkReadOnly(path, scope, key, timeout);

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
    // The first read takes the exclusive lock; checking again closes the window between
    // the read-only check and this connection (another process could have replaced the file).
    checkHeader(db, path, scope, key);
    // Only now may the open write: a store someone switched to another journal mode is put
    // back to WAL.
    if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') db.pragma('journal_mode = WAL');
    return new SqliteKeyStore(db, path, scope, key);
  } catch (e) {
    db.close();
    throw mapOpenError(e, path);
  }
}

/** Builds a complete empty store in a temporary file, then links it into place. */
function createStore(path: string, scope: StoreScope, key: KeyObject): void {
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
        db.exec(SCHEMA);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('schema_version', SCHEMA_VERSION);
        put.run('chain_id', scope.chainId.toString());
        put.run('registry', scope.registry);
        put.run('operator', scope.operator);
        put.run('key_check', makeKeyCheck(key));
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
function checkReadOnly(path: string, scope: StoreScope, key: KeyObject, timeout: number): void {
  const wal = `${path}-wal`;
  const shm = `${path}-shm`;
  const hadWal = existsSync(wal);
  const hadShm = existsSync(shm);
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout });
    try {
      checkHeader(db, path, scope, key);
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

/** Schema version, then scope, then key check, then the MPK's format. Reads only. */
function checkHeader(db: Database.Database, path: string, scope: StoreScope, key: KeyObject): void {
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  if (!tables.has('meta')) throw new KeyStoreError('corrupt', `${path} is not an eigenx-kms key store (it has no meta table)`);
  const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
  const version = meta.get('schema_version');
  if (version !== SCHEMA_VERSION) {
    throw new KeyStoreError('corrupt', `${path} has key store schema version ${String(version).slice(0, 20)}; this build reads version ${SCHEMA_VERSION}`);
  }
  const missing = TABLES.filter((t) => !tables.has(t));
  if (missing.length > 0) throw new KeyStoreError('corrupt', `${path} is damaged: missing table ${missing.join(', ')}`);
  const text = (k: string): string => {
    const v = meta.get(k);
    if (typeof v !== 'string') throw new KeyStoreError('corrupt', `${path} is damaged: meta ${k} is missing`);
    return v;
  };
  const chainId = text('chain_id');
  if (chainId !== scope.chainId.toString()) throw mismatch(`chain ${chainId}, not ${scope.chainId}`);
  const registry = text('registry');
  if (registry !== scope.registry) throw mismatch(`registry ${registry}, not ${scope.registry}`);
  const operator = text('operator');
  if (operator !== scope.operator) throw mismatch(`operator ${operator}, not ${scope.operator}`);
  const check = meta.get('key_check');
  if (!(check instanceof Uint8Array)) throw new KeyStoreError('corrupt', `${path} is damaged: meta key_check is missing`);
  verifyKeyCheck(key, check);
  const mpk = meta.get('mpk');
  if (mpk === undefined) return;
  try {
    checkMpk(mpk);
  } catch (cause) {
    throw new KeyStoreError('corrupt', `${path} is damaged: meta mpk is not a 96-byte hex point`, { cause });
  }
}

function mismatch(what: string): KeyStoreError {
  // Scope values are public (chain id, contract and operator addresses): naming them is the fix.
  return new KeyStoreError('scope-mismatch', `this key store belongs to ${what}`);
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

interface VersionRow {
  id: number;
  status: string;
  public_poly: string;
  public_poly_hash: string;
  threshold: number;
  holders: string;
  confirmed_at: number;
  activated_at: number | null;
  share: Uint8Array;
}
interface SessionKeyRow {
  public_key: string;
  created_at: number;
  secret: Uint8Array;
}

const VERSION_COLUMNS = 'id, status, public_poly, public_poly_hash, threshold, holders, confirmed_at, activated_at, share';

export class SqliteKeyStore implements KeyStore {
  readonly scope: StoreScope;
  /** The resolved file path (public; used in messages and by the node's status). */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #key: KeyObject;
  readonly #s;

  /** Use `openSqliteKeyStore`: it runs the checks this constructor assumes. */
  constructor(db: Database.Database, path: string, scope: StoreScope, key: KeyObject) {
    this.#db = db;
    this.path = path;
    this.scope = scope;
    this.#key = key;
    this.#s = {
      getMeta: db.prepare<[string], { value: unknown }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      putVersion: db.prepare(`INSERT OR REPLACE INTO versions (${VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      getVersion: db.prepare<[number], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM versions WHERE id = ?`),
      listVersions: db.prepare<[], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM versions ORDER BY id`),
      activeVersion: db.prepare<[], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM versions WHERE status = 'active' ORDER BY id DESC LIMIT 1`),
      versionAt: db.prepare<[number], VersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM versions WHERE status <> 'pending' AND activated_at IS NOT NULL AND activated_at <= ? ORDER BY id DESC LIMIT 1`,
      ),
      setStatus: db.prepare<[string, number | null, number]>('UPDATE versions SET status = ?, activated_at = ? WHERE id = ?'),
      deleteVersion: db.prepare<[number]>('DELETE FROM versions WHERE id = ?'),
      putSessionKey: db.prepare<[string, number, Buffer]>('INSERT OR REPLACE INTO session_keys (public_key, created_at, secret) VALUES (?, ?, ?)'),
      getSessionKey: db.prepare<[string], SessionKeyRow>('SELECT public_key, created_at, secret FROM session_keys WHERE public_key = ?'),
      listSessionKeys: db.prepare<[], SessionKeyRow>('SELECT public_key, created_at, secret FROM session_keys ORDER BY created_at, public_key'),
      deleteSessionKey: db.prepare<[string]>('DELETE FROM session_keys WHERE public_key = ?'),
      putRoundState: db.prepare<[number, Buffer]>('INSERT OR REPLACE INTO round_states (session, state) VALUES (?, ?)'),
      getRoundState: db.prepare<[number], { state: Uint8Array }>('SELECT state FROM round_states WHERE session = ?'),
      deleteRoundState: db.prepare<[number]>('DELETE FROM round_states WHERE session = ?'),
      listRoundStates: db.prepare<[], { session: number }>('SELECT session FROM round_states ORDER BY session'),
      getKv: db.prepare<[string], { value: string }>('SELECT value FROM kv WHERE key = ?'),
      setKv: db.prepare<[string, string]>('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
  }

  #live(): void {
    if (!this.#db.open) throw new KeyStoreError('closed', 'the key store is closed');
  }

  #aad(table: string, rowKey: string | number): string {
    return rowAad(this.scope, table, String(rowKey));
  }

  mpk(): Hex | null {
    this.#live();
    const row = this.#s.getMeta.get('mpk');
    return row === undefined ? null : (row.value as Hex);
  }

  bindMpk(mpk: Hex): void {
    const m = checkMpk(mpk);
    const current = this.mpk();
    if (current === m) return;
    if (current !== null) {
      throw new KeyStoreError('scope-mismatch', `this key store is bound to master public key ${current.slice(0, 18)}…, not ${m.slice(0, 18)}…`);
    }
    this.#s.setMeta.run('mpk', m);
  }

  putVersion(v: StoredVersion): void {
    const c = checkVersion(v, this.mpk());
    const share = sealValue(this.#key, this.#aad('versions', c.id), shareToBytes(c.share));
    this.#s.putVersion.run(c.id, c.status, c.publicPoly, c.publicPolyHash, c.threshold, JSON.stringify(c.holders), c.confirmedAt, c.activatedAt, share);
  }

  getVersion(id: number): StoredVersion | null {
    this.#live();
    const row = this.#s.getVersion.get(checkUint(id, 'version id'));
    return row === undefined ? null : this.#version(row);
  }

  listVersions(): StoredVersion[] {
    this.#live();
    return this.#s.listVersions.all().map((r) => this.#version(r));
  }

  activeVersion(): StoredVersion | null {
    this.#live();
    const row = this.#s.activeVersion.get();
    return row === undefined ? null : this.#version(row);
  }

  versionAt(t: number): StoredVersion | null {
    this.#live();
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new KeyStoreError('bad-argument', 'versionAt: t must be a finite number');
    const row = this.#s.versionAt.get(t);
    return row === undefined ? null : this.#version(row);
  }

  #version(row: VersionRow): StoredVersion {
    const what = `the share of version ${row.id}`;
    const bytes = openValue(this.#key, this.#aad('versions', row.id), row.share, what);
    if (bytes.length !== SHARE_BYTES) throw new KeyStoreError('corrupt', `${what} has the wrong length`);
    let holders: unknown;
    try {
      holders = JSON.parse(row.holders);
    } catch (cause) {
      throw new KeyStoreError('corrupt', `version ${row.id} in the key store is damaged: holders is not JSON`, { cause });
    }
    try {
      // Re-validated on the way out: a row edited by hand must not reach the protocol.
      const checked = checkVersion(
        {
          id: row.id,
          status: row.status as VersionStatus,
          share: bytesToShare(bytes),
          publicPoly: row.public_poly as Hex,
          publicPolyHash: row.public_poly_hash as Hex,
          threshold: row.threshold,
          holders: holders as Hex[],
          confirmedAt: row.confirmed_at,
          activatedAt: row.activated_at,
        },
        null,
      );
      return copyVersion(checked); // caller-owned and mutable, as from the memory store
    } catch (cause) {
      const detail = cause instanceof KeyStoreError ? cause.message : 'invalid row';
      throw new KeyStoreError('corrupt', `version ${row.id} in the key store is damaged (${detail})`, { cause });
    }
  }

  setVersionStatus(id: number, status: VersionStatus, activatedAt?: number): void {
    this.#live();
    const current = this.getVersion(id);
    if (current === null) throw new KeyStoreError('not-found', `version ${id} is not in the key store`);
    const at = checkStatusChange(current, status, activatedAt);
    this.#s.setStatus.run(status, at, id);
  }

  deleteVersion(id: number): void {
    this.#live();
    this.#s.deleteVersion.run(checkUint(id, 'version id'));
  }

  putSessionKey(k: StoredSessionKey): void {
    this.#live();
    const c = checkSessionKey(k);
    this.#s.putSessionKey.run(c.publicKey, c.createdAt, sealValue(this.#key, this.#aad('session_keys', c.publicKey), c.secretKey));
  }

  getSessionKey(publicKey: Hex): StoredSessionKey | null {
    this.#live();
    const row = this.#s.getSessionKey.get(checkSessionPublicKey(publicKey));
    return row === undefined ? null : this.#sessionKey(row);
  }

  listSessionKeys(): StoredSessionKey[] {
    this.#live();
    return this.#s.listSessionKeys.all().map((r) => this.#sessionKey(r));
  }

  #sessionKey(row: SessionKeyRow): StoredSessionKey {
    const what = `the secret of session key ${row.public_key}`;
    const secretKey = openValue(this.#key, this.#aad('session_keys', row.public_key), row.secret, what);
    if (secretKey.length !== SESSION_SECRET_KEY_BYTES) throw new KeyStoreError('corrupt', `${what} has the wrong length`);
    return { publicKey: row.public_key as Hex, secretKey, createdAt: row.created_at };
  }

  deleteSessionKey(publicKey: Hex): void {
    this.#live();
    this.#s.deleteSessionKey.run(checkSessionPublicKey(publicKey));
  }

  putRoundState(session: number, state: unknown): void {
    this.#live();
    const id = checkUint(session, 'session');
    const json = roundStateJson(id, state);
    this.#s.putRoundState.run(id, sealValue(this.#key, this.#aad('round_states', id), Buffer.from(json, 'utf8')));
  }

  getRoundState(session: number): unknown {
    this.#live();
    const id = checkUint(session, 'session');
    const row = this.#s.getRoundState.get(id);
    if (row === undefined) return null;
    const what = `the round state of session ${id}`;
    const json = Buffer.from(openValue(this.#key, this.#aad('round_states', id), row.state, what)).toString('utf8');
    try {
      return JSON.parse(json) as unknown;
    } catch (cause) {
      throw new KeyStoreError('corrupt', `${what} is not valid JSON`, { cause });
    }
  }

  listRoundStates(): number[] {
    this.#live();
    return this.#s.listRoundStates.all().map((r) => r.session);
  }

  deleteRoundState(session: number): void {
    this.#live();
    this.#s.deleteRoundState.run(checkUint(session, 'session'));
  }

  getMeta(key: string): string | null {
    this.#live();
    return this.#s.getKv.get(checkMetaKey(key))?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.#live();
    const k = checkMetaKey(key);
    this.#s.setKv.run(k, checkMetaValue(k, value));
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
    this.#live();
    // better-sqlite3 rolls back on throw and turns nested calls into savepoints.
    return this.#db.transaction(() => {
      const result = fn();
      assertSync(result);
      return result;
    })();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
