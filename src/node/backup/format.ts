/**
 * @module
 * The key-store backup file, format `eigenx-kms-backup` version 1 (docs/formats.md has the
 * byte-level description). One UTF-8 JSON document:
 *
 *   { "format": "eigenx-kms-backup", "version": 1, "createdAt": <unix s>,
 *     "scope": { "chainId": "<decimal>", "registry": "0x…", "operator": "0x…" },
 *     "mpk": "0x…96 bytes" | null,
 *     "summary": { "versions": [{ "id", "status", "threshold", "publicPolyHash" }], "sessionKeys": ["0x…33 bytes"] },
 *     "encryption": <passphrase | recipient>,
 *     "ciphertext": "<base64 of AES-256-GCM(key, nonce, payload JSON) ‖ 16-byte tag>" }
 *
 * Encryption (never without):
 * - passphrase: `{ "kind": "passphrase", "kdf": "scrypt", "N", "r", "p", "salt": 16 bytes hex,
 *   "nonce": 12 bytes hex }`; key = scrypt(passphrase UTF-8, salt, N, r, p, dkLen 32) (RFC 7914,
 *   @noble/hashes). Defaults N = 2^17, r = 8, p = 1 (128 MiB, about a second); a file asking for
 *   more than N = 2^20, r = 16 or p = 4 is refused before any work (a crafted file must not make
 *   a restore allocate gigabytes).
 * - recipient: `{ "kind": "recipient", "scheme": "x25519-hkdf-sha256", "recipient": 32 bytes hex,
 *   "ephemeral": 32 bytes hex, "nonce": 12 bytes hex }`; key = HKDF-SHA256(ikm = X25519(e, R),
 *   salt = ephemeral ‖ recipient, info = "eigenx-kms backup v1", 32) (ECIES; @noble/curves).
 *   The recipient's secret key stays offline until a restore.
 *
 * The associated data of the AEAD is the header: every field but `ciphertext`, re-serialised in
 * the fixed order above (`headerBytes`), so no header field (scope, summary, KDF parameters) can
 * be changed without the decryption failing. The payload (plaintext) is
 *
 *   { "versions": [{ id, status, share: 32 bytes hex, publicPoly, publicPolyHash, threshold,
 *                    holders, confirmedAt, activatedAt }],
 *     "sessionKeys": [{ publicKey, secretKey: 32 bytes hex, createdAt }] }
 *
 * and holds only what a restore needs: the versions the node may still serve (`active`; never
 * retired material, never a pending share whose round state is not backed up) and the session
 * keys the store holds. The summary repeats their public parts in clear so `kms-server restore`
 * can say what a file holds before asking for its secret. Every field is validated on read
 * (`parseBackup`, `parsePayload`); a file that fails says which field.
 */
import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Address, Hex } from '../../protocol/ledger.ts';
import type { StoreScope, StoredSessionKey, StoredVersion } from '../key-store.ts';

export const BACKUP_FORMAT = 'eigenx-kms-backup';
export const BACKUP_VERSION = 1;
/** Largest backup file read (a store's few versions and keys are a few kB). */
export const MAX_BACKUP_BYTES = 4 * 1024 * 1024;

export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
const MAX_SCRYPT = { N: 2 ** 20, r: 16, p: 4 } as const;
const RECIPIENT_INFO = new TextEncoder().encode('eigenx-kms backup v1');

export class BackupFormatError extends Error {
  override readonly name = 'BackupFormatError';
}

export type BackupEncryption =
  | { readonly kind: 'passphrase'; readonly kdf: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: Hex; readonly nonce: Hex }
  | { readonly kind: 'recipient'; readonly scheme: 'x25519-hkdf-sha256'; readonly recipient: Hex; readonly ephemeral: Hex; readonly nonce: Hex };

export interface BackupSummary {
  readonly versions: readonly { readonly id: number; readonly status: string; readonly threshold: number; readonly publicPolyHash: Hex }[];
  readonly sessionKeys: readonly Hex[];
}

