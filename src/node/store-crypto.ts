/**
 * @module
 * Cryptography of the key store at rest (SPEC 1.5, 5): the storage key, the keys derived
 * from it, sealing secret values, and authenticating rows.
 *
 * **Keys.** The operator's 32-byte storage key S is only ever the input of HKDF-SHA256
 * (RFC 5869, empty salt) in a schema-2 store; each use gets its own key:
 *
 *   K_enc = HKDF(S, info = "eigenx-kms/key-store/v2/encryption-key", 32)   AES-256-GCM
 *   K_mac = HKDF(S, info = "eigenx-kms/key-store/v2/row-mac-key", 32)      HMAC-SHA256
 *
 * (Schema-1 stores sealed with S itself; `V1` below reads them, for the migration only.)
 *
 * **Sealed values** (shares, session secret keys, round states):
 *
 *   blob = format ‖ nonce (12) ‖ AES-256-GCM(key, nonce, aad, plaintext) ‖ tag (16)
 *   v1: format 0x01, key S,     aad = "eigenx-kms/key-store/v1|" chainId "|" registry "|" operator "|" table "|" rowKey
 *   v2: format 0x02, key K_enc, aad = "eigenx-kms/key-store/v2|" chainId "|" registry "|" operator "|" storeId "|" table "|" rowKey
 *
 * The associated data is the row's identity, so a blob moved to another row, table, store
 * scope or operator fails authentication instead of silently returning someone else's share.
 * A v2 identity also names the store (`storeId`, 16 random bytes fixed when the store is
 * created or migrated), so a blob copied in from another store of the same operator under
 * the same storage key fails too, and v2 blobs are useless to anyone who turns a v2 file back
 * into the v1 layout (other key, other format byte, other associated data).
 *
 * Random nonces are safe here: GCM's collision bound (2^-32 after 2^32 encryptions under one
 * key) is far beyond the few writes per reshare interval a node makes.
 *
 * **Row authentication** (schema 2): every row of every table carries
 *
 *   mac = HMAC-SHA256(K_mac, "eigenx-kms/key-store/v2/row" ‖ enc(chainId) ‖ enc(registry) ‖
 *                     enc(operator) ‖ enc(storeId) ‖ enc(table) ‖ u32(#columns) ‖ enc(c_1) ‖ … ‖ enc(c_n))
 *   enc(v) = type (1 byte: 0 null, 1 integer, 2 real, 3 text, 4 blob) ‖ u32 length ‖ bytes
 *            (integer: 8 bytes two's complement big-endian; real: IEEE 754 big-endian;
 *            text: UTF-8; all integers big-endian)
 *
 * over every column of the row in schema order (the primary key first, sealed blobs as
 * stored). The encoding is injective, so no edit of any column, and no move of a row to
 * another key, table, store or scope, keeps the tag valid. (Which rows exist at all is the
 * store's manifest: `sqlite-store-rows.ts`.)
 *
 * A key check (a constant sealed with aad "key-check" when the store is created) lets an open
 * with the wrong storage key fail with its own clear error before anything is read or
 * written, rather than as a confusing "corrupt row" later.
 *
 * Every key is held as a `KeyObject`: it never appears in `util.inspect` or logs.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KeyStoreError, type StoreScope } from './key-store.ts';

export const STORAGE_KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Format byte of a value sealed by a schema-1 store (key S). */
export const SEALED_FORMAT_V1 = 0x01;
/** Format byte of a value sealed by a schema-2 store (key K_enc). */
export const SEALED_FORMAT_V2 = 0x02;
export type SealedFormat = typeof SEALED_FORMAT_V1 | typeof SEALED_FORMAT_V2;
/** Bytes a sealed value adds to its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;
export const KEY_CHECK_AAD = 'key-check';
/** The key check's plaintext, by format: a v1 check never passes for a v2 store, nor back. */
export const KEY_CHECK_PLAINTEXT: Readonly<Record<SealedFormat, string>> = {
  [SEALED_FORMAT_V1]: 'eigenx-kms/key-store/key-check/v1',
  [SEALED_FORMAT_V2]: 'eigenx-kms/key-store/key-check/v2',
};
const AAD_PREFIX = 'eigenx-kms/key-store/v1';
const AAD_PREFIX_V2 = 'eigenx-kms/key-store/v2';
const ENC_KEY_INFO = 'eigenx-kms/key-store/v2/encryption-key';
const MAC_KEY_INFO = 'eigenx-kms/key-store/v2/row-mac-key';
const ROW_MAC_LABEL = 'eigenx-kms/key-store/v2/row';
/** Bytes of a store id (random, fixed when a schema-2 store is created or migrated). */
export const STORE_ID_BYTES = 16;
/** Bytes of a row MAC (HMAC-SHA256). */
export const ROW_MAC_BYTES = 32;

