/**
 * @module
 * Identity-based encryption to an app id: the IBE envelope v1 (SPEC §2, issue 2 item 4).
 *
 * **KEM** — Boneh–Franklin FullIdent with the master key in G2, byte-for-byte as drand's
 * timelock IBE (tlock-js `encryptOnG2RFC9380` / `decryptOnG2`, kyber `ibe.EncryptCCAonG2`):
 *
 *     Q   = hash_to_curve_G1(utf8(appId)), DST "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
 *     σ   ← random, |σ| = |M| (1..32 bytes; the envelope always wraps a 32-byte DEK M)
 *     r   = H3(σ, M)
 *     U   = r·G2                                   (96 bytes, compressed)
 *     V   = σ ⊕ H2(e(Q, MPK)^r)                    (|M| bytes)
 *     W   = M ⊕ H4(σ)                              (|M| bytes)
 *   with
 *     H2(g)    = SHA-256("IBE-H2" ‖ gtToBytes(g))[:|M|]   (gtToBytes: 576 bytes, kilic/kyber order)
 *     H4(σ)    = SHA-256("IBE-H4" ‖ σ)[:|M|]
 *     H3(σ, M) = first h_i < r for i = 1, 2, …, 65534, where
 *                h   = SHA-256("IBE-H3" ‖ σ ‖ M),
 *                h_i = SHA-256(u16le(i) ‖ h) with byte 0 shifted right by one bit
 *                      (`h_i[0] >>= 1`, tlock/kyber "BitsToMaskForBLS12381"), read big-endian.
 *   Decryption with the app key d = x·Q (G1, 48 bytes), since e(d, U) = e(Q, MPK)^r:
 *     σ = V ⊕ H2(e(d, U)),  M = W ⊕ H4(σ),  and accept only if U == H3(σ, M)·G2
 *   (the Fujisaki–Okamoto check: any change to U, V or W, or a wrong key, fails it).
 *   We compute e(Q, MPK)^r as e(r·Q, MPK) — the same GT element, one G1 multiplication
 *   instead of an Fp12 exponentiation.
 *
 * **DEM** — AES-256-GCM (node:crypto) under the DEK, 12-byte nonce, 16-byte tag, with every
 * byte before the ciphertext as associated data.
 *
 * **Envelope v1** (L = UTF-8 length of appId, n = plaintext length; total 195 + L + n bytes):
 *
 *     offset     size  field
 *     0          4     magic "EKMS" (45 4b 4d 53)
 *     4          1     version 0x01
 *     5          2     L, big-endian (0..65535)
 *     7          L     appId, UTF-8 (well-formed; a BOM is kept, never stripped)
 *     7+L        96    U, compressed G2 (canonical, in the subgroup, not the identity)
 *     103+L      32    V
 *     135+L      32    W
 *     167+L      12    nonce
 *     179+L      n+16  AES-256-GCM(DEK, nonce, plaintext, AAD = bytes [0, 179+L)) ‖ tag
 *
 * Parsing is strict and every failure is an {@link IbeError} with a `code`; decryption never
 * returns unauthenticated bytes. No error message carries the DEK, σ, the app key or any
 * plaintext. Full description and interop notes: `docs/formats.md`.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bls } from './bls12381/index.ts';
import { APP_ID_DST, PointError, type Bls12381, type G1, type G2 } from './bls12381/types.ts';
import { aBytes } from './domain.ts';
import { R } from './fr.ts';
import { systemRng, type Rng } from './rng.ts';

// ---------------------------------------------------------------------------------------------
// Constants and errors

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const MAGIC = ascii('EKMS');
const TAG_H2 = ascii('IBE-H2');
const TAG_H3 = ascii('IBE-H3');
const TAG_H4 = ascii('IBE-H4');

/** Sizes and offsets of envelope v1 (offsets after the appId are relative to `7 + L`). */
export const ENVELOPE_V1 = Object.freeze({
  magic: 'EKMS',
  version: 1,
  /** magic + version + u16 length. */
  prefixLength: 7,
  maxAppIdBytes: 0xffff,
  uLength: 96,
  vLength: 32,
  wLength: 32,
  nonceLength: 12,
  tagLength: 16,
  dekLength: 32,
  /** Bytes besides the appId and the plaintext: 7 + 96 + 32 + 32 + 12 + 16. */
  overhead: 195,
});

