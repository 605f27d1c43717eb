/**
 * @module
 * Threshold BLS on app identities (SPEC 2). Keys in G2, identity points and signatures in G1.
 *
 *     Q(id)  = hash_to_curve_G1(utf8(id))   RFC 9380, DST BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_
 *     σ_j    = s_j·Q(id)                    partial signature of operator j (48 bytes)
 *     verify e(σ_j, G2) == e(Q(id), PK_j)   PK_j = s_j·G2, the public share
 *     d      = Σ_{j∈S} λ_j·σ_j = x·Q(id)    app key from any |S| ≥ t partials, λ at 0 over S
 *     verify e(d, G2) == e(Q(id), MPK)      MPK = x·G2
 *
 * Every check is a pairing-product test Π e(P_i, Q_i) == 1 with one negated G2 generator
 * (one multi-Miller loop, one final exponentiation).
 *
 * Batch verification of k partials for one id with random 128-bit weights ρ_j:
 *
 *     e(Σ ρ_j·σ_j, −G2) · e(Q(id), Σ ρ_j·PK_j) == 1
 *
 * (two MSMs, one two-pairing check). G1 and G2 have prime order r, so if any partial is wrong
 * the product differs from 1 except with probability ≤ 2^-128 over ρ. On failure the bad
 * partials are found by bisection with the same weights: the products over two halves
 * multiply to the product over the whole, so when the left half passes the right half is known
 * to fail without testing it. A client never enumerates subsets of partials (SPEC 2).
 *
 * App ids must be well-formed Unicode: a lone UTF-16 surrogate would be encoded as U+FFFD and
 * two different strings would share one identity point.
 */
import { bls } from './bls12381/index.ts';
import { APP_ID_DST, type Bls12381, type G1, type G2 } from './bls12381/types.ts';
import { aBytes } from './domain.ts';
import * as fr from './fr.ts';
import { aArray, aXs, lagrangeAtZero } from './polynomial.ts';
import type { Rng } from './rng.ts';
import { randomWeights } from './vss.ts';

/** Compressed G1 length of partial signatures and app keys. */
export const PARTIAL_BYTES = 48;

/** A partial signature to check in a batch, with the signer's x and public share. */
export interface PartialToVerify {
  readonly x: bigint;
  /** PK_j = s_j·G2 (from the version's public polynomial). */
  readonly publicShare: G2;
  /** σ_j, 48-byte compressed G1. */
  readonly partial: Uint8Array;
}

/** A partial signature to combine, with the signer's x-coordinate. */
export interface PartialToCombine {
  readonly x: bigint;
  readonly partial: Uint8Array;
}

const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

function aAppId(appId: string): string {
  if (typeof appId !== 'string') throw new TypeError(`appId: expected string, got ${typeof appId}`);
  if (LONE_SURROGATE.test(appId)) throw new RangeError('appId: not well-formed Unicode (lone surrogate)');
  return appId;
}

/** G1 decode that reports failure as `undefined` instead of throwing (for verifiers). */
function tryDecodeG1(curve: Bls12381, bytes: Uint8Array): G1 | undefined {
  try {
    return curve.g1.decode(bytes);
  } catch {
    return undefined;
  }
}

/** e(σ, −G2)·e(Q, PK) == 1, i.e. e(σ, G2) == e(Q, PK); never throws. */
function pairingEq(curve: Bls12381, sigma: G1, q: G1, pk: G2): boolean {
  try {
    return curve.pairingCheck([
      [sigma, curve.g2.neg(curve.g2.generator)],
      [q, pk],
    ]);
  } catch {
    return false;
  }
}

/** Q(id) = hash_to_curve_G1(utf8(appId)) with the NUL DST. */
export function appIdPoint(appId: string, curve: Bls12381 = bls): G1 {
  aAppId(appId);
  return curve.hashToG1(encoder.encode(appId), APP_ID_DST);
}

/** σ_j = s_j·Q(appId), 48-byte compressed G1. */
export function partialSign(share: bigint, appId: string, curve: Bls12381 = bls): Uint8Array {
  fr.aScalar(share, 'share');
  // A zero share signs everything as the identity: refuse it rather than emit a useless partial.
  if (share === 0n) throw new RangeError('share: expected 0 < share < r');
  return curve.g1.encode(curve.g1.mul(appIdPoint(appId, curve), share));
}