const STORAGE_KEY_FORMAT = 'storage key: expected 64 hex characters (32 bytes), optionally prefixed with 0x';

/**
 * Parses a storage key as given in KMS_STORE_KEY or a key file: 64 hex characters,
 * optionally `0x`-prefixed, surrounding whitespace (a trailing newline) ignored. Errors
 * never repeat the input: it may be a mistyped key.
 */
export function parseStorageKey(input: string): Uint8Array {
  if (typeof input !== 'string') throw new KeyStoreError('bad-argument', 'storage key: expected a string');
  let s = input.trim();
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new KeyStoreError('bad-argument', STORAGE_KEY_FORMAT);
  const key = Uint8Array.from(Buffer.from(s, 'hex'));
  assertUsableKey(key);
  return key;
}

/** A fresh random storage key as 64 lowercase hex characters (for `kms-server` set-up). */
export function generateStorageKeyHex(): string {
  return randomBytes(STORAGE_KEY_BYTES).toString('hex');
}

function assertUsableKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== STORAGE_KEY_BYTES) {
    throw new KeyStoreError('bad-argument', `storage key: expected ${STORAGE_KEY_BYTES} bytes`);
  }
  // An all-zero key is what an unset buffer looks like; refuse it rather than encrypt with it.
  if (key.every((b) => b === 0)) throw new KeyStoreError('bad-argument', 'storage key: must not be all zeros');
}

/** Wraps the raw storage key in a KeyObject (a copy: the caller may wipe its buffer). */
export function importStorageKey(key: Uint8Array): KeyObject {
  assertUsableKey(key);
  return createSecretKey(Buffer.from(key));
}

/** Every key a store uses, derived from the storage key S (see the module comment). */
export interface StoreKeys {
  /** S itself: seals and opens schema-1 values only (read once, by the migration). */
  readonly v1: KeyObject;
  /** K_enc: seals and opens schema-2 values. */
  readonly enc: KeyObject;
  /** K_mac: row MACs. Never used to encrypt. */
  readonly mac: KeyObject;
}

/** Derives K_enc and K_mac from the storage key (HKDF-SHA256, one label each). */
export function deriveStoreKeys(storageKey: Uint8Array): StoreKeys {
  const v1 = importStorageKey(storageKey);
  const derive = (info: string): KeyObject => {
    const okm = Buffer.from(hkdfSync('sha256', v1, Buffer.alloc(0), info, 32));
    const key = createSecretKey(okm);
    okm.fill(0);
    return key;
  };
  return Object.freeze({ v1, enc: derive(ENC_KEY_INFO), mac: derive(MAC_KEY_INFO) });
}

/** The associated data that binds a schema-1 value to its row (see the module comment). */
export function rowAad(scope: StoreScope, table: string, rowKey: string): string {
  return [AAD_PREFIX, scope.chainId.toString(), scope.registry.toLowerCase(), scope.operator.toLowerCase(), table, rowKey].join('|');
}

/** The associated data that binds a schema-2 value to its row in one store. */
export function rowAadV2(scope: StoreScope, storeId: Uint8Array, table: string, rowKey: string): string {
  return [AAD_PREFIX_V2, scope.chainId.toString(), scope.registry.toLowerCase(), scope.operator.toLowerCase(), Buffer.from(storeId).toString('hex'), table, rowKey].join('|');
}

/** Encrypts `plaintext` for the row named by `aad`, as a blob of the given format. */
export function sealValue(key: KeyObject, aad: string, plaintext: Uint8Array, format: SealedFormat): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(format), nonce, body, cipher.getAuthTag()]);
}

/**
 * Decrypts a blob of the given format sealed for the row named by `aad`. Any failure —
 * another format, short blob, wrong row, altered bytes — is `corrupt`, naming `what` (e.g.
 * "the share of version 3") and never the bytes. (A wrong storage key is caught earlier by
 * the key check.)
 */
