/**
 * @module
 * Sealing deal shares to recipients' per-session keys (SPEC §2 "Sealing deals").
 *
 * Keys are secp256k1: secret 32 bytes (1 ≤ x < n), public 33-byte compressed SEC1 points.
 * Each recipient j publishes a session key `X_j = x_j·G`; a dealer draws one ephemeral key
 * `e` per deal and publishes `E = e·G` (33 bytes) with the deal. For recipient j:
 *
 * ```
 * K    = e·X_j = x_j·E                      (ECDH, node:crypto)
 * ikm  = x(K)                               32 bytes: the x-coordinate of K, big-endian
 *                                           (the SEC1 ECDH shared secret; from a revealed
 *                                           33-byte compressed K it is K[1..33])
 * ctx  = domain ‖ uint256(session) ‖ dealer ‖ recipient     65 + 32 + 20 + 20 = 137 bytes
 * key  = HKDF-SHA256(ikm, salt = empty, info = "eigenx-kms/seal/v1" ‖ ctx, L = 32)
 * sealed = AES-256-GCM(key, nonce = 12 zero bytes, share, AAD = empty)
 *        = ciphertext (32) ‖ tag (16)         48 bytes, fixed
 * ```
 *
 * Why a constant nonce is safe: a GCM key must never encrypt two messages under one nonce.
 * Here every key encrypts exactly one 32-byte share: `e` is fresh per deal, a dealer deals
 * once per session, and `ctx` differs for every (session, dealer, recipient), so even a
 * dealer who reused `e` (a broken rng) would derive distinct keys for distinct recipients
 * and sessions. A random nonce would add 12 bytes per share on-chain and, under these
 * rules, no security.
 *
 * Binding: the context is in the key derivation, so a share opened with any other domain,
 * session, dealer or recipient fails authentication (`SealError`, code `auth-failed`).
 *
 * Complaints: a recipient may reveal K for one deal (with a Chaum–Pedersen proof, see
 * `chaum-pedersen.ts`); `openWithRevealedKey(K, ctx, sealed)` lets anyone open exactly that
 * share, and nothing else: K is specific to (E, X_j). (−K has the same x-coordinate and
 * opens the same share; the DLEQ proof accepts only K itself, which is what matters.)
 *
 * `seal` / `open` use libsecp256k1's ECDH (`secp256k1-native.ts`; node:crypto's where the
 * binding does not load; both far faster than noble); the revealed-key path parses K with noble. Shares are opaque 32-byte strings here (the caller decodes them
 * as BLS12-381 scalars and runs the Feldman check).
 *
 * Errors: anything wrong with data a dealer or complainer supplied (E, K, the sealed bytes:
 * wrong length, not a point, authentication failure) throws `SealError` with a `code`, which
 * the protocol treats as evidence against the supplier. Caller misuse (wrong types, the
 * caller's own key out of range, a malformed context) throws TypeError/RangeError. No error
 * contains key or share material.
 *
 * One decoder decides what a public key is (`isValidSealPublicKey`): exactly 33 bytes, prefix
 * 0x02/0x03, 0 ≤ x < p with x³ + 7 a square mod p (so never the identity, which has no
 * 33-byte encoding). Everything that judges a recipient's key uses it: the dealer that seals
 * to it, and everyone who checks a complaint against it. They must agree (see `sealDeal`).
 *
 * A recipient whose published key is not a point (`sealDeal`, `publicKey: null`) gets an
 * unopenable slot: 48 bytes drawn from the rng, independent of its share, of the polynomial
 * and of `e`. Such a slot leaks nothing (it is a function of fresh randomness only), and
 * nobody can open it: there is no secret behind a key that is not a point, no complaint can
 * prove a reveal against it (a DLEQ proof needs X_j to be a point), and a guessed AES-GCM key
 * passes the tag with probability 2^-128. It looks like any other sealed share on-chain.
 */
import { createCipheriv, createDecipheriv, createECDH, hkdfSync } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ADDRESS_BYTES, aBytes, aDomain, addressBytes, uint256ToBytes, type AddressLike } from './domain.ts';
import { systemRng, type Rng } from './rng.ts';
import { nativeSecp256k1 } from './secp256k1-native.ts';

