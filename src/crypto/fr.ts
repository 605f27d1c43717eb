/**
 * @module
 * Scalars of BLS12-381: the field Fr of prime order
 * r = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001 (255 bits).
 * Represented as canonical bigints in [0, r); encoded as 32 bytes big-endian. Decoding
 * refuses values ≥ r (no silent reduction), so every scalar has exactly one encoding.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import type { Rng } from './rng.ts';

const F = bls12_381.fields.Fr;
export const R: bigint = F.ORDER;
export const FR_BYTES = 32;

export class ScalarError extends Error {
  override readonly name = 'ScalarError';
}

export function isScalar(k: unknown): k is bigint {
  return typeof k === 'bigint' && k >= 0n && k < R;
}

/** Asserts `k` is a canonical scalar and returns it. */
export function aScalar(k: bigint, what = 'scalar'): bigint {
  if (typeof k !== 'bigint') throw new TypeError(`${what}: expected bigint, got ${typeof k}`);
  if (k < 0n || k >= R) throw new RangeError(`${what}: expected 0 <= k < r`);
  return k;
}

export const mod = (a: bigint): bigint => F.create(a);
export const add = (a: bigint, b: bigint): bigint => F.add(a, b);
export const sub = (a: bigint, b: bigint): bigint => F.sub(a, b);
export const mul = (a: bigint, b: bigint): bigint => F.mul(a, b);
export const neg = (a: bigint): bigint => F.neg(a);
export const pow = (a: bigint, e: bigint): bigint => F.pow(a, e);
/** Multiplicative inverse; throws ScalarError for 0. */
export function inv(a: bigint): bigint {
  if (a === 0n) throw new ScalarError('scalar: cannot invert zero');
  return F.inv(a);
}
/** Inverts many scalars with one field inversion (Montgomery's trick). None may be zero. */
export function invBatch(as: readonly bigint[]): bigint[] {
  if (as.some((a) => a === 0n)) throw new ScalarError('scalar: cannot invert zero');
  return F.invertBatch([...as]);
}

export function toBytes(k: bigint): Uint8Array {
  aScalar(k);
  const out = new Uint8Array(FR_BYTES);
  let v = k;
  for (let i = FR_BYTES - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Strict decode: exactly 32 bytes, big-endian, value < r. */
export function fromBytes(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('scalar: expected Uint8Array');
  if (bytes.length !== FR_BYTES) throw new ScalarError(`scalar: expected ${FR_BYTES} bytes, got ${bytes.length}`);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (v >= R) throw new ScalarError('scalar: not canonical (value >= r)');
  return v;
}

/** Reduces a big-endian byte string of any length mod r (for hashing to Fr). */
export function fromBytesReduce(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v % R;
}

/** Uniform scalar in [1, r) from 48 random bytes (bias < 2^-128). */
export function random(rng: Rng): bigint {
  for (;;) {
    const k = fromBytesReduce(rng(48));
    if (k !== 0n) return k;
  }
}
