/**
 * @module
 * The BLS12-381 facade every other module uses. Two backends implement it: `mcl` (mcl-wasm,
 * default, fast) and `noble` (@noble/curves, reference). Tests demand byte-identical outputs
 * and identical refusals from both.
 *
 * - Scalars are canonical bigints in [0, r) (see `../fr.ts`); backends convert internally.
 * - Points are opaque values owned by one backend; never mix points of two backends.
 * - G1: 48-byte compressed, G2: 96-byte compressed (ZCash/IETF encoding: flag bits
 *   compression|infinity|sign in the top three bits of the first byte).
 * - Decoding is strict: wrong length, stray flag bits, non-canonical field elements
 *   (≥ p), off-curve, outside the prime-order subgroup, or the identity where not allowed
 *   all throw `PointError`. Verification functions return booleans and never throw.
 */

declare const g1Brand: unique symbol;
declare const g2Brand: unique symbol;
declare const gtBrand: unique symbol;
/** A point of G1 (opaque; belongs to the backend that made it). */
export type G1 = { readonly [g1Brand]: true };
/** A point of G2 (opaque; belongs to the backend that made it). */
export type G2 = { readonly [g2Brand]: true };
/** An element of the target group GT ⊂ Fp12 (opaque). */
export type GT = { readonly [gtBrand]: true };

export interface DecodeOptions {
  /** Accept the canonical identity encoding (0xc0 followed by zeros). Default false. */
  readonly allowIdentity?: boolean;
}

export interface Group<P> {
  readonly name: 'G1' | 'G2';
  /** Compressed encoding length: 48 for G1, 96 for G2. */
  readonly byteLength: number;
  readonly generator: P;
  readonly zero: P;
  /** Strict decode of a compressed point; throws `PointError` on anything non-canonical. */
  decode(bytes: Uint8Array, opts?: DecodeOptions): P;
  encode(p: P): Uint8Array;
  add(a: P, b: P): P;
  sub(a: P, b: P): P;
  neg(a: P): P;
  /** k·P for a scalar k in [0, r); throws RangeError otherwise. */
  mul(p: P, k: bigint): P;
  /** Σ k_i·P_i (multi-scalar multiplication); lengths must match. Empty sum is zero. */
  msm(points: readonly P[], scalars: readonly bigint[]): P;
  equals(a: P, b: P): boolean;
  isZero(p: P): boolean;
}

export interface Bls12381 {
  readonly name: 'mcl' | 'noble';
  readonly g1: Group<G1>;
  readonly g2: Group<G2>;
  /** RFC 9380 hash_to_curve to G1 (suite BLS12381G1_XMD:SHA-256_SSWU_RO_) with `dst`. */
  hashToG1(msg: Uint8Array, dst: string): G1;
  /** e(P, Q). */
  pairing(p: G1, q: G2): GT;
  /** true iff Π e(P_i, Q_i) == 1 (one multi-Miller loop and one final exponentiation). */
  pairingCheck(pairs: ReadonlyArray<readonly [G1, G2]>): boolean;
  /** x^k in GT. */
  gtPow(x: GT, k: bigint): GT;
  gtEquals(a: GT, b: GT): boolean;
  /** 576-byte serialization of a GT element exactly as drand/kyber and tlock-js `fp12ToBytes`. */
  gtToBytes(x: GT): Uint8Array;
}

/** The DST for app identities (SPEC 2): Q(id) = hash_to_curve_G1(utf8(id)). */
export const APP_ID_DST = 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_';

/** A well-formed input that is not an acceptable point (the message says why; no secrets). */
export class PointError extends Error {
  override readonly name = 'PointError';
}