export const SEAL_INFO_TAG = 'eigenx-kms/seal/v1';
const SEAL_INFO_TAG_BYTES = utf8ToBytes(SEAL_INFO_TAG);
export const SEAL_SECRET_KEY_BYTES = 32;
/** Compressed secp256k1 point: session keys, ephemeral keys, revealed K. */
export const SEAL_PUBLIC_KEY_BYTES = 33;
export const SHARE_BYTES = 32;
export const GCM_TAG_BYTES = 16;
/** ciphertext (32) ‖ tag (16). */
export const SEALED_SHARE_BYTES = SHARE_BYTES + GCM_TAG_BYTES;
/** domain (65) ‖ session (32) ‖ dealer (20) ‖ recipient (20). */
export const SEAL_CONTEXT_BYTES = 65 + 32 + 20 + 20;
const NONCE = new Uint8Array(12);
const SECP256K1_N: bigint = secp256k1.Point.Fn.ORDER;

/** What a sealed share is bound to. */
export interface SealContext {
  /** 65-byte domain prefix (`makeDomain`). */
  readonly domain: Uint8Array;
  /** Session id (uint256). */
  readonly session: bigint | number;
  /** The dealer's operator address. */
  readonly dealer: AddressLike;
  /** The recipient's operator address. */
  readonly recipient: AddressLike;
}

/** A secp256k1 key pair: session encryption key or a deal's ephemeral key. */
export interface SealKeyPair {
  /** 32 bytes, secret. */
  readonly secretKey: Uint8Array;
  /** 33-byte compressed point. */
  readonly publicKey: Uint8Array;
}

export type SealErrorCode = 'bad-public-key' | 'bad-length' | 'auth-failed';

/** A sealed share that cannot be opened; `code` says why. Never carries key material. */
export class SealError extends Error {
  override readonly name = 'SealError';
  readonly code: SealErrorCode;
  constructor(code: SealErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** `domain ‖ uint256(session) ‖ dealer ‖ recipient`, 137 bytes. Also the DLEQ context of a complaint. */
export function encodeSealContext(ctx: SealContext): Uint8Array {
  if (typeof ctx !== 'object' || ctx === null) {
    throw new TypeError(`ctx: expected SealContext object, got ${ctx === null ? 'null' : typeof ctx}`);
  }
  return concatBytes(
    aDomain(ctx.domain, 'ctx.domain'),
    uint256ToBytes(ctx.session, 'ctx.session'),
    addressBytes(ctx.dealer, 'ctx.dealer'),
    addressBytes(ctx.recipient, 'ctx.recipient'),
  );
}

function aSecretKey(secretKey: Uint8Array, what: string): Uint8Array {
  aBytes(secretKey, SEAL_SECRET_KEY_BYTES, what);
  if (!secp256k1.utils.isValidSecretKey(secretKey)) throw new RangeError(`${what}: expected 1 <= k < n (secp256k1)`);
  return secretKey;
}

/** Length and SEC1 compressed prefix; the on-curve check is node's ECDH or noble's decoder. */
function aCompressedPoint(point: Uint8Array, what: string): Uint8Array {
  aBytes(point, SEAL_PUBLIC_KEY_BYTES, what);
  if (point[0] !== 0x02 && point[0] !== 0x03) {
    throw new SealError('bad-public-key', `${what}: expected compressed point (0x02/0x03 prefix)`);
  }
  return point;
}

/** Returns x of the shared point (the SEC1 ECDH secret) from libsecp256k1's ECDH. */
const xOnly = (x: Uint8Array): Uint8Array => x;

/**
 * x(K) for K = secret·point: libsecp256k1's constant-time ECDH when its native binding is
 * loaded (~15× faster here than node:crypto, whose OpenSSL has no fast secp256k1 code, and which
 * also derives the public key in `setPrivateKey`), else node:crypto. SealError if `point` is
 * not on the curve. The tests check both give the same bytes.
 */
function ecdhX(secretKey: Uint8Array, point: Uint8Array, what: string): Uint8Array {
  if (nativeSecp256k1 !== null) {
    const xbuf = new Uint8Array(32);
    const ybuf = new Uint8Array(32);
    try {
      return nativeSecp256k1.ecdh(point, secretKey, { hashfn: xOnly, xbuf, ybuf }, new Uint8Array(32));
    } catch (cause) {
      // The secret key was checked by the caller: only the point can be at fault.
      throw new SealError('bad-public-key', `${what}: not a valid secp256k1 point`, { cause });
    } finally {
      xbuf.fill(0);
      ybuf.fill(0);
    }
  }
  return ecdhXNode(secretKey, point, what);
}

/** `ecdhX` through node:crypto (the fallback, and the tests' reference). */
export function ecdhXNode(secretKey: Uint8Array, point: Uint8Array, what = 'point'): Uint8Array {
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(secretKey);
  try {
    return ecdh.computeSecret(point);
  } catch (cause) {
    throw new SealError('bad-public-key', `${what}: not a valid secp256k1 point`, { cause });
  }
}

function deriveKey(ikm: Uint8Array, ctx: SealContext): Buffer {
  const info = concatBytes(SEAL_INFO_TAG_BYTES, encodeSealContext(ctx));
  return Buffer.from(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32));
}

function encrypt(key: Buffer, share: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, NONCE, { authTagLength: GCM_TAG_BYTES });
  const ct = Buffer.concat([cipher.update(share), cipher.final()]);
  const out = concatBytes(ct, cipher.getAuthTag());
  key.fill(0);
  return out;
}

