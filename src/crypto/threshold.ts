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
 * The client's path (`verifyAndCombinePartials`) needs no public share PK_j at all; it works
 * on the version's public polynomial A_0 … A_{t-1} (A_k = a_k·G2, PK_j = Σ_k x_j^k·A_k,
 * MPK = A_0). With m ≥ t partials σ_i = y_i·Q(id) (G1 is cyclic), let g be the polynomial of
 * degree < m through the points (x_i, y_i), with coefficients b_k. Every partial is valid iff
 * g = f, i.e. b_k = a_k for k < t and b_k = 0 for t ≤ k < m. Those m equations, plus the app
 * key's e(d, G2) == e(Q, MPK), are checked at once with random 128-bit weights ρ_k, ρ':
 *
 *     e(Σ_i u_i·σ_i + ρ'·d, −G2) · e(Q(id), Σ_{k<t} ρ_k·A_k + ρ'·MPK) == 1
 *     u_i = Σ_k ρ_k·[X^k]ℓ_i(X)     (ℓ_i the Lagrange basis over the xs: Σ_i u_i·y_i = Σ_k ρ_k·b_k)
 *
 * one two-pairing check after a G1 MSM of m+1 terms (full-size u_i) and a G2 MSM of t+1 terms
 * with 128-bit weights — the large scalars sit in the cheaper group. False accept ≤ 2^-128 as
 * above. Q(id) is hashed and each partial decoded once; d = Σ λ_j·σ_j over the first t is
 * its own term, so a combination bug or a polynomial of another MPK is caught too.
 *
 * When that fails (or fewer than t partials arrived) the partials are checked alone with
 * weights on the partials, Σ_i ρ_i·PK_i = Σ_k c_k·A_k with c_k = Σ_i ρ_i·x_i^k (scalars in Fr),
 * which holds for any subset, so bisection names the bad ones; the key is then recombined from
 * the first t valid partials and checked on its own.
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

