/**
 * @module
 * The rows of a schema-2 SQLite key store, each one authenticated (security review, issue 12,
 * finding 9: "someone who can write the file can mark a retired version active").
 *
 * **Tables** (every table STRICT; `mac` is the row's HMAC, `store-crypto.ts`):
 *
 *   meta         (key TEXT PK, value ANY, mac)   schema_version '2', chain_id (decimal),
 *                                                registry, operator, store_id (16 random bytes),
 *                                                key_check (sealed), mpk (once bound), manifest
 *   versions     (id INTEGER PK, status, public_poly, public_poly_hash, threshold,
 *                 holders JSON, confirmed_at, activated_at, share BLOB sealed, mac)
 *   session_keys (public_key TEXT PK, created_at, secret BLOB sealed, mac)
 *   round_states (session INTEGER PK, state BLOB sealed JSON, mac)
 *   kv           (key TEXT PK, value TEXT, mac)  the KeyStore's getMeta/setMeta
 *
 * Public columns stay in clear, so an operator can read a store with the sqlite3 shell; they
 * are authenticated, not hidden. Secrets are sealed (AES-256-GCM under K_enc, the row's
 * identity and the store id as associated data).
 *
 * **What is detected.** A row's MAC covers every column, its table, its primary key, the
 * store's scope and the store id: an edited column, a row moved to another key or table, or
 * a row copied in from another store (even one of the same operator under the same storage
 * key) fails its MAC. Which rows exist is the **manifest**, one meta row holding, for every
 * other row of every table, the first 16 bytes of its MAC; the manifest row is itself
 * MAC'd. So a deleted row (in the manifest, not in its table), an added row (in its table,
 * not in the manifest) and an older copy of a row put back (a valid MAC that is not the one
 * the manifest names) are detected and named too. Every row is checked when the store opens
 * (`StoreRows.load`), and again whenever it is read (against the in-memory manifest).
 *
 * **What is not.** Rolling the whole file back to an older copy of itself (all rows and the
 * manifest together) cannot be detected from the file alone: the node's on-chain checks at
 * start-up are what catch a stale store (docs/operations.md).
 *
 * The schema itself is pinned: an open compares every object SQLite lists (tables, indexes,
 * triggers, views) with the ones this module creates, so no trigger can copy a secret
 * elsewhere and no extra table can hide one.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { KeyStoreError, checkMpk, type StoreScope, type StoredVersion } from './key-store.ts';
import {
  SEALED_FORMAT_V2,
  STORE_ID_BYTES,
  makeKeyCheck,
  openValue,
  rowAadV2,
  rowMac,
  sameMac,
  sealValue,
  verifyKeyCheck,
  type RowContext,
  type SqlValue,
  type StoreKeys,
} from './store-crypto.ts';

export const SCHEMA_VERSION_V2 = '2';

export const SCHEMA_V2 = `
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value ANY NOT NULL, mac BLOB NOT NULL) STRICT;
CREATE TABLE versions (
  id INTEGER PRIMARY KEY NOT NULL CHECK (id >= 0),
  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
  public_poly TEXT NOT NULL,
  public_poly_hash TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  holders TEXT NOT NULL,
  confirmed_at INTEGER NOT NULL,
  activated_at INTEGER,
  share BLOB NOT NULL,
  mac BLOB NOT NULL
) STRICT;
CREATE TABLE session_keys (public_key TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, secret BLOB NOT NULL, mac BLOB NOT NULL) STRICT;
CREATE TABLE round_states (session INTEGER PRIMARY KEY NOT NULL, state BLOB NOT NULL, mac BLOB NOT NULL) STRICT;
CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, mac BLOB NOT NULL) STRICT;
`;

export type TableName = 'meta' | 'versions' | 'session_keys' | 'round_states' | 'kv';

export interface TableSpec {
  readonly name: TableName;
  /** Every column but `mac`, in schema order; the first is the primary key. */
  readonly columns: readonly string[];
  /** The column holding a sealed secret, whose old ciphertext must not outlive a delete or replace. */
  readonly sealed: string | null;
}

