/**
 * @module
 * Forensics of a key store, for tests that must prove a secret is gone ("a finished round
 * keeps no secret in the store", "no retired share is left anywhere": security review,
 * finding 1). Test-only.
 *
 * - `dumpSqliteStore(path, storageKey)`: everything a SQLite store holds, three ways
 *   (`dumpSqliteFiles`: the first and the third only, which needs no SQLite connection and
 *   so also works while a node holds the store open):
 *   1. `files`: the raw bytes of the database, its `-wal` and its `-shm` (whatever exists);
 *   2. `values`: every column of every row of every table SQLite lists (ours or not),
 *      read without trusting the store's own checks, with every sealed value (share, session
 *      secret, round state, key check) decrypted with the storage key, schema 1 or 2;
 *   3. `carved`: a decryption of every place in the three files where a sealed value could
 *      start (a format byte 0x01/0x02 followed by a nonce), under both keys, so that a stale
 *      ciphertext left in a free page, a WAL frame or a page's unused space is read too.
 *      AES-GCM encrypts in counter mode, so the plaintext is recovered without knowing which
 *      row the blob belonged to or how long it was (the tag is not checked). Each candidate
 *      runs 4 KiB (a SQLite page); the part of a large round state that SQLite continued
 *      on an overflow page is not carved (its first 4 KiB are).
 *   The store must be closed (a running node holds it exclusively): stop the node first.
 * - `dumpMemoryStore(store)`: every value a `MemoryKeyStore` holds (it has no files).
 * - `findSecrets(dump, needles)`: where each needle occurs, in every form a secret is
 *   likely to be written: the raw bytes; hex in any letter case, with or without `0x`, also
 *   without leading zero bytes (a bigint's `toString(16)`); the decimal string of its
 *   big-endian value (`bigint.toString()`); and the comma-separated byte list
 *   `JSON.stringify(Buffer)` writes. Searched in the raw files, the decrypted values and the
 *   carved plaintexts. An empty answer is the proof.
 */
