/**
 * @module
 * Feldman verifiable secret sharing with commitments in G2 (SPEC 2), plus the combination
 * rules of a DKG and of a reshare.
 *
 * Dealing (threshold t, degree t-1): the dealer picks f(x) = a_0 + a_1·x + … + a_{t-1}·x^{t-1}
 * (a_0 random for a DKG, the dealer's current share for a reshare) and publishes
 *
 *     C_k = a_k·G2            k = 0 … t-1      (t commitments, 96 bytes each compressed)
 *     s_j = f(x_j)            one share per recipient (sealed to it elsewhere)
 *
 * Verification of one share: s_j·G2 == Σ_k x_j^k·C_k (= f(x_j)·G2), computed as one MSM
 * Σ_k x_j^k·C_k + (−s_j)·G2 and a zero test.
 *
 * Batch verification for one recipient x and m dealers i with weights ρ_i (random, 128-bit):
 *
 *     (Σ_i ρ_i·s_i)·G2 == Σ_i Σ_k (ρ_i·x^k)·C_{i,k} = Σ_k x^k·D_k,   D_k = Σ_i ρ_i·C_{i,k}
 *
 * If any single equation fails, the weighted sum fails except with probability ≤ 2^-128 over
 * ρ (a non-zero linear form in ρ vanishes on at most 1/2^128 of the weights), and the weights
 * are drawn after the deals are fixed. The right-hand side is computed as t MSMs of m points
 * with the 128-bit weights as scalars (D_k), then one MSM of t + 1 points: the same equation
 * as one MSM of m·t points with full-size scalars ρ_i·x^k, at 0.7–0.87× its cost with mcl
 * (measured at m·t = 30·20 and 100·67; a 128-bit scalar costs mcl's MSM about half of a
 * full one). Only when the batch fails do we pay for per-dealer checks, to name the bad
 * dealers.
 *
 * Batch check of public shares (a reshare's constant terms, SPEC 4 step 3: C_{i,0} == PK_i
 * in the source version A): with weights w_i,
 *
 *     Σ_i w_i·P_i == Σ_k (Σ_i w_i·x_i^k)·A_k
 *
 * one MSM of m points (128-bit scalars) and one of t (instead of m MSMs of t points). The
 * caller supplies the weights; the round outcome derives them from a hash of every input
 * (`derivedWeights`), so that every node reaches the same verdict and no dealer can choose its
 * points after seeing them. On failure every point is checked alone, naming each bad one.
 *
 * Combination (a version's public polynomial A and a recipient's share s_j):
 *
 *     DKG:      A_k = Σ_{i∈QUAL} C_{i,k}          s_j = Σ_{i∈QUAL} s_{ij}
 *     reshare:  A_k = Σ_{i∈QUAL} λ_i·C_{i,k}      s_j = Σ_{i∈QUAL} λ_i·s_{ij}
 *
 * with λ_i the Lagrange coefficients at 0 over the dealers' x-coordinates in the source
 * version. For a reshare, A_0 = Σ λ_i·(share_i·G2) = x·G2 = MPK, which is what proves the
 * secret did not change. Public share of x_j: PK_j = Σ_k x_j^k·A_k = s_j·G2; MPK = A_0.
 */
import { createHash } from 'node:crypto';
import { bls } from './bls12381/index.ts';
import type { Bls12381, G2 } from './bls12381/types.ts';
import * as fr from './fr.ts';
import { aArray, aThreshold, aXs, evaluate, lagrangeAtZero, randomPolynomial } from './polynomial.ts';
import type { Rng } from './rng.ts';

/** Bytes per batch weight: 128 bits bound the batch's false-accept probability by 2^-128. */
export const WEIGHT_BYTES = 16;

/** A dealer's output: public commitments and one share per recipient (same order as the xs). */
export interface Deal {
  /** C_k = a_k·G2, k = 0 … t-1. */
  readonly commitments: G2[];
  /** s_j = f(x_j) for each recipient x-coordinate, in the order given. Secret. */
  readonly shares: bigint[];
}