/** What {@link verifyAndCombinePartials} found. */
export interface VerifiedCombination {
  /** Indices of the invalid partials (undecodable or failing their pairing check), ascending. */
  readonly bad: number[];
  /** Indices of the t partials combined: the first t valid ones in input order; empty if fewer are valid. */
  readonly used: number[];
  /** d = Σ λ_j·σ_j over `used` (48 bytes, secret), present iff t valid partials were combined. */
  readonly appKey?: Uint8Array;
  /** The same d as a point of the backend (hand it to `decryptFromApp` to skip decoding it again). */
  readonly appKeyPoint?: G1;
  /**
   * e(d, G2) == e(Q(id), MPK). Implied by t valid partials when A_0 = MPK, and checked anyway
   * (it catches a polynomial that does not belong to this MPK, or a combination bug); false
   * also when no key was combined.
   */
  readonly appKeyValid: boolean;
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

/**
 * Each partial decoded once (strict: on curve, in G1, not the identity): the indices that do
 * not decode (`bad`), and the points of the others with their indices (`idx`, ascending).
 */
function decodePartials(curve: Bls12381, items: readonly { readonly partial: Uint8Array }[]): { bad: number[]; idx: number[]; sigmas: G1[] } {
  const bad: number[] = [];
  const idx: number[] = [];
  const sigmas: G1[] = [];
  items.forEach((it, i) => {
    const s = tryDecodeG1(curve, it.partial);
    if (s === undefined) bad.push(i);
    else {
      idx.push(i);
      sigmas.push(s);
    }
  });
  return { bad, idx, sigmas };
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

  const { bad, idx, sigmas } = decodePartials(curve, items);
  if (idx.length === 0) return bad;
  const pks = idx.map((i) => (items[i] as PartialToVerify).publicShare);

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
  if (!check(0, idx.length)) for (const k of bisect(check, 0, idx.length)) bad.push(idx[k] as number);
  return bad.sort((a, b) => a - b);
}

/**
 * u_i = Σ_k ρ_k·[X^k]ℓ_i(X) for the Lagrange basis ℓ_i over the distinct `xs` (m of them, m
 * weights): Σ_i u_i·p(x_i) = Σ_k ρ_k·p_k for every polynomial p of degree < m. With
 * ℓ_i = N/((X − x_i)·N'(x_i)), N = Π_j (X − x_j): O(m²) field operations.
 */
function coefficientWeights(xs: readonly bigint[], rho: readonly bigint[]): bigint[] {
  // Plain bigint arithmetic, reduced mod r only where a value is reused (O(m²) products).
  const r = fr.R;
  const m = xs.length;
  // N(X) = Π (X − x_j), coefficients low to high (degree m, monic), each in [0, r).
  const n: bigint[] = [1n];
  for (const x of xs) {
    const negX = r - x;
    n.push(0n);
    for (let k = n.length - 1; k >= 1; k--) n[k] = ((n[k - 1] as bigint) + (n[k] as bigint) * negX) % r;
    n[0] = ((n[0] as bigint) * negX) % r;
  }
  const dens: bigint[] = [];
  const nums: bigint[] = [];
  for (let i = 0; i < m; i++) {
    const xi = xs[i] as bigint;
    // q = N / (X − x_i) by synthetic division (degree m−1), and Σ_k ρ_k·q_k (reduced once).
    let qk = n[m] as bigint;
    let acc = (rho[m - 1] as bigint) * qk;
    for (let k = m - 1; k >= 1; k--) {
      qk = ((n[k] as bigint) + xi * qk) % r;
      acc += (rho[k - 1] as bigint) * qk;
    }
    nums.push(acc % r);
    let d = 1n;
    for (let j = 0; j < m; j++) if (j !== i) d = (d * (xi - (xs[j] as bigint) + r)) % r;
    dens.push(d);
  }
  // Non-zero: the xs are distinct (asserted by the caller).
  return fr.invBatch(dens).map((inv, i) => fr.mul(nums[i] as bigint, inv));
}

/**
 * The positions in lo..hi-1 that fail, given `check(a, b)` (true iff the weighted product over
 * positions a..b-1 is 1). Precondition: the range is known to fail. The products over two
 * halves multiply to the product over the whole, so when the left half passes the right half
 * is known to fail without testing it.
 */
function bisect(check: (lo: number, hi: number) => boolean, lo: number, hi: number): number[] {
  if (hi - lo === 1) return [lo];
  const mid = (lo + hi) >> 1;
  if (check(lo, mid)) return bisect(check, mid, hi);
  const left = bisect(check, lo, mid);
  return check(mid, hi) ? left : [...left, ...bisect(check, mid, hi)];
}

/**
 * Verifies every partial against the version's public polynomial, combines the first t valid
 * ones and checks the app key against MPK — in the common case with ONE two-pairing check and
 * without any public share PK_j (see the module comment). t is `publicPoly.length`.
 *
 * Partials that do not decode are bad; on a failed check the bad partials are found by
 * bisection, the key is recombined from the first t valid ones and checked alone. Never throws
 * for a bad partial; throws `XSetError` for zero or duplicate xs and TypeError/RangeError for
 * misuse.
 * @param publicPoly A_0 … A_{t-1} of the key version (checked against the chain by the caller)
 * @param mpk the pinned master public key (= A_0 for a consistent version)
 * @param rng randomness for the 128-bit weights (drawn after the partials are fixed)
 * @example
 *   const r = verifyAndCombinePartials(poly, mpk, appId, answers, systemRng);
 *   if (r.appKey === undefined) throw new Error(`only ${answers.length - r.bad.length} valid partials`);
 */
export function verifyAndCombinePartials(
  publicPoly: readonly G2[],
  mpk: G2,
  appId: string,
  items: readonly PartialToCombine[],
  rng: Rng,
  curve: Bls12381 = bls,
): VerifiedCombination {
  aArray(publicPoly, 'publicPoly', 1);
  if (typeof mpk !== 'object' || mpk === null) throw new TypeError(`mpk: expected a G2 point, got ${mpk === null ? 'null' : typeof mpk}`);
  aArray(items, 'items');
  aAppId(appId);
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  items.forEach((it, i) => {
    if (typeof it !== 'object' || it === null) throw new TypeError(`items[${i}]: expected object, got ${typeof it}`);
    aBytes(it.partial, undefined, `items[${i}].partial`);
  });
  aXs(items.map((it) => it.x), 'items[].x', 0);
  const t = publicPoly.length;

  const { bad, idx, sigmas } = decodePartials(curve, items);
  const none = (b: number[]): VerifiedCombination => ({ bad: b.sort((x, y) => x - y), used: [], appKeyValid: false });
  if (idx.length === 0) return none(bad);

  const q = appIdPoint(appId, curve);
  const negG2 = curve.g2.neg(curve.g2.generator);
  const m = idx.length;
  const xs = idx.map((i) => (items[i] as PartialToCombine).x);
  // d over the first t of the given positions (ascending), or undefined if fewer.
  const combine = (positions: readonly number[]): { used: number[]; d: G1 } | undefined => {
    if (positions.length < t) return undefined;
    const use = positions.slice(0, t);
    const d = curve.g1.msm(use.map((p) => sigmas[p] as G1), lagrangeAtZero(use.map((p) => xs[p] as bigint)));
    return { used: use.map((p) => idx[p] as number), d };
  };
  const result = (b: number[], c: { used: number[]; d: G1 } | undefined, valid: boolean): VerifiedCombination =>
    c === undefined
      ? none(b)
      : { bad: b.sort((x, y) => x - y), used: c.used, appKey: curve.g1.encode(c.d), appKeyPoint: c.d, appKeyValid: valid };

  const all = Array.from({ length: m }, (_, p) => p);
  const first = combine(all);
  // The common case: every partial and the key in one check (weights on the coefficients of the
  // polynomial through all m partials; see the module comment).
  if (first !== undefined) {
    const r = randomWeights(rng, m + 1);
    const rk = r[m] as bigint;
    const ok = pairingCheckSafe(curve, () => [
      [curve.g1.msm([...sigmas, first.d], [...coefficientWeights(xs, r.slice(0, m)), rk]), negG2],
      [q, curve.g2.msm([...publicPoly, mpk], [...r.slice(0, t), rk])],
    ]);
    if (ok) return result(bad, first, true);
  }

  // Otherwise name the bad partials, checked without the key (it may be what failed), with
  // weights on the partials: e(Σ ρ_j·σ_j, −G2)·e(Q, Σ_k c_k·A_k) == 1 holds for any subset.
  const rho = randomWeights(rng, m);
  // w[p][k] = ρ_p·x_p^k: the column sums over a set of partials are the c_k of that set.
  const w = xs.map((x, p) => {
    const row: bigint[] = [rho[p] as bigint];
    for (let k = 1; k < t; k++) row.push(fr.mul(row[k - 1] as bigint, x));
    return row;
  });
  const check = (lo: number, hi: number): boolean =>
    pairingCheckSafe(curve, () => {
      const c = new Array<bigint>(t).fill(0n);
      for (let p = lo; p < hi; p++) for (let k = 0; k < t; k++) c[k] = fr.add(c[k] as bigint, (w[p] as bigint[])[k] as bigint);
      return [
        [curve.g1.msm(sigmas.slice(lo, hi), rho.slice(lo, hi)), negG2],
        [q, curve.g2.msm(publicPoly, c)],
      ];
    });
  const badPos = new Set(check(0, m) ? [] : bisect(check, 0, m));
  for (const p of badPos) bad.push(idx[p] as number);
  // Then the key, recombined from the first t valid partials, on its own.
  const again = badPos.size === 0 ? first : combine(all.filter((p) => !badPos.has(p)));
  if (again === undefined) return none(bad);
  return result(bad, again, pairingEq(curve, again.d, q, mpk) && !curve.g1.isZero(again.d));
}

/**
 * Π e(P_i, Q_i) == 1 for the pairs `build` returns; false if building them throws (only a
 * malformed polynomial or MPK — a foreign or corrupt point object — gets there).
 */
function pairingCheckSafe(curve: Bls12381, build: () => ReadonlyArray<readonly [G1, G2]>): boolean {
  try {
    return curve.pairingCheck(build());
  } catch {
    return false;
  }
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