const { prefixLength: PREFIX, uLength: U_LEN, vLength: V_LEN, wLength: W_LEN } = ENVELOPE_V1;
const { nonceLength: NONCE_LEN, tagLength: TAG_LEN, dekLength: DEK_LEN } = ENVELOPE_V1;
/** Largest KEM message: H2 and H4 are one SHA-256 output. */
const KEM_MAX_MSG = 32;

export type IbeErrorCode =
  /** The envelope does not start with "EKMS". */
  | 'bad-magic'
  /** The version byte is not one this code reads. */
  | 'bad-version'
  /** The input ends before a field it announces (including an appId length past the end). */
  | 'truncated'
  /** The envelope's appId bytes are not well-formed UTF-8. */
  | 'bad-app-id'
  /** U is not a canonical, non-identity point of the G2 subgroup. */
  | 'bad-point'
  /** The app key (G1) or master public key (G2) handed in is not a valid point. */
  | 'bad-key'
  /** The envelope is addressed to another app id than the caller expects. */
  | 'wrong-app'
  /** Authentication failed: the KEM check (wrong key, tampered U/V/W) or the GCM tag. */
  | 'decrypt-failed'
  /** Armored text is not canonical base64. */
  | 'bad-armor';

/** A refused envelope or key. `code` is stable; the message explains and holds no secret. */
export class IbeError extends Error {
  override readonly name = 'IbeError';
  readonly code: IbeErrorCode;
  constructor(code: IbeErrorCode, message: string, options?: { cause?: unknown }) {
    super(`ibe: ${message}`, options);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Asserts (return their input; TypeError for a wrong type, RangeError for a wrong size)

function arng(rng: Rng): Rng {
  if (typeof rng !== 'function') throw new TypeError(`rng: expected a function, got ${typeof rng}`);
  return rng;
}

function acurve(curve: Bls12381): Bls12381 {
  if (typeof curve !== 'object' || curve === null || typeof curve.pairing !== 'function')
    throw new TypeError(`curve: expected a Bls12381 backend, got ${curve === null ? 'null' : typeof curve}`);
  return curve;
}

function draw(rng: Rng, n: number, what: string): Uint8Array {
  const b = rng(n);
  if (!(b instanceof Uint8Array) || b.length !== n)
    throw new RangeError(`rng: expected ${n} bytes for ${what}, got ${b instanceof Uint8Array ? b.length : typeof b}`);
  return b;
}

const utf8 = new TextEncoder();
// fatal: refuse malformed UTF-8 (overlong forms, surrogates, truncated sequences);
// ignoreBOM: keep a leading U+FEFF so that decode∘encode is the identity on the bytes.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 of an app id; refuses lone surrogates (TextEncoder would silently replace them). */
function appIdBytes(appId: string): Uint8Array {
  if (typeof appId !== 'string') throw new TypeError(`appId: expected string, got ${typeof appId}`);
  const b = utf8.encode(appId);
  if (utf8Strict.decode(b) !== appId) throw new RangeError('appId: not a well-formed Unicode string (lone surrogate)');
  if (b.length > ENVELOPE_V1.maxAppIdBytes)
    throw new RangeError(`appId: expected at most ${ENVELOPE_V1.maxAppIdBytes} UTF-8 bytes, got ${b.length}`);
  return b;
}

/** An app id for messages: public, but possibly 64 KiB long; quoted and shortened. */
function showId(id: string): string {
  return JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
}

function toMpk(mpk: Uint8Array | G2, curve: Bls12381): G2 {
  if (!(mpk instanceof Uint8Array)) {
    if (typeof mpk !== 'object' || mpk === null) throw new TypeError(`mpk: expected Uint8Array or G2, got ${typeof mpk}`);
    if (curve.g2.isZero(mpk)) throw new IbeError('bad-key', 'mpk: the identity is not a master public key');
    return mpk;
  }
  try {
    return curve.g2.decode(mpk);
  } catch (e) {
    // The MPK is public: the decoder's reason may be shown.
    throw new IbeError('bad-key', `mpk: ${e instanceof Error ? e.message : 'invalid G2 point'}`, { cause: e });
  }
}

function toAppKey(key: Uint8Array | G1, curve: Bls12381): G1 {
  if (!(key instanceof Uint8Array)) {
    if (typeof key !== 'object' || key === null) throw new TypeError(`appKey: expected Uint8Array or G1, got ${typeof key}`);
    if (curve.g1.isZero(key)) throw new IbeError('bad-key', 'appKey: the identity is not an app key');
    return key;
  }
  try {
    return curve.g1.decode(key);
  } catch (e) {
    // The key is secret: report the kind of failure only, and keep no cause that could echo it.
    const why = e instanceof PointError ? 'not a valid G1 point' : 'not decodable';
    throw new IbeError('bad-key', `appKey: ${why} (${key.length} bytes)`);
  }
}

// ---------------------------------------------------------------------------------------------
// KEM hashes

const digest = (...parts: Uint8Array[]): Uint8Array => {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
};

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

const h2 = (gt: Uint8Array, len: number): Uint8Array => digest(TAG_H2, gt).subarray(0, len);
const h4 = (sigma: Uint8Array, len: number): Uint8Array => digest(TAG_H4, sigma).subarray(0, len);

function h3(sigma: Uint8Array, msg: Uint8Array): bigint {
  const h = digest(TAG_H3, sigma, msg);
  const ctr = new Uint8Array(2);
  for (let i = 1; i < 65535; i++) {
    ctr[0] = i & 0xff;
    ctr[1] = i >> 8;
    const d = digest(ctr, h);
    // tlock/kyber "mask": a right shift of the first byte (not a bit clear), then big-endian.
    d[0] = (d[0] as number) >> 1;
    let n = 0n;
    for (const b of d) n = (n << 8n) | BigInt(b);
    if (n < R) return n;
  }
  // Each try succeeds with probability ≈ 0.9; failing 65534 times does not happen.
  throw new Error('ibe: H3 found no scalar');
}

// ---------------------------------------------------------------------------------------------
// KEM

/** A Boneh–Franklin FullIdent ciphertext, field names as in tlock-js (`Ciphertext`). */
export interface KemCiphertext {
  /** r·G2, 96 bytes compressed. */
  readonly U: Uint8Array;
  /** σ ⊕ H2(e(Q, MPK)^r), |M| bytes. */
  readonly V: Uint8Array;
  /** M ⊕ H4(σ), |M| bytes. */
  readonly W: Uint8Array;
}

/**
 * Encrypts a short message `msg` (1..32 bytes) to `appId` under the master public key, exactly
 * as tlock-js `encryptOnG2RFC9380(mpk, utf8(appId), msg)`.
 * @param mpk master public key x·G2 (96 bytes or a point of `curve`)
 * @param rng randomness for σ (|msg| bytes)
 * @throws IbeError `bad-key` for an invalid MPK; TypeError / RangeError for bad arguments
 */
export function kemEncrypt(
  mpk: Uint8Array | G2,
  appId: string,
  msg: Uint8Array,
  rng: Rng = systemRng,
  curve: Bls12381 = bls,
): KemCiphertext {
  const id = appIdBytes(appId);
  aBytes(msg, undefined, 'msg');
  if (msg.length < 1 || msg.length > KEM_MAX_MSG) throw new RangeError(`msg: expected 1..${KEM_MAX_MSG} bytes, got ${msg.length}`);
  arng(rng);
  acurve(curve);
  const P = toMpk(mpk, curve);
  const sigma = draw(rng, msg.length, 'sigma');
  try {
    const r = h3(sigma, msg);
    const Q = curve.hashToG1(id, APP_ID_DST);
    // e(Q, MPK)^r = e(r·Q, MPK)
    const g = curve.gtToBytes(curve.pairing(curve.g1.mul(Q, r), P));
    return {
      U: curve.g2.encode(curve.g2.mul(curve.g2.generator, r)),
      V: xor(sigma, h2(g, msg.length)),
      W: xor(msg, h4(sigma, msg.length)),
    };
  } finally {
    sigma.fill(0);
  }
}

/** Decodes U strictly (canonical, on curve, in the subgroup, not the identity). */
function decodeU(U: Uint8Array, curve: Bls12381): G2 {
  try {
    return curve.g2.decode(U);
  } catch (e) {
    // U is public: the decoder's reason may be shown.
    throw new IbeError('bad-point', `U: ${e instanceof Error ? e.message : 'invalid G2 point'}`, { cause: e });
  }
}

function kemOpen(d: G1, U: G2, V: Uint8Array, W: Uint8Array, curve: Bls12381): Uint8Array {
  const len = W.length;
  // e(d, U) = e(x·Q, r·G2) = e(Q, MPK)^r
  const sigma = xor(V, h2(curve.gtToBytes(curve.pairing(d, U)), len));
  const msg = xor(W, h4(sigma, len));
  const ok = curve.g2.equals(curve.g2.mul(curve.g2.generator, h3(sigma, msg)), U);
  sigma.fill(0);
  if (!ok) {
    msg.fill(0);
    throw new IbeError('decrypt-failed', 'key encapsulation check failed (wrong app key, or U, V or W was altered)');
  }
  return msg;
}

/**
 * Decrypts a KEM ciphertext with the app key d = x·Q(appId), exactly as tlock-js
 * `decryptOnG2(d, {U, V, W})`; returns the message only if the FO check U == H3(σ, M)·G2 holds.
 * @throws IbeError `bad-key`, `bad-point` or `decrypt-failed`; RangeError if |V| ≠ |W| or not 1..32
 */
export function kemDecrypt(appKey: Uint8Array | G1, ct: KemCiphertext, curve: Bls12381 = bls): Uint8Array {
  if (typeof ct !== 'object' || ct === null) throw new TypeError(`ciphertext: expected {U, V, W}, got ${typeof ct}`);
  aBytes(ct.U, undefined, 'ciphertext.U');
  aBytes(ct.V, undefined, 'ciphertext.V');
  aBytes(ct.W, undefined, 'ciphertext.W');
  if (ct.V.length !== ct.W.length || ct.W.length < 1 || ct.W.length > KEM_MAX_MSG)
    throw new RangeError(`ciphertext: expected |V| = |W| in 1..${KEM_MAX_MSG}, got ${ct.V.length} and ${ct.W.length}`);
  acurve(curve);
  const d = toAppKey(appKey, curve);
  return kemOpen(d, decodeU(ct.U, curve), ct.V, ct.W, curve);
}

// ---------------------------------------------------------------------------------------------
// Envelope v1

/** The fields of an envelope v1 (copies; the input is not retained). */
export interface EnvelopeV1 {
  readonly version: 1;
  readonly appId: string;
  /** UTF-8 bytes of `appId`, exactly as in the envelope. */
  readonly appIdBytes: Uint8Array;
  readonly U: Uint8Array;
  readonly V: Uint8Array;
  readonly W: Uint8Array;
  readonly nonce: Uint8Array;
  /** AES-256-GCM ciphertext followed by the 16-byte tag. */
  readonly ciphertext: Uint8Array;
  /** The associated data: every byte before the ciphertext (7 + L + 172 bytes). */
  readonly header: Uint8Array;
}

interface RawEnvelope {
  appId: string;
  appIdBytes: Uint8Array;
  U: Uint8Array;
  V: Uint8Array;
  W: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  header: Uint8Array;
}

/** Byte-level parse (no curve work); every field is a view into `b`. */
function parseRaw(b: Uint8Array): RawEnvelope {
  const magicLen = Math.min(b.length, MAGIC.length);
  for (let i = 0; i < magicLen; i++)
    if (b[i] !== MAGIC[i]) throw new IbeError('bad-magic', 'envelope: does not start with "EKMS"');
  if (b.length > 4 && b[4] !== ENVELOPE_V1.version)
    throw new IbeError('bad-version', `envelope: unknown version ${b[4]} (this code reads 1)`);
  if (b.length < PREFIX) throw new IbeError('truncated', `envelope: ${b.length} bytes, shorter than its ${PREFIX}-byte prefix`);
  const L = ((b[5] as number) << 8) | (b[6] as number);
  const u = PREFIX + L;
  const ctOff = u + U_LEN + V_LEN + W_LEN + NONCE_LEN;
  if (b.length < ctOff + TAG_LEN)
    throw new IbeError(
      'truncated',
      `envelope: ${b.length} bytes, but an appId of ${L} bytes needs at least ${ctOff + TAG_LEN}`,
    );
  const appIdB = b.subarray(PREFIX, u);
  let appId: string;
  try {
    appId = utf8Strict.decode(appIdB);
  } catch (e) {
    throw new IbeError('bad-app-id', 'envelope: appId is not well-formed UTF-8', { cause: e });
  }
  return {
    appId,
    appIdBytes: appIdB,
    U: b.subarray(u, u + U_LEN),
    V: b.subarray(u + U_LEN, u + U_LEN + V_LEN),
    W: b.subarray(u + U_LEN + V_LEN, u + U_LEN + V_LEN + W_LEN),
    nonce: b.subarray(ctOff - NONCE_LEN, ctOff),
    ciphertext: b.subarray(ctOff),
    header: b.subarray(0, ctOff),
  };
}

/**
 * Parses an envelope v1 strictly, including the point check on U, without decrypting.
 * @throws IbeError `bad-magic`, `bad-version`, `truncated`, `bad-app-id` or `bad-point`
 */
export function parseEnvelope(envelope: Uint8Array, curve: Bls12381 = bls): EnvelopeV1 {
  aBytes(envelope, undefined, 'envelope');
  acurve(curve);
  const raw = parseRaw(envelope);
  decodeU(raw.U, curve);
  return {
    version: 1,
    appId: raw.appId,
    appIdBytes: raw.appIdBytes.slice(),
    U: raw.U.slice(),
    V: raw.V.slice(),
    W: raw.W.slice(),
    nonce: raw.nonce.slice(),
    ciphertext: raw.ciphertext.slice(),
    header: raw.header.slice(),
  };
}

/**
 * Encrypts `plaintext` to `appId`: a fresh 32-byte DEK wrapped by the KEM, the payload sealed
 * with AES-256-GCM under it. Anyone with the MPK can encrypt; only the holder of the app key
 * x·Q(appId) (released by t operators) can decrypt.
 * @param mpk master public key x·G2 (96 bytes, or a point of `curve`)
 * @param appId at most 65535 UTF-8 bytes; must be well-formed Unicode
 * @param rng randomness for the DEK, σ and the nonce (76 bytes in all)
 * @returns the envelope, 195 + |utf8(appId)| + |plaintext| bytes
 * @example
 *   const env = encryptToApp(mpk, '0xabc…', utf8.encode('DB_PASSWORD=…'));
 *   const pt = decryptFromApp(appKey, '0xabc…', env);
 */
export function encryptToApp(
  mpk: Uint8Array | G2,
  appId: string,
  plaintext: Uint8Array,
  rng: Rng = systemRng,
  curve: Bls12381 = bls,
): Uint8Array {
  const id = appIdBytes(appId);
  aBytes(plaintext, undefined, 'plaintext');
  arng(rng);
  acurve(curve);
  const P = toMpk(mpk, curve);
  const dek = draw(rng, DEK_LEN, 'DEK');
  try {
    const { U, V, W } = kemEncrypt(P, appId, dek, rng, curve);
    const nonce = draw(rng, NONCE_LEN, 'nonce');
    const L = id.length;
    const ctOff = PREFIX + L + U_LEN + V_LEN + W_LEN + NONCE_LEN;
    const out = new Uint8Array(ctOff + plaintext.length + TAG_LEN);
    out.set(MAGIC, 0);
    out[4] = ENVELOPE_V1.version;
    out[5] = L >> 8;
    out[6] = L & 0xff;
    let o = PREFIX;
    for (const part of [id, U, V, W, nonce]) {
      out.set(part, o);
      o += part.length;
    }
    const c = createCipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG_LEN });
    c.setAAD(out.subarray(0, ctOff));
    const body = c.update(plaintext);
    out.set(body, ctOff);
    const last = c.final();
    out.set(last, ctOff + body.length);
    out.set(c.getAuthTag(), ctOff + plaintext.length);
    return out;
  } finally {
    dek.fill(0);
  }
}