import Database from 'better-sqlite3';
import { createDecipheriv, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import type { StoreScope } from '../../src/node/key-store.ts';
import type { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import {
  NONCE_BYTES,
  SEALED_FORMAT_V1,
  SEALED_FORMAT_V2,
  SEAL_OVERHEAD,
  TAG_BYTES,
  deriveStoreKeys,
  openValue,
  rowAad,
  rowAadV2,
  shareToBytes,
  type SealedFormat,
} from '../../src/node/store-crypto.ts';

/** One value a store holds, named by where it is. */
export interface DumpedValue {
  /** e.g. `versions[id=3].share (decrypted)`, `kv[key="lastProcessedBoundary"].value`. */
  readonly where: string;
  readonly value: Uint8Array | string | number | bigint | null;
}

export interface StoreDump {
  /** Raw bytes of the store's files, by name (`db`, `wal`, `shm`); empty for a memory store. */
  readonly files: ReadonlyMap<string, Buffer>;
  readonly values: readonly DumpedValue[];
  /** Candidate plaintexts decrypted from the raw files (see the module comment). */
  readonly carved: readonly { readonly where: string; readonly plaintext: Buffer }[];
}

export interface Finding {
  /** Index of the needle in the `needles` argument. */
  readonly needle: number;
  /** `binary`, `hex` (with its case and prefix, e.g. `hex 0x lower`), `decimal`, `byte list`. */
  readonly form: string;
  /** `file db @ 4096`, a dumped value's `where`, or `carved …`. */
  readonly where: string;
}

/** Sealed columns: table → [key column, sealed column]. */
const SEALED: Readonly<Record<string, readonly [string, string]>> = {
  versions: ['id', 'share'],
  session_keys: ['public_key', 'secret'],
  round_states: ['session', 'state'],
};
/** How far a carved candidate runs: a SQLite page, the most a sealed value's start can share with its bytes. */
const CARVE_BYTES = 4096;

/**
 * The raw files of a SQLite key store and what carving them yields, without opening it:
 * works while a node holds the store open (e.g. right after a delete returns).
 */
export function dumpSqliteFiles(path: string, storageKey: Uint8Array): StoreDump {
  const files = new Map<string, Buffer>();
  for (const [name, p] of [['db', path], ['wal', `${path}-wal`], ['shm', `${path}-shm`]] as const) {
    if (existsSync(p)) files.set(name, readFileSync(p));
  }
  const keys = deriveStoreKeys(storageKey);
  const carved: { where: string; plaintext: Buffer }[] = [];
  for (const [name, bytes] of files) carve(name, bytes, keys.v1, keys.enc, carved);
  return { files, values: [], carved };
}

/** Dumps a closed SQLite key store: files, carving, and every value (see the module comment). */
export function dumpSqliteStore(path: string, storageKey: Uint8Array): StoreDump {
  const { files, carved } = dumpSqliteFiles(path, storageKey);
  const keys = deriveStoreKeys(storageKey);
  const values: DumpedValue[] = [];
  // Reading must not change what is examined: a read-only connection (it may have to create
  // an empty -wal and a -shm, removed again below, as the store's own open does).
  const hadWal = existsSync(`${path}-wal`);
  const hadShm = existsSync(`${path}-shm`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    const meta = new Map<string, unknown>();
    if (tables.includes('meta')) for (const r of db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]) meta.set(r.key, r.value);
    const v2 = meta.get('schema_version') === '2';
    const scope: StoreScope = {
      chainId: BigInt(String(meta.get('chain_id') ?? '0')),
      registry: String(meta.get('registry') ?? '') as StoreScope['registry'],
      operator: String(meta.get('operator') ?? '') as StoreScope['operator'],
    };
    const storeId = meta.get('store_id');
    const format: SealedFormat = v2 ? SEALED_FORMAT_V2 : SEALED_FORMAT_V1;
    const key = v2 ? keys.enc : keys.v1;
    const aad = (table: string, rowKey: string): string =>
      v2 && storeId instanceof Uint8Array ? rowAadV2(scope, storeId, table, rowKey) : rowAad(scope, table, rowKey);
    const tryOpen = (aadText: string, blob: unknown): Uint8Array | null => {
      if (!(blob instanceof Uint8Array)) return null;
      try {
        return openValue(key, aadText, blob, 'a dumped value', format);
      } catch {
        return null;
      }
    };
    for (const table of tables) {
      const rows = db.prepare(`SELECT * FROM "${table.replaceAll('"', '""')}"`).all() as Record<string, unknown>[];
      const sealed = SEALED[table];
      rows.forEach((row, i) => {
        const id = sealed !== undefined ? `${sealed[0]}=${JSON.stringify(row[sealed[0]])}` : table === 'meta' || table === 'kv' ? `key=${JSON.stringify(row['key'])}` : `#${i}`;
        for (const [col, value] of Object.entries(row)) values.push({ where: `${table}[${id}].${col}`, value: asValue(value) });
        if (sealed !== undefined) {
          const pt = tryOpen(aad(table, String(row[sealed[0]])), row[sealed[1]]);
          values.push({ where: `${table}[${id}].${sealed[1]} (${pt === null ? 'could not decrypt' : 'decrypted'})`, value: pt });
        }
        if (table === 'meta' && row['key'] === 'key_check') {
          values.push({ where: 'meta[key="key_check"].value (decrypted)', value: tryOpen('key-check', row['value']) });
        }
      });
    }
  } finally {
    db.close();
    if (!hadWal && existsSync(`${path}-wal`) && statSync(`${path}-wal`).size === 0) unlinkSync(`${path}-wal`);
    if (!hadShm && existsSync(`${path}-shm`)) unlinkSync(`${path}-shm`);
  }
  return { files, values, carved };
}

function asValue(v: unknown): DumpedValue['value'] {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || v instanceof Uint8Array) return v;
  return String(v);
}

/**
 * Decrypts, as AES-256-CTR from GCM's first counter block (nonce ‖ 00000002), whatever
 * follows every possible sealed-value start in `bytes`, under the key of its format byte.
 */
function carve(name: string, bytes: Buffer, v1: KeyObject, v2: KeyObject, out: { where: string; plaintext: Buffer }[]): void {
  for (let i = 0; i + SEAL_OVERHEAD <= bytes.length; i++) {
    const format = bytes[i];
    if (format !== SEALED_FORMAT_V1 && format !== SEALED_FORMAT_V2) continue;
    const start = i + 1 + NONCE_BYTES;
    const end = Math.min(bytes.length, start + CARVE_BYTES);
    if (end - start < TAG_BYTES) continue;
    const iv = Buffer.concat([bytes.subarray(i + 1, start), Buffer.from([0, 0, 0, 2])]);
    const d = createDecipheriv('aes-256-ctr', format === SEALED_FORMAT_V1 ? v1 : v2, iv);
    out.push({ where: `carved ${name} @ ${i} (format 0x0${format})`, plaintext: Buffer.concat([d.update(bytes.subarray(start, end)), d.final()]) });
  }
}