export interface BackupHeader {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly createdAt: number;
  readonly scope: { readonly chainId: string; readonly registry: Address; readonly operator: Address };
  readonly mpk: Hex | null;
  readonly summary: BackupSummary;
  readonly encryption: BackupEncryption;
}

export interface BackupFile extends BackupHeader {
  readonly ciphertext: string;
}

/** What a backup restores. */
export interface BackupPayload {
  readonly versions: readonly StoredVersion[];
  readonly sessionKeys: readonly StoredSessionKey[];
}

/** How to encrypt: a passphrase (scrypt) or a recipient's X25519 public key. */
export type BackupKey =
  | { readonly passphrase: string; readonly scrypt?: { readonly N: number; readonly r: number; readonly p: number } }
  | { readonly recipient: Uint8Array };

/** How to decrypt: the passphrase, or the recipient's X25519 secret key. */
export type BackupSecret = { readonly passphrase: string } | { readonly recipientSecret: Uint8Array };

// ---------------------------------------------------------------------------------------
// Validation helpers: each names the field, never a secret value.

const bad = (what: string, expected: string): BackupFormatError => new BackupFormatError(`backup file: ${what}: expected ${expected}`);

function obj(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'an object');
  const extra = Object.keys(v).filter((k) => !keys.includes(k));
  if (extra.length > 0) throw new BackupFormatError(`backup file: ${what}: unknown field ${JSON.stringify(extra[0]).slice(0, 40)}`);
  return v as Record<string, unknown>;
}

function hex(v: unknown, bytes: number | null, what: string): Hex {
  if (typeof v !== 'string' || !/^0x(?:[0-9a-f]{2})*$/.test(v) || (bytes !== null && v.length !== 2 + 2 * bytes)) {
    throw bad(what, bytes === null ? 'lowercase 0x-hex' : `${bytes} bytes of lowercase 0x-hex`);
  }
  return v as Hex;
}

function uint(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw bad(what, `an integer from 0 to ${max}`);
  return v;
}

function arr(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(what, `an array of at most ${max} entries`);
  return v;
}

