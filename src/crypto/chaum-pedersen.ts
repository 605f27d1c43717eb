/**
 * @module
 * Chaum–Pedersen proof of discrete-log equality (DLEQ) on secp256k1, made non-interactive
 * with Fiat–Shamir; used for verifiable complaints (SPEC §2 "Verifiable complaint").
 *
 * Statement: for public points G (the generator), X, H, K: ∃ x with X = x·G and K = x·H.
 * In a complaint, X = X_j (the recipient's session key), H = E (the deal's ephemeral key),
 * K = x_j·E (the ECDH point of that deal), x = x_j.
 *
 * ```
 * prove(x):   k  = nonce (see below)            A1 = k·G   A2 = k·H
 *             c  = SHA-256(tag ‖ G ‖ X ‖ H ‖ K ‖ A1 ‖ A2 ‖ ctx) mod n
 *             z  = k + c·x mod n                proof = c ‖ z   (32 + 32 = 64 bytes, BE)
 * verify:     A1 = z·G − c·X,  A2 = z·H − c·K;  accept iff both are not the identity and
 *             c == SHA-256(tag ‖ G ‖ X ‖ H ‖ K ‖ A1 ‖ A2 ‖ ctx) mod n
 * ```
 * - tag = utf8("eigenx-kms/dleq/v1") (18 bytes); every point is 33-byte compressed SEC1;
 *   `ctx` is caller-supplied and comes last, so all preceding fields have fixed length
 *   and the hash input is unambiguous. For complaints use `encodeSealContext(ctx)` (domain,
 *   session, dealer, recipient), which ties a reveal to one deal and one complainer.
 * - c and z must be canonical (< n); the SHA-256 → mod n bias is < 2^-127.
 * - Nonce: hedged, `k = SHA-256("eigenx-kms/dleq/nonce/v1" ‖ x ‖ rng(32) ‖ X ‖ H ‖ K ‖ ctx)
 *   mod n`, so a weak or repeating rng alone does not leak x.
 *
 * Soundness: from two accepting transcripts with the same (A1, A2) and different c one
 * extracts x with X = x·G and K = x·H, so a proof for a wrong K (or a K for another X)
 * cannot be made. `verify*` return false for any well-sized wrong input (including bytes
 * that are not points) and throw only on wrong argument types or lengths.
 */
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { aBytes, bytesToUint, uint256ToBytes } from './domain.ts';
import { systemRng, type Rng } from './rng.ts';

type Point = WeierstrassPoint<bigint>;
const P = secp256k1.Point;
const Fn = P.Fn;
const N: bigint = Fn.ORDER;

export const DLEQ_TAG = 'eigenx-kms/dleq/v1';
const DLEQ_TAG_BYTES = utf8ToBytes(DLEQ_TAG);
const NONCE_TAG_BYTES = utf8ToBytes('eigenx-kms/dleq/nonce/v1');
export const DLEQ_POINT_BYTES = 33;
export const DLEQ_SECRET_BYTES = 32;
/** c (32) ‖ z (32). */
export const DLEQ_PROOF_BYTES = 64;
const G_BYTES = P.BASE.toBytes(true);

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function aPointBytes(point: Uint8Array, what: string): Uint8Array {
  return aBytes(point, DLEQ_POINT_BYTES, what);
}

function decodePoint(bytes: Uint8Array): Point | undefined {
  try {
    const p = P.fromBytes(bytes);
    return p.is0() ? undefined : p;
  } catch {
    return undefined;
  }
}

function decodeSecret(secret: Uint8Array, what: string): bigint {
  aBytes(secret, DLEQ_SECRET_BYTES, what);
  const x = bytesToUint(secret);
  // Half-open [1, n): 0 is no key.
  if (x === 0n || x >= N) throw new RangeError(`${what}: expected 1 <= x < n (secp256k1)`);
  return x;
}

function challenge(
  X: Uint8Array,
  H: Uint8Array,
  K: Uint8Array,
  A1: Uint8Array,
  A2: Uint8Array,
  ctx: Uint8Array,
): bigint {
  return bytesToUint(sha256(DLEQ_TAG_BYTES, G_BYTES, X, H, K, A1, A2, ctx)) % N;
}