/** Result of a batch check: `bad` lists the failing dealer indices (empty iff `ok`). */
export interface VerifySharesResult {
  readonly ok: boolean;
  readonly bad: number[];
}

/** `n` independent uniform non-zero 128-bit weights for random linear combinations. */
export function randomWeights(rng: Rng, n: number): bigint[] {
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  const out: bigint[] = [];
  while (out.length < n) {
    let w = 0n;
    for (const b of rng(WEIGHT_BYTES)) w = (w << 8n) | BigInt(b);
    // A zero weight would silently drop one equation from the batch.
    if (w !== 0n) out.push(w);
  }
  return out;
}

const WEIGHTS_TAG = 'eigenx-kms/weights/v1';

/**
 * `n` non-zero 128-bit weights derived from `transcript` (Fiat–Shamir): weight i is the first
 * 16 bytes of SHA-256("eigenx-kms/weights/v1" ‖ transcript ‖ uint32 i ‖ uint32 attempt),
 * taking the next attempt only for a zero value. Deterministic: every node holding the same
 * transcript gets the same weights; a transcript must cover everything the weighted equation
 * depends on, so that nobody can choose its inputs after seeing the weights.
 */
export function derivedWeights(transcript: Uint8Array, n: number): bigint[] {
  if (!(transcript instanceof Uint8Array)) throw new TypeError(`transcript: expected Uint8Array, got ${typeof transcript}`);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n: expected a non-negative integer, got ${n}`);
  const prefix = createHash('sha256').update(WEIGHTS_TAG).update(transcript);
  const out: bigint[] = [];
  const ctr = new Uint8Array(8);
  const dv = new DataView(ctr.buffer);
  for (let i = 0; i < n; i++) {
    for (let attempt = 0; ; attempt++) {
      dv.setUint32(0, i);
      dv.setUint32(4, attempt);
      const h = prefix.copy().update(ctr).digest();
      let w = 0n;
      for (let b = 0; b < WEIGHT_BYTES; b++) w = (w << 8n) | BigInt(h[b] as number);
      if (w !== 0n) {
        out.push(w);
        break;
      }
    }
  }
  return out;
}

function aCommitments(commitments: readonly G2[], what = 'commitments'): readonly G2[] {
  aArray(commitments, what, 1);
  return commitments;
}

/** [1, x, x², …, x^{n-1}]. */
function powers(x: bigint, n: number): bigint[] {
  const out: bigint[] = [1n];
  for (let k = 1; k < n; k++) out.push(fr.mul(out[k - 1] as bigint, x));
  return out;
}

/**
 * Deals a fresh degree-(t-1) sharing of `constant` (random if omitted) to `recipientXs`.
 * Reshare dealers pass their share of the source version as `constant`.
 */
export function deal(rng: Rng, t: number, recipientXs: readonly bigint[], constant?: bigint, curve: Bls12381 = bls): Deal {
  aThreshold(t);
  // Fewer recipients than t could never reconstruct: a dealing to them is a caller bug.
  aXs(recipientXs, 'recipientXs', t);
  const poly = randomPolynomial(rng, t, constant);
  const G = curve.g2.generator;
  const commitments = poly.map((a) => curve.g2.mul(G, a));
  const shares = recipientXs.map((x) => evaluate(poly, x));
  return { commitments, shares };
}

/** Σ_k x^k·C_k: the public share of x under a dealer's commitments or a public polynomial. */
export function publicShare(commitments: readonly G2[], x: bigint, curve: Bls12381 = bls): G2 {
  aCommitments(commitments);
  fr.aScalar(x, 'x');
  return curve.g2.msm(commitments, powers(x, commitments.length));
}

/** s·G2 == Σ_k x^k·C_k. Returns a boolean; never throws for well-formed input. */
export function verifyShare(commitments: readonly G2[], x: bigint, share: bigint, curve: Bls12381 = bls): boolean {
  aCommitments(commitments);
  fr.aScalar(x, 'x');
  fr.aScalar(share, 'share');
  const points = [...commitments, curve.g2.generator];
  const scalars = [...powers(x, commitments.length), fr.neg(share)];
  return curve.g2.isZero(curve.g2.msm(points, scalars));
}

/**
 * Checks the shares of many dealers to one recipient at once (random linear combination,
 * one MSM); on failure checks each dealer alone and names every bad one.
 * `dealerCommitments[i]` and `shares[i]` belong to dealer i; `x` is the recipient's.
 */
export function verifyShares(
  dealerCommitments: ReadonlyArray<readonly G2[]>,
  x: bigint,
  shares: readonly bigint[],
  rng: Rng,
  curve: Bls12381 = bls,
): VerifySharesResult {
  aArray(dealerCommitments, 'dealerCommitments');
  aArray(shares, 'shares');
  if (shares.length !== dealerCommitments.length) {
    throw new RangeError(`shares: expected ${dealerCommitments.length} (one per dealer), got ${shares.length}`);
  }
  dealerCommitments.forEach((c, i) => aCommitments(c, `dealerCommitments[${i}]`));
  fr.aScalar(x, 'x');
  shares.forEach((s, i) => fr.aScalar(s, `shares[${i}]`));
  const m = dealerCommitments.length;
  if (m === 0) return { ok: true, bad: [] };

  const rho = randomWeights(rng, m);
  const maxT = Math.max(...dealerCommitments.map((c) => c.length));
  // D_k = Σ_{i : k < t_i} ρ_i·C_{i,k}, short scalars (see the module comment).
  const d: G2[] = [];
  for (let k = 0; k < maxT; k++) {
    const points: G2[] = [];
    const weights: bigint[] = [];
    dealerCommitments.forEach((c, i) => {
      if (k < c.length) {
        points.push(c[k] as G2);
        weights.push(rho[i] as bigint);
      }
    });
    d.push(curve.g2.msm(points, weights));
  }
  let weightedShare = 0n;
  for (let i = 0; i < m; i++) weightedShare = fr.add(weightedShare, fr.mul(rho[i] as bigint, shares[i] as bigint));
  const lhs = curve.g2.msm([...d, curve.g2.generator], [...powers(x, maxT), fr.neg(weightedShare)]);
  if (curve.g2.isZero(lhs)) return { ok: true, bad: [] };

  const bad: number[] = [];
  for (let i = 0; i < m; i++) {
    if (!verifyShare(dealerCommitments[i] as readonly G2[], x, shares[i] as bigint, curve)) bad.push(i);
  }
  return { ok: bad.length === 0, bad };
}

/**
 * Checks `points[i] == Σ_k xs[i]^k·poly[k]` (the public share of xs[i] under `poly`) for every
 * i in one batch with the caller's non-zero `weights` (see the module comment); on failure
 * checks each point alone. `bad` lists the failing indices (empty iff `ok`).
 */
export function verifyPublicShares(
  poly: readonly G2[],
  xs: readonly bigint[],
  points: readonly G2[],
  weights: readonly bigint[],
  curve: Bls12381 = bls,
): VerifySharesResult {
  aCommitments(poly, 'poly');
  aArray(xs, 'xs');
  aArray(points, 'points');
  aArray(weights, 'weights');
  if (points.length !== xs.length || weights.length !== xs.length) {
    throw new RangeError(`points, weights: expected ${xs.length} of each (one per x), got ${points.length} and ${weights.length}`);
  }
  xs.forEach((x, i) => fr.aScalar(x, `xs[${i}]`));
  weights.forEach((w, i) => {
    if (fr.aScalar(w, `weights[${i}]`) === 0n) throw new RangeError(`weights[${i}]: expected a non-zero weight`);
  });
  const m = xs.length;
  if (m === 0) return { ok: true, bad: [] };
  // c_k = Σ_i w_i·x_i^k
  const coeffs: bigint[] = new Array<bigint>(poly.length).fill(0n);
  for (let i = 0; i < m; i++) {
    let p = weights[i] as bigint;
    for (let k = 0; k < poly.length; k++) {
      coeffs[k] = fr.add(coeffs[k] as bigint, p);
      p = fr.mul(p, xs[i] as bigint);
    }
  }
  if (curve.g2.equals(curve.g2.msm(points, weights), curve.g2.msm(poly, coeffs))) return { ok: true, bad: [] };
  const bad: number[] = [];
  for (let i = 0; i < m; i++) {
    if (!curve.g2.equals(points[i] as G2, publicShare(poly, xs[i] as bigint, curve))) bad.push(i);
  }
  return { ok: bad.length === 0, bad };
}

function aSameLength(list: ReadonlyArray<readonly G2[]>, what: string): number {
  aArray(list, what, 1);
  list.forEach((c, i) => aCommitments(c, `${what}[${i}]`));
  const t = (list[0] as readonly G2[]).length;
  list.forEach((c, i) => {
    if (c.length !== t) throw new RangeError(`${what}[${i}]: expected ${t} commitments (same threshold as dealer 0), got ${c.length}`);
  });
  return t;
}

/** DKG public polynomial: A_k = Σ_i C_{i,k} over the qualified dealers. */
export function sumCommitments(commitmentsList: ReadonlyArray<readonly G2[]>, curve: Bls12381 = bls): G2[] {
  const t = aSameLength(commitmentsList, 'commitmentsList');
  const out: G2[] = [];
  for (let k = 0; k < t; k++) {
    let acc = curve.g2.zero;
    for (const c of commitmentsList) acc = curve.g2.add(acc, c[k] as G2);
    out.push(acc);
  }
  return out;
}

/**
 * Reshare public polynomial: A_k = Σ_i λ_i·C_{i,k}, λ at 0 over `dealerXs` (the dealers'
 * x-coordinates in the source version, same order as `commitmentsList`).
 */
export function lagrangeCombineCommitments(
  commitmentsList: ReadonlyArray<readonly G2[]>,
  dealerXs: readonly bigint[],
  curve: Bls12381 = bls,
): G2[] {
  const t = aSameLength(commitmentsList, 'commitmentsList');
  if (!Array.isArray(dealerXs) || dealerXs.length !== commitmentsList.length) {
    throw new RangeError(`dealerXs: expected ${commitmentsList.length} x-coordinates (one per dealer), got ${Array.isArray(dealerXs) ? dealerXs.length : typeof dealerXs}`);
  }
  const lambdas = lagrangeAtZero(dealerXs);
  const out: G2[] = [];
  for (let k = 0; k < t; k++) out.push(curve.g2.msm(commitmentsList.map((c) => c[k] as G2), lambdas));
  return out;
}

/** DKG share of a recipient: s_j = Σ_i s_{ij} over the qualified dealers. */
export function sumShares(shares: readonly bigint[]): bigint {
  aArray(shares, 'shares', 1);
  let acc = 0n;
  shares.forEach((s, i) => {
    acc = fr.add(acc, fr.aScalar(s, `shares[${i}]`));
  });
  return acc;
}

/** Reshare share of a recipient: s_j = Σ_i λ_i·s_{ij}, λ at 0 over `dealerXs` (source version). */
export function lagrangeCombineShares(shares: readonly bigint[], dealerXs: readonly bigint[]): bigint {
  aArray(shares, 'shares', 1);
  if (!Array.isArray(dealerXs) || dealerXs.length !== shares.length) {
    throw new RangeError(`dealerXs: expected ${shares.length} x-coordinates (one per share), got ${Array.isArray(dealerXs) ? dealerXs.length : typeof dealerXs}`);
  }
  const lambdas = lagrangeAtZero(dealerXs);
  let acc = 0n;
  shares.forEach((s, i) => {
    acc = fr.add(acc, fr.mul(lambdas[i] as bigint, fr.aScalar(s, `shares[${i}]`)));
  });
  return acc;
}