const toBytes = (h: Hex): Uint8Array => Uint8Array.from(Buffer.from(h.slice(2), 'hex'));
const toHexStr = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`;

// ---------------------------------------------------------------------------------------
// Header

/** The AEAD's associated data: the header, every field in a fixed order (module comment). */
export function headerBytes(h: BackupHeader): Uint8Array {
  const e = h.encryption;
  const encryption = e.kind === 'passphrase'
    ? { kind: e.kind, kdf: e.kdf, N: e.N, r: e.r, p: e.p, salt: e.salt, nonce: e.nonce }
    : { kind: e.kind, scheme: e.scheme, recipient: e.recipient, ephemeral: e.ephemeral, nonce: e.nonce };
  const ordered = {
    format: h.format, version: h.version, createdAt: h.createdAt,
    scope: { chainId: h.scope.chainId, registry: h.scope.registry, operator: h.scope.operator },
    mpk: h.mpk,
    summary: {
      versions: h.summary.versions.map((v) => ({ id: v.id, status: v.status, threshold: v.threshold, publicPolyHash: v.publicPolyHash })),
      sessionKeys: [...h.summary.sessionKeys],
    },
    encryption,
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}

/** Parses and validates a backup file's text (not its ciphertext's content). */
export function parseBackup(text: string): BackupFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BackupFormatError('backup file: not JSON (is this an eigenx-kms backup?)');
  }
  const o = obj(json, 'the file', ['format', 'version', 'createdAt', 'scope', 'mpk', 'summary', 'encryption', 'ciphertext']);
  if (o.format !== BACKUP_FORMAT) throw bad('format', `"${BACKUP_FORMAT}" (this is not an eigenx-kms backup)`);
  if (o.version !== BACKUP_VERSION) throw new BackupFormatError(`backup file: format version ${String(o.version).slice(0, 20)}; this build reads version ${BACKUP_VERSION}`);
  const createdAt = uint(o.createdAt, 'createdAt');
  const s = obj(o.scope, 'scope', ['chainId', 'registry', 'operator']);
  if (typeof s.chainId !== 'string' || !/^[1-9]\d{0,19}$/.test(s.chainId)) throw bad('scope.chainId', 'a decimal chain id');
  const scope = { chainId: s.chainId, registry: hex(s.registry, 20, 'scope.registry'), operator: hex(s.operator, 20, 'scope.operator') };
  const mpk = o.mpk === null ? null : hex(o.mpk, 96, 'mpk');
  const sm = obj(o.summary, 'summary', ['versions', 'sessionKeys']);
  const versions = arr(sm.versions, 'summary.versions', 64).map((v, i) => {
    const x = obj(v, `summary.versions[${i}]`, ['id', 'status', 'threshold', 'publicPolyHash']);
    if (x.status !== 'active') throw bad(`summary.versions[${i}].status`, '"active"');
    return { id: uint(x.id, `summary.versions[${i}].id`), status: 'active', threshold: uint(x.threshold, `summary.versions[${i}].threshold`, 10_000), publicPolyHash: hex(x.publicPolyHash, 32, `summary.versions[${i}].publicPolyHash`) };
  });
  const sessionKeys = arr(sm.sessionKeys, 'summary.sessionKeys', 256).map((k, i) => hex(k, 33, `summary.sessionKeys[${i}]`));
  const e = o.encryption as { kind?: unknown } | null;
  let encryption: BackupEncryption;
  if (e?.kind === 'passphrase') {
    const x = obj(e, 'encryption', ['kind', 'kdf', 'N', 'r', 'p', 'salt', 'nonce']);
    if (x.kdf !== 'scrypt') throw bad('encryption.kdf', '"scrypt"');
    const N = uint(x.N, 'encryption.N', MAX_SCRYPT.N);
    if (N < 2 ** 10 || (N & (N - 1)) !== 0) throw bad('encryption.N', `a power of two from 2^10 to 2^20`);
    const r = uint(x.r, 'encryption.r', MAX_SCRYPT.r);
    const p = uint(x.p, 'encryption.p', MAX_SCRYPT.p);
    if (r < 1 || p < 1) throw bad('encryption.r and p', 'at least 1');
    encryption = { kind: 'passphrase', kdf: 'scrypt', N, r, p, salt: hex(x.salt, 16, 'encryption.salt'), nonce: hex(x.nonce, 12, 'encryption.nonce') };
  } else if (e?.kind === 'recipient') {
    const x = obj(e, 'encryption', ['kind', 'scheme', 'recipient', 'ephemeral', 'nonce']);
    if (x.scheme !== 'x25519-hkdf-sha256') throw bad('encryption.scheme', '"x25519-hkdf-sha256"');
    encryption = { kind: 'recipient', scheme: 'x25519-hkdf-sha256', recipient: hex(x.recipient, 32, 'encryption.recipient'), ephemeral: hex(x.ephemeral, 32, 'encryption.ephemeral'), nonce: hex(x.nonce, 12, 'encryption.nonce') };
  } else {
    throw bad('encryption.kind', '"passphrase" or "recipient"');
  }
  if (typeof o.ciphertext !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(o.ciphertext) || o.ciphertext.length % 4 !== 0) throw bad('ciphertext', 'base64');
  return { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt, scope, mpk, summary: { versions, sessionKeys }, encryption, ciphertext: o.ciphertext };
}

/** The scope a backup belongs to, as the key store names it. */
export function backupScope(h: BackupHeader): StoreScope {
  return { chainId: BigInt(h.scope.chainId), registry: h.scope.registry, operator: h.scope.operator };
}

// ---------------------------------------------------------------------------------------
// Payload

function versionJson(v: StoredVersion): Record<string, unknown> {
  return {
    id: v.id, status: v.status, share: `0x${v.share.toString(16).padStart(64, '0')}`, publicPoly: v.publicPoly, publicPolyHash: v.publicPolyHash,
    threshold: v.threshold, holders: [...v.holders], confirmedAt: v.confirmedAt, activatedAt: v.activatedAt,
  };
}

/** Validates the decrypted payload against its header's summary. */
export function parsePayload(bytes: Uint8Array, header: BackupHeader): BackupPayload {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BackupFormatError('backup file: the decrypted payload is not JSON');
  }
  const o = obj(json, 'payload', ['versions', 'sessionKeys']);
  const versions: StoredVersion[] = arr(o.versions, 'payload.versions', 64).map((v, i) => {
    const w = `payload.versions[${i}]`;
    const x = obj(v, w, ['id', 'status', 'share', 'publicPoly', 'publicPolyHash', 'threshold', 'holders', 'confirmedAt', 'activatedAt']);
    if (x.status !== 'active') throw bad(`${w}.status`, '"active"');
    const threshold = uint(x.threshold, `${w}.threshold`, 10_000);
    return {
      id: uint(x.id, `${w}.id`), status: 'active', share: BigInt(hex(x.share, 32, `${w}.share`)),
      publicPoly: hex(x.publicPoly, 96 * threshold, `${w}.publicPoly`), publicPolyHash: hex(x.publicPolyHash, 32, `${w}.publicPolyHash`), threshold,
      holders: arr(x.holders, `${w}.holders`, 10_000).map((h, j) => hex(h, 20, `${w}.holders[${j}]`)),
      confirmedAt: uint(x.confirmedAt, `${w}.confirmedAt`), activatedAt: uint(x.activatedAt, `${w}.activatedAt`),
    };
  });
  const sessionKeys: StoredSessionKey[] = arr(o.sessionKeys, 'payload.sessionKeys', 256).map((k, i) => {
    const x = obj(k, `payload.sessionKeys[${i}]`, ['publicKey', 'secretKey', 'createdAt']);
    return { publicKey: hex(x.publicKey, 33, `payload.sessionKeys[${i}].publicKey`), secretKey: toBytes(hex(x.secretKey, 32, `payload.sessionKeys[${i}].secretKey`)), createdAt: uint(x.createdAt, `payload.sessionKeys[${i}].createdAt`) };
  });
  const same = JSON.stringify(versions.map((v) => [v.id, v.threshold, v.publicPolyHash])) === JSON.stringify(header.summary.versions.map((v) => [v.id, v.threshold, v.publicPolyHash]))
    && JSON.stringify(sessionKeys.map((k) => k.publicKey)) === JSON.stringify(header.summary.sessionKeys);
  if (!same) throw new BackupFormatError('backup file: the payload does not match the header\'s summary');
  return { versions, sessionKeys };
}

// ---------------------------------------------------------------------------------------
// Encryption

async function passphraseKey(passphrase: string, e: { N: number; r: number; p: number; salt: Hex }): Promise<Uint8Array> {
  if (passphrase.length === 0) throw new BackupFormatError('the backup passphrase is empty');
  return scryptAsync(new TextEncoder().encode(passphrase.normalize('NFKC')), toBytes(e.salt), { N: e.N, r: e.r, p: e.p, dkLen: 32, maxmem: 2 ** 32 });
}

function recipientKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  const salt = new Uint8Array(64);
  salt.set(ephemeral, 0);
  salt.set(recipient, 32);
  return hkdf(sha256, shared, salt, RECIPIENT_INFO, 32);
}

/** Encrypts a backup of `payload` for `key` (fresh salt, ephemeral key and nonce each time). */
export async function encryptBackup(scope: StoreScope, mpk: Hex | null, payload: BackupPayload, key: BackupKey, createdAt: number): Promise<BackupFile> {
  const nonce = toHexStr(randomBytes(12));
  let encryption: BackupEncryption;
  let aeadKey: Uint8Array;
  if ('passphrase' in key) {
    const { N, r, p } = key.scrypt ?? DEFAULT_SCRYPT;
    const e = { kind: 'passphrase' as const, kdf: 'scrypt' as const, N, r, p, salt: toHexStr(randomBytes(16)), nonce };
    aeadKey = await passphraseKey(key.passphrase, e);
    encryption = e;
  } else {
    if (!(key.recipient instanceof Uint8Array) || key.recipient.length !== 32) throw new BackupFormatError('recipient: expected a 32-byte X25519 public key');
    const eph = x25519.utils.randomSecretKey();
    const ephPub = x25519.getPublicKey(eph);
    const shared = x25519.getSharedSecret(eph, key.recipient);
    eph.fill(0);
    aeadKey = recipientKey(shared, ephPub, key.recipient);
    shared.fill(0);
    encryption = { kind: 'recipient', scheme: 'x25519-hkdf-sha256', recipient: toHexStr(key.recipient), ephemeral: toHexStr(ephPub), nonce };
  }
  const header: BackupHeader = {
    format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt,
    scope: { chainId: scope.chainId.toString(), registry: scope.registry, operator: scope.operator },
    mpk,
    summary: {
      versions: payload.versions.map((v) => ({ id: v.id, status: v.status, threshold: v.threshold, publicPolyHash: v.publicPolyHash })),
      sessionKeys: payload.sessionKeys.map((k) => k.publicKey),
    },
    encryption,
  };
  const plain = new TextEncoder().encode(JSON.stringify({
    versions: payload.versions.map(versionJson),
    sessionKeys: payload.sessionKeys.map((k) => ({ publicKey: k.publicKey, secretKey: toHexStr(k.secretKey), createdAt: k.createdAt })),
  }));
  const sealed = gcm(aeadKey, toBytes(nonce), headerBytes(header)).encrypt(plain);
  plain.fill(0);
  aeadKey.fill(0);
  return { ...header, ciphertext: Buffer.from(sealed).toString('base64') };
}

/** Decrypts and validates a parsed backup; a wrong passphrase or key, or an altered file, fails as such. */
export async function decryptBackup(file: BackupFile, secret: BackupSecret): Promise<BackupPayload> {
  const e = file.encryption;
  let aeadKey: Uint8Array;
  if (e.kind === 'passphrase') {
    if (!('passphrase' in secret)) throw new BackupFormatError('this backup is encrypted to a passphrase: give --passphrase-file (or KMS_BACKUP_PASSPHRASE)');
    aeadKey = await passphraseKey(secret.passphrase, e);
  } else {
    if (!('recipientSecret' in secret)) throw new BackupFormatError(`this backup is encrypted to the X25519 public key ${e.recipient}: give its secret key (--recipient-key-file)`);
    const mine = x25519.getPublicKey(secret.recipientSecret);
    if (toHexStr(mine) !== e.recipient) throw new BackupFormatError(`this backup is encrypted to the X25519 public key ${e.recipient}, not to the key given (public ${toHexStr(mine)})`);
    const shared = x25519.getSharedSecret(secret.recipientSecret, toBytes(e.ephemeral));
    aeadKey = recipientKey(shared, toBytes(e.ephemeral), mine);
    shared.fill(0);
  }
  let plain: Uint8Array;
  try {
    plain = gcm(aeadKey, toBytes(e.nonce), headerBytes(file)).decrypt(Uint8Array.from(Buffer.from(file.ciphertext, 'base64')));
  } catch {
    throw new BackupFormatError(e.kind === 'passphrase' ? 'the backup does not decrypt: wrong passphrase, or the file was altered' : 'the backup does not decrypt: the file was altered');
  } finally {
    aeadKey.fill(0);
  }
  try {
    return parsePayload(plain, file);
  } finally {
    plain.fill(0);
  }
}

/** The X25519 public key of a secret key (for `--recipient`: publish the public half). */
export function recipientPublicKey(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

/** A short fingerprint of a file's header (shown in logs and output; not secret). */
export function backupFingerprint(h: BackupHeader): string {
  return toHexStr(sha256(headerBytes(h))).slice(0, 18);
}