/**
 * e(σ_j, G2) == e(Q(appId), PK_j). A partial that does not decode (wrong length, off-curve,
 * identity, …) is simply invalid: returns false.
 */
export function verifyPartial(publicShare: G2, appId: string, partial: Uint8Array, curve: Bls12381 = bls): boolean {
  aAppId(appId);
  aBytes(partial, undefined, 'partial');
  const sigma = tryDecodeG1(curve, partial);
  if (sigma === undefined) return false;
  return pairingEq(curve, sigma, appIdPoint(appId, curve), publicShare);
}

/**
 * Verifies many partials for one app id with one two-pairing check; returns the indices of
 * the bad ones (ascending; empty iff all are valid). Undecodable partials are bad.
 */
export function batchVerifyPartials(
  items: readonly PartialToVerify[],
  appId: string,
  rng: Rng,
  curve: Bls12381 = bls,
): number[] {
  aArray(items, 'items');
  aAppId(appId);
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  items.forEach((it, i) => {
    if (typeof it !== 'object' || it === null) throw new TypeError(`items[${i}]: expected object, got ${typeof it}`);
    fr.aScalar(it.x, `items[${i}].x`);
    aBytes(it.partial, undefined, `items[${i}].partial`);
  });

  const bad: number[] = [];
  const idx: number[] = [];
  const sigmas: G1[] = [];
  const pks: G2[] = [];
  items.forEach((it, i) => {
    const s = tryDecodeG1(curve, it.partial);
    if (s === undefined) bad.push(i);
    else {
      idx.push(i);
      sigmas.push(s);
      pks.push(it.publicShare);
    }
  });
  if (idx.length === 0) return bad;

  const q = appIdPoint(appId, curve);
  const rho = randomWeights(rng, idx.length);
  // Positions lo..hi-1 of idx; true iff the weighted product over them is 1.
  const check = (lo: number, hi: number): boolean => {
    try {
      const w = rho.slice(lo, hi);
      const s = curve.g1.msm(sigmas.slice(lo, hi), w);
      const p = curve.g2.msm(pks.slice(lo, hi), w);
      return pairingEq(curve, s, q, p);
    } catch {
      // Only a malformed publicShare (foreign or corrupt point object) gets here.
      return false;
    }
  };
  // Precondition: the range lo..hi-1 is known to contain at least one bad partial.
  const bisect = (lo: number, hi: number): void => {
    if (hi - lo === 1) {
      bad.push(idx[lo] as number);
      return;
    }
    const mid = (lo + hi) >> 1;
    if (check(lo, mid)) bisect(mid, hi);
    else {
      bisect(lo, mid);
      if (!check(mid, hi)) bisect(mid, hi);
    }
  };
  if (!check(0, idx.length)) bisect(0, idx.length);
  return bad.sort((a, b) => a - b);
}

/**
 * d = Σ_j λ_j·σ_j with λ at 0 over the given xs: the app key x·Q(id) when the partials are
 * valid and at least t of them are given. Verify partials first; this only decodes (throws
 * `PointError` on a bad encoding) and throws `XSetError` on zero or duplicate xs.
 */
export function combinePartials(items: readonly PartialToCombine[], curve: Bls12381 = bls): Uint8Array {
  aArray(items, 'items', 1);
  items.forEach((it, i) => {
    if (typeof it !== 'object' || it === null) throw new TypeError(`items[${i}]: expected object, got ${typeof it}`);
    aBytes(it.partial, undefined, `items[${i}].partial`);
  });
  const xs = aXs(
    items.map((it) => it.x),
    'items[].x',
  );
  const lambdas = lagrangeAtZero(xs);
  const sigmas = items.map((it) => curve.g1.decode(it.partial));
  return curve.g1.encode(curve.g1.msm(sigmas, lambdas));
}

/** e(d, G2) == e(Q(appId), MPK); false for an undecodable or identity app key. */
export function verifyAppKey(mpk: G2, appId: string, appKey: Uint8Array, curve: Bls12381 = bls): boolean {
  aAppId(appId);
  aBytes(appKey, undefined, 'appKey');
  const d = tryDecodeG1(curve, appKey);
  if (d === undefined) return false;
  return pairingEq(curve, d, appIdPoint(appId, curve), mpk);
}