export const TABLES: Readonly<Record<TableName, TableSpec>> = {
  meta: { name: 'meta', columns: ['key', 'value'], sealed: null },
  versions: {
    name: 'versions',
    columns: ['id', 'status', 'public_poly', 'public_poly_hash', 'threshold', 'holders', 'confirmed_at', 'activated_at', 'share'],
    sealed: 'share',
  },
  session_keys: { name: 'session_keys', columns: ['public_key', 'created_at', 'secret'], sealed: 'secret' },
  round_states: { name: 'round_states', columns: ['session', 'state'], sealed: 'state' },
  kv: { name: 'kv', columns: ['key', 'value'], sealed: null },
};
const TABLE_ORDER: readonly TableName[] = ['meta', 'versions', 'session_keys', 'round_states', 'kv'];

/** The meta row holding the manifest (not listed in itself). */
export const MANIFEST_KEY = 'manifest';
/** Bytes of a row's MAC the manifest keeps: enough to tell the current row from any older copy. */
export const MANIFEST_MAC_BYTES = 16;

/** The in-memory state a rolled-back transaction must not leave changed. */
interface RowsSnapshot {
  readonly manifest: Manifest;
  readonly dirty: boolean;
  readonly freedSecret: boolean;
}

/** A row as better-sqlite3 returns it: column name → value. */
export type Row = Readonly<Record<string, SqlValue>>;

/** For every table, row key → the first MANIFEST_MAC_BYTES of the row's MAC. */
type Manifest = Map<TableName, Map<string, Buffer>>;

/** The row values of a version (`versions` columns, `share` already sealed). */
export function versionValues(v: StoredVersion, sealedShare: Uint8Array): SqlValue[] {
  return [v.id, v.status, v.publicPoly, v.publicPolyHash, v.threshold, JSON.stringify(v.holders), v.confirmedAt, v.activatedAt, sealedShare];
}