/**
 * Decrypts an envelope with the app key d = x·Q(appId). `appId` is the id the caller expects:
 * an envelope addressed to another id is refused before any key is used.
 * @param appKey d = x·Q(appId), 48 bytes or a point of `curve` (never appears in errors)
 * @throws IbeError `bad-key`, `bad-magic`, `bad-version`, `truncated`, `bad-app-id`,
 *   `wrong-app`, `bad-point` or `decrypt-failed`; never returns unauthenticated bytes
 */
export function decryptFromApp(
  appKey: Uint8Array | G1,
  appId: string,
  envelope: Uint8Array,
  curve: Bls12381 = bls,
): Uint8Array {
  const expected = appIdBytes(appId);
  aBytes(envelope, undefined, 'envelope');
  acurve(curve);
  const d = toAppKey(appKey, curve);
  const raw = parseRaw(envelope);
  if (!sameBytes(raw.appIdBytes, expected))
    throw new IbeError('wrong-app', `envelope is for app id ${showId(raw.appId)}, expected ${showId(appId)}`);
  const dek = kemOpen(d, decodeU(raw.U, curve), raw.V, raw.W, curve);
  try {
    const n = raw.ciphertext.length - TAG_LEN;
    const dc = createDecipheriv('aes-256-gcm', dek, raw.nonce, { authTagLength: TAG_LEN });
    dc.setAAD(raw.header);
    dc.setAuthTag(raw.ciphertext.subarray(n));
    const out = new Uint8Array(n);
    const body = dc.update(raw.ciphertext.subarray(0, n));
    out.set(body, 0);
    try {
      out.set(dc.final(), body.length);
    } catch {
      // Nothing decrypted leaves this function unless the tag verified.
      out.fill(0);
      body.fill(0);
      throw new IbeError('decrypt-failed', 'AES-256-GCM authentication failed (nonce, ciphertext or tag was altered)');
    }
    body.fill(0);
    return out;
  } finally {
    dek.fill(0);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Armor

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 (RFC 4648 §4, padded) on one line, for CLIs and JSON. */
export function armor(envelope: Uint8Array): string {
  aBytes(envelope, undefined, 'envelope');
  return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('base64');
}

/**
 * Inverse of {@link armor}. Surrounding whitespace is ignored; anything else that is not
 * canonical padded base64 (inner whitespace, URL alphabet, non-zero padding bits) is refused.
 * @throws IbeError `bad-armor`
 */
export function dearmor(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`armored text: expected string, got ${typeof text}`);
  const t = text.trim();
  if (t.length % 4 !== 0 || !B64.test(t)) throw new IbeError('bad-armor', 'armored text: not padded base64 on one line');
  const buf = Buffer.from(t, 'base64');
  if (buf.toString('base64') !== t) throw new IbeError('bad-armor', 'armored text: non-canonical base64');
  return new Uint8Array(buf);
}
