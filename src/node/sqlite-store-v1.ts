/**
 * @module
 * Schema version 1 of the SQLite key store, kept for one purpose: upgrading a v1 store, in
 * place and automatically, to schema 2 (`sqlite-store-rows.ts`) the first time this build
 * opens it. Nothing else reads or writes v1.
 *
 * Schema 1 sealed secrets with the storage key itself (format 0x01) and left public columns
 * unauthenticated. The upgrade, in **one SQLite transaction** (a crash at any point leaves
 * the v1 store as it was, and the next start upgrades it again):
 * 1. reads the whole v1 store and checks it as the v1 code did when opening it (schema,
 *    scope, storage key, MPK) and as its reads did for every row (each secret decrypts
 *    under its row identity; every version, session key, round state and kv row is valid);
 *    a store that fails is refused (`corrupt`, naming the row) and left untouched, since its
 *    rows are about to be vouched for;
 * 2. drops the v1 tables (their pages are zeroed: `secure_delete`), creates the v2 tables,
 *    picks a fresh store id, re-seals every secret under K_enc for its v2 row identity and
 *    writes every row with its MAC, then the manifest;
 * 3. runs the checks every later open runs on the result before committing.
 * The caller checkpoints the WAL afterwards so no v1 page survives in it.
 *
 * The upgrade vouches for what the v1 file says: v1 rows were not authenticated, so an edit
 * made to a v1 file before the upgrade (e.g. a status) cannot be told from the truth. After
 * upgrading, keep no v1 copy of the store: presented again, it would be upgraded again.
 */
import type Database from 'better-sqlite3';
import type { Hex } from '../protocol/ledger.ts';
import {
  KeyStoreError,
  SESSION_SECRET_KEY_BYTES,
  SHARE_BYTES,
  checkMetaKey,
  checkMetaValue,
  checkSessionKey,
  checkVersion,
  type StoreScope,
  type StoredSessionKey,
  type StoredVersion,
  type VersionStatus,
} from './key-store.ts';
import { SCHEMA_V2, StoreRows, TABLES, checkSchema, checkStoreHeader, openRows, rowName, versionValues, type Row, type TableName } from './sqlite-store-rows.ts';
import { SEALED_FORMAT_V1, bytesToShare, openValue, rowAad, shareToBytes, type StoreKeys } from './store-crypto.ts';

export const SCHEMA_VERSION_V1 = '1';