export function openValue(key: KeyObject, aad: string, blob: Uint8Array, what: string, format: SealedFormat): Uint8Array {
  const pt = tryOpen(key, aad, blob, format);
  if (pt === null) {
    throw new KeyStoreError('corrupt', `could not decrypt ${what}: the stored value was altered or moved from another row`);
  }
  return pt;
}

function tryOpen(key: KeyObject, aad: string, blob: Uint8Array, format: SealedFormat): Uint8Array | null {
  if (!(blob instanceof Uint8Array) || blob.length < SEAL_OVERHEAD || blob[0] !== format) return null;
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const nonce = b.subarray(1, 1 + NONCE_BYTES);
  const tag = b.subarray(b.length - TAG_BYTES);
  const body = b.subarray(1 + NONCE_BYTES, b.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Uint8Array.from(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    // node:crypto reports only "Unsupported state or unable to authenticate data".
    return null;
  }
}

/** The key-check value written when a store of this format is created. */
export function makeKeyCheck(key: KeyObject, format: SealedFormat): Buffer {
  return sealValue(key, KEY_CHECK_AAD, Buffer.from(KEY_CHECK_PLAINTEXT[format], 'utf8'), format);
}

/** Throws wrong-storage-key unless `check` opens under `key` to the expected constant. */
export function verifyKeyCheck(key: KeyObject, check: Uint8Array, format: SealedFormat): void {
  const pt = tryOpen(key, KEY_CHECK_AAD, check, format);
  if (pt === null || Buffer.from(pt).toString('utf8') !== KEY_CHECK_PLAINTEXT[format]) {
    throw new KeyStoreError('wrong-storage-key', 'the storage key does not open this key store');
  }
}

// ---------------------------------------------------------------------------------------
// Row MACs (schema 2)

/** A column value as SQLite hands it to better-sqlite3 (and back). */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** What a row MAC binds besides the row: the store's scope and id. */
export interface RowContext {
  readonly scope: StoreScope;
  readonly storeId: Uint8Array;
}

const TYPE_NULL = 0;
const TYPE_INTEGER = 1;
const TYPE_REAL = 2;
const TYPE_TEXT = 3;
const TYPE_BLOB = 4;

function encodeValue(v: SqlValue): Buffer {
  let type: number;
  let bytes: Buffer;
  if (v === null) {
    type = TYPE_NULL;
    bytes = Buffer.alloc(0);
  } else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) {
    type = TYPE_INTEGER;
    bytes = Buffer.alloc(8);
    // An integer SQLite holds is a signed 64-bit value; BigInt.asIntN keeps the encoding total.
    bytes.writeBigInt64BE(BigInt.asIntN(64, BigInt(v)));
  } else if (typeof v === 'number') {
    type = TYPE_REAL;
    bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(v);
  } else if (typeof v === 'string') {
    type = TYPE_TEXT;
    bytes = Buffer.from(v, 'utf8');
  } else {
    type = TYPE_BLOB;
    bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/**
 * The MAC of one row: every column in schema order (primary key first), bound to the
 * table, the store id and the scope (see the module comment for the encoding).
 */
export function rowMac(macKey: KeyObject, ctx: RowContext, table: string, values: readonly SqlValue[]): Buffer {
  const h = createHmac('sha256', macKey);
  h.update(ROW_MAC_LABEL);
  for (const v of [ctx.scope.chainId.toString(), ctx.scope.registry.toLowerCase(), ctx.scope.operator.toLowerCase(), ctx.storeId, table]) h.update(encodeValue(v));
  const n = Buffer.alloc(4);
  n.writeUInt32BE(values.length);
  h.update(n);
  for (const v of values) h.update(encodeValue(v));
  return h.digest();
}

/** Constant-time equality of two MACs (false for different lengths). */
export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// Fixed-width big-endian encoding of shares inside the sealed blob.

export function shareToBytes(share: bigint): Uint8Array {
  const hex = share.toString(16);
  if (share < 0n || hex.length > 64) throw new KeyStoreError('bad-argument', 'share: does not fit in 32 bytes');
  return Uint8Array.from(Buffer.from(hex.padStart(64, '0'), 'hex'));
}

export function bytesToShare(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') || '0'}`);
}