/** Dumps a memory store (every value, secrets included; shares as 32 bytes big-endian). */
export function dumpMemoryStore(store: MemoryKeyStore): StoreDump {
  const s = store.dumpState();
  const values: DumpedValue[] = [{ where: 'mpk', value: s.mpk }];
  for (const v of s.versions) {
    for (const [field, value] of Object.entries(v)) {
      if (field === 'share') values.push({ where: `versions[id=${v.id}].share`, value: shareToBytes(v.share) });
      else values.push({ where: `versions[id=${v.id}].${field}`, value: Array.isArray(value) ? JSON.stringify(value) : (value as DumpedValue['value']) });
    }
  }
  for (const k of s.sessionKeys) {
    values.push({ where: `session_keys[${k.publicKey}].publicKey`, value: k.publicKey });
    values.push({ where: `session_keys[${k.publicKey}].secretKey`, value: k.secretKey });
    values.push({ where: `session_keys[${k.publicKey}].createdAt`, value: k.createdAt });
  }
  for (const r of s.roundStates) values.push({ where: `round_states[${r.session}]`, value: r.json });
  for (const m of s.meta) values.push({ where: `kv[${JSON.stringify(m.key)}]`, value: m.value });
  return { files: new Map(), values, carved: [] };
}

/** The textual forms a needle is searched in (binary is searched as is). */
function textForms(needle: Uint8Array): { form: string; text: string }[] {
  const hex = Buffer.from(needle).toString('hex');
  const forms = [{ form: 'hex', text: hex }];
  const value = needle.length > 0 ? BigInt(`0x${hex}`) : 0n;
  const minimal = value.toString(16);
  if (minimal !== hex) forms.push({ form: 'hex without leading zeros', text: minimal });
  forms.push({ form: 'decimal', text: value.toString() });
  forms.push({ form: 'byte list', text: [...needle].join(',') });
  return forms;
}

/**
 * Where each needle occurs in the dump (see the module comment for the forms). One finding
 * per needle, place and form; hex is matched in any letter case, and the finding says which
 * case and whether a `0x` precedes it.
 */
export function findSecrets(dump: StoreDump, needles: readonly Uint8Array[]): Finding[] {
  const places: { where: string; bytes: Buffer }[] = [];
  for (const [name, bytes] of dump.files) places.push({ where: `file ${name}`, bytes });
  for (const v of dump.values) {
    if (v.value === null) continue;
    const bytes = v.value instanceof Uint8Array ? Buffer.from(v.value) : Buffer.from(String(v.value), 'utf8');
    places.push({ where: v.where, bytes });
  }
  for (const c of dump.carved) places.push({ where: c.where, bytes: c.plaintext });

  // Hex is matched case-insensitively: each place once in lower case (ASCII letters only).
  const lowered = places.map((p) => Buffer.from(p.bytes.toString('latin1').toLowerCase(), 'latin1'));
  const findings: Finding[] = [];
  needles.forEach((needle, n) => {
    if (needle.length === 0) throw new Error('findSecrets: an empty needle matches everything');
    const bin = Buffer.from(needle);
    const forms = textForms(needle);
    places.forEach((place, p) => {
      for (const at of indexesOf(place.bytes, bin)) findings.push({ needle: n, form: 'binary', where: `${place.where} @ ${at}` });
      const lower = lowered[p] as Buffer;
      for (const { form, text } of forms) {
        const pattern = Buffer.from(text, 'latin1');
        for (const at of indexesOf(lower, pattern)) {
          let detail = form;
          if (form.startsWith('hex')) {
            const found = place.bytes.subarray(at, at + pattern.length).toString('latin1');
            const prefixed = at >= 2 && lower.subarray(at - 2, at).toString('latin1') === '0x';
            const letterCase = !/[a-f]/.test(text) ? '' : found === text ? ' lower' : found === text.toUpperCase() ? ' upper' : ' mixed case';
            detail = `${form}${prefixed ? ' 0x' : ''}${letterCase}`;
          }
          findings.push({ needle: n, form: detail, where: `${place.where} @ ${at}` });
        }
      }
    });
  });
  return findings;
}

function* indexesOf(haystack: Buffer, needle: Buffer): Generator<number> {
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) yield at;
}