/** The schema-1 tables, byte for byte as schema-1 builds created them (the schema check compares text). */
export const SCHEMA_V1 = `
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

const V1_META_KEYS = new Set(['schema_version', 'chain_id', 'registry', 'operator', 'key_check', 'mpk']);

/** Everything a v1 store holds, checked. */
export interface V1Contents {
  readonly mpk: Hex | null;
  readonly versions: StoredVersion[];
  readonly sessionKeys: StoredSessionKey[];
  /** Round states as their JSON text. */
  readonly roundStates: { readonly session: number; readonly json: string }[];
  readonly kv: { readonly key: string; readonly value: string }[];
}

/**
 * Reads a v1 store completely and checks it (see the module comment, step 1). Reads only.
 * Refuses: `corrupt` (schema, a damaged row, named), `scope-mismatch`, `wrong-storage-key`.
 */
export function readV1(db: Database.Database, path: string, scope: StoreScope, keys: StoreKeys): V1Contents {
  checkSchema(db, path, SCHEMA_V1, SCHEMA_VERSION_V1);
  const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
  checkStoreHeader(path, scope, meta, (check) => {
    if (!(check instanceof Uint8Array)) throw new KeyStoreError('corrupt', `${path} is damaged: meta key_check is missing`);
    // The v1 check: sealed with the storage key itself, format 0x01.
    verifyV1KeyCheck(keys, check);
  });
  for (const k of meta.keys()) {
    if (!V1_META_KEYS.has(k)) throw new KeyStoreError('corrupt', `${path} is damaged: ${rowName('meta', k)} is not one a version-1 key store writes`);
  }
  const mpkValue = meta.get('mpk');
  const mpk = mpkValue === undefined ? null : (mpkValue as Hex);

  const damaged = (table: TableName, key: string | number, cause: unknown): KeyStoreError => {
    const detail = cause instanceof KeyStoreError ? cause.message : 'invalid row';
    return new KeyStoreError('corrupt', `${path} is damaged: ${rowName(table, String(key))} (${detail}); this version-1 store cannot be upgraded until that row is repaired or deleted`, { cause });
  };
  const open = (table: TableName, key: string | number, blob: unknown, what: string): Uint8Array => {
    if (!(blob instanceof Uint8Array)) throw new KeyStoreError('corrupt', `${what} is not a sealed blob`);
    return openValue(keys.v1, rowAad(scope, table, String(key)), blob, what, SEALED_FORMAT_V1);
  };

  const versions: StoredVersion[] = [];
  for (const r of db.prepare(`SELECT ${TABLES.versions.columns.join(', ')} FROM versions ORDER BY id`).all() as Row[]) {
    const id = r['id'] as number;
    try {
      const share = open('versions', id, r['share'], `the share of version ${id}`);
      if (share.length !== SHARE_BYTES) throw new KeyStoreError('corrupt', `the share of version ${id} has the wrong length`);
      let holders: unknown;
      try {
        holders = JSON.parse(String(r['holders']));
      } catch (cause) {
        throw new KeyStoreError('corrupt', 'holders is not JSON', { cause });
      }
      versions.push(
        checkVersion(
          {
            id,
            status: r['status'] as VersionStatus,
            share: bytesToShare(share),
            publicPoly: r['public_poly'] as Hex,
            publicPolyHash: r['public_poly_hash'] as Hex,
            threshold: r['threshold'] as number,
            holders: holders as Hex[],
            confirmedAt: r['confirmed_at'] as number,
            activatedAt: r['activated_at'] as number | null,
          },
          null, // as v1 read them: a version from before the MPK was bound may have another A_0
        ),
      );
      share.fill(0);
    } catch (cause) {
      throw damaged('versions', id, cause);
    }
  }

  const sessionKeys: StoredSessionKey[] = [];
  for (const r of db.prepare('SELECT public_key, created_at, secret FROM session_keys ORDER BY created_at, public_key').all() as Row[]) {
    const pk = String(r['public_key']);
    try {
      const secretKey = open('session_keys', pk, r['secret'], `the secret of session key ${pk}`);
      if (secretKey.length !== SESSION_SECRET_KEY_BYTES) throw new KeyStoreError('corrupt', `the secret of session key ${pk} has the wrong length`);
      // Also proves the secret belongs to the public key: a v1 put checked that.
      sessionKeys.push(checkSessionKey({ publicKey: pk as Hex, secretKey, createdAt: r['created_at'] as number }));
      secretKey.fill(0);
    } catch (cause) {
      throw damaged('session_keys', pk, cause);
    }
  }

  const roundStates: { session: number; json: string }[] = [];
  for (const r of db.prepare('SELECT session, state FROM round_states ORDER BY session').all() as Row[]) {
    const session = r['session'] as number;
    try {
      const bytes = open('round_states', session, r['state'], `the round state of session ${session}`);
      const json = Buffer.from(bytes).toString('utf8');
      bytes.fill(0);
      try {
        JSON.parse(json);
      } catch (cause) {
        throw new KeyStoreError('corrupt', `the round state of session ${session} is not valid JSON`, { cause });
      }
      roundStates.push({ session, json });
    } catch (cause) {
      throw damaged('round_states', session, cause);
    }
  }

  const kv: { key: string; value: string }[] = [];
  for (const r of db.prepare('SELECT key, value FROM kv ORDER BY key').all() as Row[]) {
    try {
      const key = checkMetaKey(r['key']);
      kv.push({ key, value: checkMetaValue(key, r['value']) });
    } catch (cause) {
      throw damaged('kv', String(r['key']), cause);
    }
  }
  return { mpk, versions, sessionKeys, roundStates, kv };
}

function verifyV1KeyCheck(keys: StoreKeys, check: Uint8Array): void {
  try {
    openValue(keys.v1, 'key-check', check, 'the key check', SEALED_FORMAT_V1);
  } catch {
    throw new KeyStoreError('wrong-storage-key', 'the storage key does not open this key store');
  }
}

/**
 * Upgrades the v1 store open on `db` (a read-write connection holding the exclusive lock,
 * `secure_delete` on) to schema 2, in one transaction (see the module comment). Returns the
 * rows of the upgraded store.
 */
export function migrateV1(db: Database.Database, path: string, scope: StoreScope, keys: StoreKeys): StoreRows {
  return db.transaction(() => {
    const v1 = readV1(db, path, scope, keys);
    db.exec('DROP TABLE versions; DROP TABLE session_keys; DROP TABLE round_states; DROP TABLE kv; DROP TABLE meta;');
    db.exec(SCHEMA_V2);
    const rows = StoreRows.create(db, path, keys, scope, v1.mpk);
    for (const v of v1.versions) {
      const share = shareToBytes(v.share);
      rows.put(TABLES.versions, versionValues(v, rows.seal('versions', v.id, share)));
      share.fill(0);
    }
    for (const k of v1.sessionKeys) {
      rows.put(TABLES.session_keys, [k.publicKey, k.createdAt, rows.seal('session_keys', k.publicKey, k.secretKey)]);
      k.secretKey.fill(0);
    }
    for (const r of v1.roundStates) rows.put(TABLES.round_states, [r.session, rows.seal('round_states', r.session, Buffer.from(r.json, 'utf8'))]);
    for (const e of v1.kv) rows.put(TABLES.kv, [e.key, e.value]);
    rows.saveManifest();
    // The upgraded store must pass what every later open checks before it is committed.
    return openRows(db, path, scope, keys);
  })();
}