/**
 * Proves `log_G(x·G) == log_H(x·H)` for the 33-byte point `base` (H). Returns the two
 * statement points and the 64-byte proof.
 */
export function proveDleq(
  secret: Uint8Array,
  base: Uint8Array,
  ctx: Uint8Array,
  rng: Rng = systemRng,
): { publicKey: Uint8Array; result: Uint8Array; proof: Uint8Array } {
  const x = decodeSecret(secret, 'secret');
  aPointBytes(base, 'base');
  aBytes(ctx, undefined, 'ctx');
  const H = decodePoint(base);
  if (H === undefined) throw new RangeError('base: not a valid secp256k1 point');
  const Xb = P.BASE.multiply(x).toBytes(true);
  const Kb = H.multiply(x).toBytes(true);
  const k = Fn.create(bytesToUint(sha256(NONCE_TAG_BYTES, secret, aBytes(rng(32), 32, 'rng output'), Xb, base, Kb, ctx)));
  if (k === 0n) throw new Error('dleq: zero nonce (probability 2^-256); retry');
  const A1 = P.BASE.multiply(k).toBytes(true);
  const A2 = H.multiply(k).toBytes(true);
  const c = challenge(Xb, base, Kb, A1, A2, ctx);
  const z = Fn.add(k, Fn.mul(c, x));
  return { publicKey: Xb, result: Kb, proof: concatBytes(uint256ToBytes(c), uint256ToBytes(z)) };
}

/** Verifies a proof that `log_G(X) == log_H(K)`. Boolean; never throws on well-sized input. */
export function verifyDleq(
  publicKey: Uint8Array,
  base: Uint8Array,
  result: Uint8Array,
  proof: Uint8Array,
  ctx: Uint8Array,
): boolean {
  if (arguments.length !== 5) throw new TypeError(`verifyDleq: expected 5 arguments, got ${arguments.length}`);
  aPointBytes(publicKey, 'publicKey');
  aPointBytes(base, 'base');
  aPointBytes(result, 'result');
  aBytes(proof, DLEQ_PROOF_BYTES, 'proof');
  aBytes(ctx, undefined, 'ctx');
  const X = decodePoint(publicKey);
  const H = decodePoint(base);
  const K = decodePoint(result);
  if (X === undefined || H === undefined || K === undefined) return false;
  const c = bytesToUint(proof.subarray(0, 32));
  const z = bytesToUint(proof.subarray(32));
  if (c >= N || z >= N) return false;
  try {
    // A1 = z·G − c·X,  A2 = z·H − c·K  (public data: variable-time multiplication is fine)
    const A1 = P.BASE.multiplyUnsafe(z).subtract(X.multiplyUnsafe(c));
    const A2 = H.multiplyUnsafe(z).subtract(K.multiplyUnsafe(c));
    if (A1.is0() || A2.is0()) return false;
    return challenge(publicKey, base, result, A1.toBytes(true), A2.toBytes(true), ctx) === c;
  } catch {
    return false;
  }
}

/**
 * A complaint's reveal: `K = x_j·E` for one deal with a DLEQ proof against `X_j = x_j·G`.
 * `ctx` should be `encodeSealContext(ctx)` of that deal. Returns K (33 bytes) and the proof.
 */
export function revealForComplaint(
  sessionSecretKey: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  ctx: Uint8Array,
  rng: Rng = systemRng,
): { revealedKey: Uint8Array; proof: Uint8Array } {
  const { result, proof } = proveDleq(sessionSecretKey, ephemeralPublicKey, ctx, rng);
  return { revealedKey: result, proof };
}

/** Checks a complaint's reveal: `log_G(X_j) == log_E(K)` under `ctx`. */
export function verifyComplaintReveal(
  sessionPublicKey: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  revealedKey: Uint8Array,
  proof: Uint8Array,
  ctx: Uint8Array,
): boolean {
  if (arguments.length !== 5) throw new TypeError(`verifyComplaintReveal: expected 5 arguments, got ${arguments.length}`);
  return verifyDleq(sessionPublicKey, ephemeralPublicKey, revealedKey, proof, ctx);
}
