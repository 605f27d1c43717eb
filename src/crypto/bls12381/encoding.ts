/**
 * @module
 * The one canonical byte-level validator for compressed BLS12-381 points, shared by every
 * backend so that all of them refuse exactly the same byte strings before touching a point.
 *
 * Encoding (ZCash / IETF draft-irtf-cfrg-pairing-friendly-curves, appendix C):
 * - G1: 48 bytes = x (big-endian, 381 bits). G2: 96 bytes = x.c1 ‖ x.c0 (imaginary part first).
 * - The top three bits of byte 0 are flags: 0x80 compression (must be set: we accept only the
 *   compressed form), 0x40 infinity, 0x20 sign (y is the lexicographically larger root).
 * - The identity is exactly 0xc0 ‖ 0…0 (infinity set, sign clear, every other bit zero) and is
 *   accepted only with `allowIdentity`.
 * - Every coordinate must be canonical: 0 ≤ x_i < p (no reduction mod p).
 *
 * What this module does NOT check (the backend does, with the same `PointError` messages):
 * that x is the abscissa of a curve point (`not on curve`) and that the point lies in the
 * prime-order subgroup (`not in prime-order subgroup`).
 * p = 0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab.
 */
import { PointError } from './types.ts';

/** The base-field prime p of BLS12-381 (381 bits). */
export const P = 0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaabn;
/** Bytes of one base-field element. */
export const FP_BYTES = 48;
export const G1_BYTES = 48;
export const G2_BYTES = 96;

const FLAG_COMPRESSED = 0x80;
const FLAG_INFINITY = 0x40;
const FLAG_SIGN = 0x20;
const FLAG_MASK = 0xe0;

export type GroupName = 'G1' | 'G2';

/** A compressed encoding that passed every byte-level check. */
export type CheckedPoint =
  | { readonly infinity: true }
  | {
      readonly infinity: false;
      /** The sign flag: y is the larger of its two roots (lexicographic, c1 first for Fp2). */
      readonly sign: boolean;
      /** G1: [x]; G2: [x.c0, x.c1] (natural order, whatever the wire order). */
      readonly x: readonly bigint[];
    };

function be(bytes: Uint8Array, from: number, to: number): bigint {
  let v = 0n;
  for (let i = from; i < to; i++) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}

/**
 * Checks length, flags, identity form and canonical coordinates of a compressed point.
 * Throws `TypeError` for a non-`Uint8Array` and `PointError` for any refused encoding.
 */
export function checkCompressed(group: GroupName, bytes: Uint8Array, allowIdentity = false): CheckedPoint {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${group} point: expected Uint8Array, got ${typeof bytes}`);
  const len = group === 'G1' ? G1_BYTES : G2_BYTES;
  if (bytes.length !== len) throw new PointError(`${group} point: expected ${len} bytes, got ${bytes.length}`);
  const flags = (bytes[0] as number) & FLAG_MASK;
  if ((flags & FLAG_COMPRESSED) === 0) throw new PointError(`${group} point: compression flag not set`);
  if ((flags & FLAG_INFINITY) !== 0) {
    if ((flags & FLAG_SIGN) !== 0) throw new PointError(`${group} point: identity with the sign flag set`);
    if ((bytes[0] as number) !== (FLAG_COMPRESSED | FLAG_INFINITY) || bytes.some((b, i) => i > 0 && b !== 0))
      throw new PointError(`${group} point: identity encoding with non-zero bits`);
    if (!allowIdentity) throw new PointError(`${group} point: identity not allowed`);
    return { infinity: true };
  }
  // Clear the flag bits of the first coordinate only; the others carry none.
  const first = be(bytes, 1, FP_BYTES) + (BigInt((bytes[0] as number) & ~FLAG_MASK & 0xff) << 376n);
  const sign = (flags & FLAG_SIGN) !== 0;
  if (group === 'G1') {
    if (first >= P) throw new PointError('G1 point: x not canonical (x >= p)');
    return { infinity: false, sign, x: [first] };
  }
  const c0 = be(bytes, FP_BYTES, 2 * FP_BYTES);
  if (first >= P || c0 >= P) throw new PointError('G2 point: x not canonical (a coordinate >= p)');
  return { infinity: false, sign, x: [c0, first] };
}

/**
 * Checks a hash-to-curve DST and returns its bytes: a string of 1..255 UTF-8 bytes (RFC 9380
 * 5.3.3; longer tags would need the oversize-DST rule, which not every backend implements).
 */
export function aDst(dst: string): Uint8Array {
  if (typeof dst !== 'string') throw new TypeError(`hashToG1: expected DST string, got ${typeof dst}`);
  const d = new TextEncoder().encode(dst);
  if (d.length < 1 || d.length > 255) throw new RangeError(`hashToG1: expected 1 <= DST bytes <= 255, got ${d.length}`);
  return d;
}

/** The canonical identity encoding of a group (0xc0 followed by zeros). */
export function identityBytes(group: GroupName): Uint8Array {
  const out = new Uint8Array(group === 'G1' ? G1_BYTES : G2_BYTES);
  out[0] = FLAG_COMPRESSED | FLAG_INFINITY;
  return out;
}

/** Error messages shared by the backends for the curve-level checks. */
export const notOnCurve = (group: GroupName): PointError => new PointError(`${group} point: not on curve`);
export const notInSubgroup = (group: GroupName): PointError =>
  new PointError(`${group} point: not in prime-order subgroup`);