function decrypt(key: Buffer, sealed: Uint8Array): Uint8Array {
  const decipher = createDecipheriv('aes-256-gcm', key, NONCE, { authTagLength: GCM_TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(SHARE_BYTES));
  try {
    const pt = Buffer.concat([decipher.update(sealed.subarray(0, SHARE_BYTES)), decipher.final()]);
    return new Uint8Array(pt);
  } catch (cause) {
    throw new SealError('auth-failed', 'sealed share: authentication failed (wrong key or context, or tampered)', {
      cause,
    });
  } finally {
    key.fill(0);
  }
}

/** Dealer- or complainer-supplied point: a wrong length is the supplier's fault (SealError). */
function aSuppliedPoint(point: Uint8Array, what: string): Uint8Array {
  aBytes(point, undefined, what);
  if (point.length !== SEAL_PUBLIC_KEY_BYTES) {
    throw new SealError('bad-length', `${what}: expected ${SEAL_PUBLIC_KEY_BYTES} bytes, got ${point.length}`);
  }
  return aCompressedPoint(point, what);
}

function aSealed(sealed: Uint8Array): Uint8Array {
  aBytes(sealed, undefined, 'sealed');
  if (sealed.length !== SEALED_SHARE_BYTES) {
    throw new SealError('bad-length', `sealed: expected ${SEALED_SHARE_BYTES} bytes, got ${sealed.length}`);
  }
  return sealed;
}

/** A fresh secp256k1 key pair (session encryption key or deal ephemeral key) from `rng`. */
export function generateSealKeyPair(rng: Rng = systemRng): SealKeyPair {
  const secretKey = mapHashToField(aBytes(rng(48), 48, 'rng output'), SECP256K1_N);
  return Object.freeze({ secretKey, publicKey: sealPublicKey(secretKey) });
}

/** The 33-byte compressed public key of a secret key. */
export function sealPublicKey(secretKey: Uint8Array): Uint8Array {
  aSecretKey(secretKey, 'secretKey');
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(secretKey);
  return new Uint8Array(ecdh.getPublicKey(null, 'compressed'));
}

/**
 * The canonical decoder (see the module comment): true iff `publicKey` is a 33-byte compressed
 * secp256k1 point — prefix 0x02/0x03, x < p, x on the curve. Never throws, whatever it is given
 * (chain data: a recipient's key may be anything an older contract let through).
 */
export function isValidSealPublicKey(publicKey: unknown): publicKey is Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== SEAL_PUBLIC_KEY_BYTES) return false;
  if (publicKey[0] !== 0x02 && publicKey[0] !== 0x03) return false;
  try {
    // Rejects x ≥ p and an x with no y (x = 0 included: 7 is not a square mod p); the point it
    // returns is never the identity.
    return !secp256k1.Point.fromBytes(publicKey).is0();
  } catch {
    return false;
  }
}

/** Strict check of a 33-byte compressed public key; throws SealError('bad-public-key') if invalid. */
export function validateSealPublicKey(publicKey: Uint8Array, what = 'publicKey'): Uint8Array {
  aCompressedPoint(publicKey, what);
  if (!isValidSealPublicKey(publicKey)) throw new SealError('bad-public-key', `${what}: not a valid secp256k1 point`);
  return publicKey;
}