/** A row's primary key as the manifest and the associated data spell it. */
export function rowKeyOf(value: SqlValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** How an error names a row: `versions row 3`, `kv row "lastProcessedBoundary"`. */
export function rowName(table: TableName, key: string, spec: TableSpec = TABLES[table]): string {
  const integerKey = spec.name === 'versions' || spec.name === 'round_states';
  const shown = integerKey ? key : JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
  return `${table} row ${shown}`;
}

function damaged(path: string, what: string): KeyStoreError {
  return new KeyStoreError('corrupt', `${path} is damaged: ${what}`);
}

/**
 * The authenticated, encrypted rows of one open schema-2 store: reads check every row
 * against its MAC and the manifest; writes MAC the row and update the manifest. The caller
 * (`SqliteKeyStore`) wraps writes in transactions and calls `saveManifest` before each
 * outermost commit.
 */
export class StoreRows {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #keys: StoreKeys;
  readonly ctx: RowContext;
  #manifest: Manifest;
  readonly #statements = new Map<string, Database.Statement>();
  /** The manifest changed since the last `saveManifest`. */
  dirty = false;
  /** A sealed secret was deleted or replaced since the WAL was last emptied (the caller resets it). */
  freedSecret = false;

  private constructor(db: Database.Database, path: string, keys: StoreKeys, ctx: RowContext, manifest: Manifest) {
    this.#db = db;
    this.#path = path;
    this.#keys = keys;
    this.ctx = ctx;
    this.#manifest = manifest;
  }

  /**
   * Writes the header of a new (or just migrated) store into an empty schema-2 database:
   * scope, a fresh store id, the key check and the MPK if one is given. The caller saves the
   * manifest after adding the remaining rows.
   */
  static create(db: Database.Database, path: string, keys: StoreKeys, scope: StoreScope, mpk: string | null): StoreRows {
    const storeId = randomBytes(STORE_ID_BYTES);
    const rows = new StoreRows(db, path, keys, { scope, storeId }, new Map(TABLE_ORDER.map((t) => [t, new Map()])));
    const meta = TABLES.meta;
    rows.put(meta, ['schema_version', SCHEMA_VERSION_V2]);
    rows.put(meta, ['chain_id', scope.chainId.toString()]);
    rows.put(meta, ['registry', scope.registry]);
    rows.put(meta, ['operator', scope.operator]);
    rows.put(meta, ['store_id', storeId]);
    rows.put(meta, ['key_check', makeKeyCheck(keys.enc, SEALED_FORMAT_V2)]);
    if (mpk !== null) rows.put(meta, ['mpk', mpk]);
    return rows;
  }

  /**
   * Checks every row of every table of an open schema-2 store (whose schema, scope and key
   * check the caller has checked) and returns them ready for use. Throws `corrupt` naming
   * the first row that is altered, foreign, older than the manifest says, added or missing.
   */
  static load(db: Database.Database, path: string, keys: StoreKeys, scope: StoreScope): StoreRows {
    const metaRows = db.prepare('SELECT key, value, mac FROM meta').all() as Row[];
    const metaValue = (k: string): SqlValue | undefined => metaRows.find((r) => r['key'] === k)?.['value'];
    const storeId = metaValue('store_id');
    if (!(storeId instanceof Uint8Array) || storeId.length !== STORE_ID_BYTES) throw damaged(path, 'meta store_id is missing');
    const rows = new StoreRows(db, path, keys, { scope, storeId: Buffer.from(storeId) }, new Map());
    const manifestRow = metaRows.find((r) => r['key'] === MANIFEST_KEY);
    if (manifestRow === undefined) throw damaged(path, `${rowName('meta', MANIFEST_KEY)} is missing`);
    const mac = rows.#mac(TABLES.meta, [MANIFEST_KEY, manifestRow['value'] ?? null]);
    const stored = manifestRow['mac'];
    if (!(stored instanceof Uint8Array) || !sameMac(mac, stored)) {
      throw damaged(path, `${rowName('meta', MANIFEST_KEY)} was altered (its contents do not match its authentication tag)`);
    }
    rows.#manifest = parseManifest(manifestRow['value'] ?? null, path);
    for (const table of TABLE_ORDER) {
      const spec = TABLES[table];
      const all = table === 'meta' ? metaRows.filter((r) => r['key'] !== MANIFEST_KEY) : (db.prepare(`SELECT ${spec.columns.join(', ')}, mac FROM ${table}`).all() as Row[]);
      for (const r of all) rows.#check(spec, r);
      rows.#complete(spec, all);
    }
    return rows;
  }

  // -------------------------------------------------------------------------------------
  // Reads

  /** The row with this key, checked; null when it does not exist (and the manifest agrees). */
  get(spec: TableSpec, key: string | number): Row | null {
    const k = rowKeyOf(key);
    const row = this.#stmt(`get:${spec.name}`, `SELECT ${spec.columns.join(', ')}, mac FROM ${spec.name} WHERE ${spec.columns[0]} = ?`).get(key) as Row | undefined;
    if (row === undefined) {
      if (this.#entries(spec).has(k)) throw damaged(this.#path, `${rowName(spec.name, k)} is missing (deleted outside the node)`);
      return null;
    }
    this.#check(spec, row);
    return row;
  }

  /** Every row of the table in the given order, each checked, none missing. */
  all(spec: TableSpec, orderBy: string): Row[] {
    const rows = this.#stmt(`all:${spec.name}:${orderBy}`, `SELECT ${spec.columns.join(', ')}, mac FROM ${spec.name} ORDER BY ${orderBy}`).all() as Row[];
    for (const r of rows) this.#check(spec, r);
    this.#complete(spec, rows);
    return rows;
  }

  /**
   * Some columns of every row, in the given order, NOT checked: only for choosing which row
   * to read with `get` (which checks it). Every row was checked when the store opened, and
   * the node holds the file exclusively since.
   */
  peek(spec: TableSpec, columns: readonly string[], orderBy: string): Row[] {
    return this.#stmt(`peek:${spec.name}:${columns.join(',')}:${orderBy}`, `SELECT ${columns.join(', ')} FROM ${spec.name} ORDER BY ${orderBy}`).all() as Row[];
  }

  /** Whether the manifest lists this row. */
  has(spec: TableSpec, key: string | number): boolean {
    return this.#entries(spec).has(rowKeyOf(key));
  }

  #check(spec: TableSpec, row: Row): void {
    const key = rowKeyOf(row[spec.columns[0] as string] ?? null);
    const expected = this.#entries(spec).get(key);
    const name = rowName(spec.name, key, spec);
    if (expected === undefined) {
      throw damaged(this.#path, `${name} was not written by this node (added by hand, copied from another store, or put back after it was deleted)`);
    }
    const mac = this.#mac(spec, spec.columns.map((c) => row[c] ?? null));
    const stored = row['mac'];
    if (!(stored instanceof Uint8Array) || !sameMac(mac, stored)) {
      throw damaged(this.#path, `${name} was altered or copied from another store (its contents do not match its authentication tag)`);
    }
    if (!sameMac(mac.subarray(0, MANIFEST_MAC_BYTES), expected)) {
      throw damaged(this.#path, `${name} is an older copy of that row, not the one last written (restored from a backup?)`);
    }
  }

  /** Every row the manifest lists for this table is among `rows` (which were all checked). */
  #complete(spec: TableSpec, rows: readonly Row[]): void {
    const entries = this.#entries(spec);
    if (rows.length === entries.size) return;
    const present = new Set(rows.map((r) => rowKeyOf(r[spec.columns[0] as string] ?? null)));
    for (const k of entries.keys()) {
      if (!present.has(k)) throw damaged(this.#path, `${rowName(spec.name, k, spec)} is missing (deleted outside the node)`);
    }
  }

  // -------------------------------------------------------------------------------------
  // Writes

  /**
   * Inserts or replaces a row (values in `spec.columns` order) with its MAC and records it
   * in the manifest. `sameSecret`: the caller rewrites the row with the very sealed blob it
   * read (a status change), so no secret is freed.
   */
  put(spec: TableSpec, values: readonly SqlValue[], opts: { sameSecret?: boolean } = {}): void {
    if (values.length !== spec.columns.length) throw new Error(`StoreRows.put(${spec.name}): expected ${spec.columns.length} values`);
    const key = rowKeyOf(values[0] ?? null);
    if (spec.name === 'meta' && key === MANIFEST_KEY) throw new Error('StoreRows.put: the manifest is written by saveManifest');
    const mac = this.#mac(spec, values);
    const placeholders = Array.from({ length: spec.columns.length + 1 }, () => '?').join(', ');
    this.#stmt(`put:${spec.name}`, `INSERT OR REPLACE INTO ${spec.name} (${spec.columns.join(', ')}, mac) VALUES (${placeholders})`).run(...values, mac);
    const entries = this.#entries(spec);
    if (spec.sealed !== null && entries.has(key) && opts.sameSecret !== true) this.freedSecret = true;
    entries.set(key, mac.subarray(0, MANIFEST_MAC_BYTES));
    this.dirty = true;
  }

  /** Deletes a row (a no-op when absent) and drops it from the manifest. */
  delete(spec: TableSpec, key: string | number): void {
    this.#stmt(`delete:${spec.name}`, `DELETE FROM ${spec.name} WHERE ${spec.columns[0]} = ?`).run(key);
    if (this.#entries(spec).delete(rowKeyOf(key))) {
      this.dirty = true;
      if (spec.sealed !== null) this.freedSecret = true;
    }
  }

  /** Writes the manifest row (with its own MAC) if anything changed. */
  saveManifest(): void {
    if (!this.dirty) return;
    const value = encodeManifest(this.#manifest);
    const mac = this.#mac(TABLES.meta, [MANIFEST_KEY, value]);
    this.#stmt('put:manifest', `INSERT OR REPLACE INTO meta (key, value, mac) VALUES ('${MANIFEST_KEY}', ?, ?)`).run(value, mac);
    this.dirty = false;
  }

  /** A copy of the in-memory manifest, to restore when a transaction rolls back. */
  snapshot(): RowsSnapshot {
    return { manifest: new Map([...this.#manifest].map(([t, m]) => [t, new Map(m)])), dirty: this.dirty, freedSecret: this.freedSecret };
  }

  restore(s: RowsSnapshot): void {
    this.#manifest = s.manifest;
    this.dirty = s.dirty;
    this.freedSecret = s.freedSecret;
  }

  // -------------------------------------------------------------------------------------
  // Sealing (schema 2)

  /** Seals a secret for the row (table, key) of this store. */
  seal(table: TableName, key: string | number, plaintext: Uint8Array): Buffer {
    return sealValue(this.#keys.enc, rowAadV2(this.ctx.scope, this.ctx.storeId, table, rowKeyOf(key)), plaintext, SEALED_FORMAT_V2);
  }

  /** Opens a secret sealed for the row (table, key); `what` names it in the error. */
  open(table: TableName, key: string | number, blob: SqlValue, what: string): Uint8Array {
    if (!(blob instanceof Uint8Array)) throw new KeyStoreError('corrupt', `could not decrypt ${what}: the stored value is not a sealed blob`);
    return openValue(this.#keys.enc, rowAadV2(this.ctx.scope, this.ctx.storeId, table, rowKeyOf(key)), blob, what, SEALED_FORMAT_V2);
  }

  #mac(spec: TableSpec, values: readonly SqlValue[]): Buffer {
    return rowMac(this.#keys.mac, this.ctx, spec.name, values);
  }

  #entries(spec: TableSpec): Map<string, Buffer> {
    let m = this.#manifest.get(spec.name);
    if (m === undefined) {
      m = new Map();
      this.#manifest.set(spec.name, m);
    }
    return m;
  }

  #stmt(id: string, sql: string): Database.Statement {
    let s = this.#statements.get(id);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      this.#statements.set(id, s);
    }
    return s;
  }
}

/**
 * The manifest as stored: JSON `{"meta": {"chain_id": "<32 hex>", …}, "versions": {"3": …}, …}`,
 * tables in schema order, rows in key order (so equal manifests are equal text).
 */
function encodeManifest(m: Manifest): string {
  const out: Record<string, Record<string, string>> = {};
  for (const t of TABLE_ORDER) {
    const entries = [...(m.get(t) ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out[t] = Object.fromEntries(entries.map(([k, mac]) => [k, mac.toString('hex')]));
  }
  return JSON.stringify(out);
}

function parseManifest(value: SqlValue, path: string): Manifest {
  const bad = (): KeyStoreError => damaged(path, `${rowName('meta', MANIFEST_KEY)} is not a valid manifest`);
  if (typeof value !== 'string') throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw bad();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad();
  const m: Manifest = new Map();
  for (const t of TABLE_ORDER) {
    const entries = (parsed as Record<string, unknown>)[t];
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw bad();
    const table = new Map<string, Buffer>();
    for (const [k, mac] of Object.entries(entries as Record<string, unknown>)) {
      if (typeof mac !== 'string' || !/^[0-9a-f]*$/.test(mac) || mac.length !== 2 * MANIFEST_MAC_BYTES) throw bad();
      table.set(k, Buffer.from(mac, 'hex'));
    }
    m.set(t, table);
  }
  if (Object.keys(parsed).length !== TABLE_ORDER.length) throw bad();
  return m;
}

// ---------------------------------------------------------------------------------------
// Opening

/**
 * Scope, then key check, then the MPK's format: the header checks both schemas share.
 * `checkKey` verifies the key check as its schema sealed it (throws wrong-storage-key).
 */
export function checkStoreHeader(path: string, scope: StoreScope, meta: ReadonlyMap<string, unknown>, checkKey: (check: unknown) => void): void {
  const text = (k: string): string => {
    const v = meta.get(k);
    if (typeof v !== 'string') throw damaged(path, `meta ${k} is missing`);
    return v;
  };
  // Scope values are public (chain id, contract and operator addresses): naming them is the fix.
  const mismatch = (what: string): KeyStoreError => new KeyStoreError('scope-mismatch', `this key store belongs to ${what}`);
  const chainId = text('chain_id');
  if (chainId !== scope.chainId.toString()) throw mismatch(`chain ${chainId}, not ${scope.chainId}`);
  const registry = text('registry');
  if (registry !== scope.registry) throw mismatch(`registry ${registry}, not ${scope.registry}`);
  const operator = text('operator');
  if (operator !== scope.operator) throw mismatch(`operator ${operator}, not ${scope.operator}`);
  checkKey(meta.get('key_check'));
  const mpk = meta.get('mpk');
  if (mpk === undefined) return;
  try {
    checkMpk(mpk);
  } catch (cause) {
    throw new KeyStoreError('corrupt', `${path} is damaged: meta mpk is not a 96-byte hex point`, { cause });
  }
}

/**
 * Every check of a schema-2 store, in order: schema objects, scope, storage key, MPK, then
 * every row (`StoreRows.load`). Reads only. Returns the checked rows.
 */
export function openRows(db: Database.Database, path: string, scope: StoreScope, keys: StoreKeys): StoreRows {
  checkSchema(db, path, SCHEMA_V2, SCHEMA_VERSION_V2);
  const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
  checkStoreHeader(path, scope, meta, (check) => {
    if (!(check instanceof Uint8Array)) throw damaged(path, 'meta key_check is missing');
    verifyKeyCheck(keys.enc, check, SEALED_FORMAT_V2);
  });
  return StoreRows.load(db, path, keys, scope);
}

// ---------------------------------------------------------------------------------------
// The schema itself

interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

const expectedSchemas = new Map<string, SchemaObject[]>();

/**
 * Refuses (corrupt) a database whose schema objects are not exactly those `ddl` creates: no
 * extra table, index, trigger or view, no altered table definition. SQLite's own statistics
 * tables (`sqlite_stat*`, from ANALYZE in the sqlite3 shell) are allowed: they hold no rows
 * of ours and change nothing we read.
 */
export function checkSchema(db: Database.Database, path: string, ddl: string, version: string): void {
  let expected = expectedSchemas.get(ddl);
  if (expected === undefined) {
    const mem = new Database(':memory:');
    try {
      mem.exec(ddl);
      expected = listObjects(mem);
    } finally {
      mem.close();
    }
    expectedSchemas.set(ddl, expected);
  }
  const describe = (o: SchemaObject): string => `${o.type} ${o.name}`;
  const want = new Map(expected.map((o) => [describe(o), o]));
  const have = new Map(listObjects(db).map((o) => [describe(o), o]));
  for (const [d, o] of have) {
    const w = want.get(d);
    if (w === undefined) throw damaged(path, `it has a schema object key store version ${version} does not have: ${d} (added by hand?)`);
    if (w.sql !== o.sql || w.tbl_name !== o.tbl_name) throw damaged(path, `the definition of ${d} is not that of key store version ${version}`);
  }
  for (const d of want.keys()) if (!have.has(d)) throw damaged(path, `missing ${d}`);
}

function listObjects(db: Database.Database): SchemaObject[] {
  return (db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\' ORDER BY type, name").all() as SchemaObject[]);
}
