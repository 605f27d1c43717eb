/**
 * @module
 * Encryption at rest for the key store (SPEC 1.5, 5): AES-256-GCM under the node's 32-byte
 * storage key, one fresh random 12-byte nonce per write.
 *
 *   blob = 0x01 ‖ nonce (12) ‖ AES-256-GCM(key, nonce, aad, plaintext) ‖ tag (16)
 *   aad  = "eigenx-kms/key-store/v1|" chainId "|" registry "|" operator "|" table "|" rowKey
 *
 * The associated data is the row's identity, so a blob moved to another row, table, store
 * scope or operator fails authentication instead of silently returning someone else's share.
 * The leading format byte leaves room for a later format without guessing.
 *
 * Random nonces are safe here: GCM's collision bound (2^-32 after 2^32 encryptions under one
 * key) is far beyond the few writes per reshare interval a node makes.
 *
 * A key check (the constant `KEY_CHECK_PLAINTEXT` sealed with aad "key-check" when the store
 * is created) lets an open with the wrong storage key fail with its own clear error before
 * anything is read or written, rather than as a confusing "corrupt row" later.
 *
 * The storage key is held as a `KeyObject`: it never appears in `util.inspect` or logs.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { KeyStoreError, type StoreScope } from './key-store.ts';

export const STORAGE_KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEALED_FORMAT_V1 = 0x01;
/** Bytes a sealed value adds to its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;
export const KEY_CHECK_AAD = 'key-check';
export const KEY_CHECK_PLAINTEXT = 'eigenx-kms/key-store/key-check/v1';
const AAD_PREFIX = 'eigenx-kms/key-store/v1';

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

/** The associated data that binds a value to its row (see the module comment). */
export function rowAad(scope: StoreScope, table: string, rowKey: string): string {
  return [AAD_PREFIX, scope.chainId.toString(), scope.registry.toLowerCase(), scope.operator.toLowerCase(), table, rowKey].join('|');
}

/** Encrypts `plaintext` for the row named by `aad`. */
export function sealValue(key: KeyObject, aad: string, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(SEALED_FORMAT_V1), nonce, body, cipher.getAuthTag()]);
}

/**
 * Decrypts a blob sealed for the row named by `aad`. Any failure — unknown format, short
 * blob, wrong row, altered bytes — is `corrupt`, naming `what` (e.g. "the share of version 3")
 * and never the bytes. (A wrong storage key is caught earlier by the key check.)
 */
export function openValue(key: KeyObject, aad: string, blob: Uint8Array, what: string): Uint8Array {
  const pt = tryOpen(key, aad, blob);
  if (pt === null) {
    throw new KeyStoreError('corrupt', `could not decrypt ${what}: the stored value was altered or moved from another row`);
  }
  return pt;
}

function tryOpen(key: KeyObject, aad: string, blob: Uint8Array): Uint8Array | null {
  if (!(blob instanceof Uint8Array) || blob.length < SEAL_OVERHEAD || blob[0] !== SEALED_FORMAT_V1) return null;
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

/** The key-check value written when a store is created. */
export function makeKeyCheck(key: KeyObject): Buffer {
  return sealValue(key, KEY_CHECK_AAD, Buffer.from(KEY_CHECK_PLAINTEXT, 'utf8'));
}

/** Throws wrong-storage-key unless `check` opens under `key` to the expected constant. */
export function verifyKeyCheck(key: KeyObject, check: Uint8Array): void {
  const pt = tryOpen(key, KEY_CHECK_AAD, check);
  if (pt === null || Buffer.from(pt).toString('utf8') !== KEY_CHECK_PLAINTEXT) {
    throw new KeyStoreError('wrong-storage-key', 'the storage key does not open this key store');
  }
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
