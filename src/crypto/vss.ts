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
 *     (Σ_i ρ_i·s_i)·G2 == Σ_i Σ_k (ρ_i·x^k)·C_{i,k}
 *
 * again as one MSM. If any single equation fails, the weighted sum fails except with
 * probability ≤ 2^-128 over ρ (a non-zero linear form in ρ vanishes on at most 1/2^128 of
 * the weights), and the weights are drawn after the deals are fixed. Only when the batch fails
 * do we pay for per-dealer checks, to name the bad dealers.
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
  const xPow = powers(x, maxT);
  const points: G2[] = [];
  const scalars: bigint[] = [];
  let weightedShare = 0n;
  for (let i = 0; i < m; i++) {
    const c = dealerCommitments[i] as readonly G2[];
    const r = rho[i] as bigint;
    for (let k = 0; k < c.length; k++) {
      points.push(c[k] as G2);
      scalars.push(fr.mul(r, xPow[k] as bigint));
    }
    weightedShare = fr.add(weightedShare, fr.mul(r, shares[i] as bigint));
  }
  points.push(curve.g2.generator);
  scalars.push(fr.neg(weightedShare));
  if (curve.g2.isZero(curve.g2.msm(points, scalars))) return { ok: true, bad: [] };

  const bad: number[] = [];
  for (let i = 0; i < m; i++) {
    if (!verifyShare(dealerCommitments[i] as readonly G2[], x, shares[i] as bigint, curve)) bad.push(i);
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