/**
 * Seals one 32-byte share from the dealer's ephemeral secret `e` to recipient key `X_j`.
 * Returns 48 bytes `ciphertext ‖ tag`.
 */
export function seal(
  ephemeralSecretKey: Uint8Array,
  recipientPublicKey: Uint8Array,
  ctx: SealContext,
  share: Uint8Array,
): Uint8Array {
  if (arguments.length !== 4) throw new TypeError(`seal: expected 4 arguments, got ${arguments.length}`);
  aSecretKey(ephemeralSecretKey, 'ephemeralSecretKey');
  aCompressedPoint(recipientPublicKey, 'recipientPublicKey');
  aBytes(share, SHARE_BYTES, 'share');
  const ikm = ecdhX(ephemeralSecretKey, recipientPublicKey, 'recipientPublicKey');
  const key = deriveKey(ikm, ctx);
  ikm.fill(0);
  return encrypt(key, share);
}

/** One recipient of a deal. */
export interface DealRecipient {
  /**
   * The recipient's session key, or null when the key it published fails
   * `isValidSealPublicKey`: its slot is then 48 random bytes nobody can open (module comment).
   */
  readonly publicKey: Uint8Array | null;
  readonly ctx: SealContext;
  readonly share: Uint8Array;
}

/**
 * Seals every share of one deal under one fresh ephemeral key, which is then discarded.
 * Returns `E` (33 bytes) and the sealed shares in recipient order; a recipient with
 * `publicKey: null` gets `rng(48)` (drawn after E, in recipient order), never its share.
 */
export function sealDeal(
  recipients: readonly DealRecipient[],
  rng: Rng = systemRng,
): { ephemeralPublicKey: Uint8Array; sealed: Uint8Array[] } {
  if (!Array.isArray(recipients)) throw new TypeError(`recipients: expected array, got ${typeof recipients}`);
  // One deal = one (domain, session, dealer): only the recipient may differ between contexts.
  const heads = recipients.map((r) => encodeSealContext(r.ctx).subarray(0, SEAL_CONTEXT_BYTES - ADDRESS_BYTES));
  heads.forEach((head, i) => {
    if (!head.every((b, k) => b === heads[0]?.[k])) {
      throw new RangeError(`recipients[${i}].ctx: domain, session and dealer must equal those of recipients[0]`);
    }
  });
  const { secretKey, publicKey } = generateSealKeyPair(rng);
  try {
    const sealed = recipients.map((r) => (r.publicKey === null ? aBytes(rng(SEALED_SHARE_BYTES), SEALED_SHARE_BYTES, 'rng output') : seal(secretKey, r.publicKey, r.ctx, r.share)));
    return { ephemeralPublicKey: publicKey, sealed };
  } finally {
    secretKey.fill(0);
  }
}

/** The recipient opens its share with its session secret key `x_j` and the deal's `E`. */
export function open(
  sessionSecretKey: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  ctx: SealContext,
  sealed: Uint8Array,
): Uint8Array {
  if (arguments.length !== 4) throw new TypeError(`open: expected 4 arguments, got ${arguments.length}`);
  aSecretKey(sessionSecretKey, 'sessionSecretKey');
  aSuppliedPoint(ephemeralPublicKey, 'ephemeralPublicKey');
  aSealed(sealed);
  const ikm = ecdhX(sessionSecretKey, ephemeralPublicKey, 'ephemeralPublicKey');
  const key = deriveKey(ikm, ctx);
  ikm.fill(0);
  return decrypt(key, sealed);
}

/** Anyone opens one share with the revealed ECDH point `K` (33-byte compressed). */
export function openWithRevealedKey(revealedKey: Uint8Array, ctx: SealContext, sealed: Uint8Array): Uint8Array {
  if (arguments.length !== 3) throw new TypeError(`openWithRevealedKey: expected 3 arguments, got ${arguments.length}`);
  validateSealPublicKey(aSuppliedPoint(revealedKey, 'revealedKey'), 'revealedKey');
  aSealed(sealed);
  return decrypt(deriveKey(revealedKey.subarray(1), ctx), sealed);
}
