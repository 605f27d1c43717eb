/**
 * @module
 * Polynomials over Fr (r = BLS12-381 scalar order) for Shamir sharing.
 *
 * - A polynomial of degree t-1 is its t coefficients `[a_0, a_1, …, a_{t-1}]`,
 *   f(x) = a_0 + a_1·x + … + a_{t-1}·x^{t-1}; `a_0 = f(0)` is the shared secret.
 * - Evaluation uses Horner's rule: f(x) = a_0 + x·(a_1 + x·(a_2 + …)), t-1 mults.
 * - Lagrange coefficients at 0 over distinct non-zero xs:
 *       λ_i = Π_{j≠i} x_j / (x_j − x_i),   so f(0) = Σ λ_i·f(x_i) whenever deg f < |xs|.
 *   Computed as λ_i = N / d_i with N = Π_j x_j and d_i = x_i·Π_{j≠i}(x_j − x_i): O(n²)
 *   multiplications and a single field inversion (Montgomery batch).
 * - x = 0 is refused everywhere a share lives: f(0) is the secret itself. Duplicate xs are
 *   refused because they make the Lagrange denominators vanish (and would double-count a
 *   holder).
 * - Random coefficients are drawn in [1, r), so the leading coefficient is non-zero and the
 *   degree is exactly t-1: then t-1 points determine nothing about f(0) and interpolating them
 *   can never return f(0) (f − g would have t roots at degree t-1).
 */
import * as fr from './fr.ts';
import type { Rng } from './rng.ts';

/** Coefficients `[a_0, …, a_{t-1}]`; `a_0` is the constant term. */
export type Polynomial = readonly bigint[];

/** Why a set of x-coordinates was refused; `indices` point into the caller's array. */
export type XSetFault = 'zero' | 'duplicate';

/** An x-coordinate set that cannot carry shares (zero or duplicate entries). */
export class XSetError extends Error {
  override readonly name = 'XSetError';
  constructor(
    message: string,
    readonly reason: XSetFault,
    readonly indices: readonly number[],
  ) {
    super(message);
  }
}

/** Asserts `t` is an integer threshold in [1, max] and returns it. */
export function aThreshold(t: number, what = 't', max = Number.MAX_SAFE_INTEGER): number {
  if (typeof t !== 'number' || !Number.isSafeInteger(t)) {
    throw new TypeError(`${what}: expected integer, got ${typeof t === 'number' ? String(t) : typeof t}`);
  }
  // Closed range: t = max (n-of-n) is a legitimate sharing.
  if (t < 1 || t > max) throw new RangeError(`${what}: expected 1 <= ${what} <= ${max}, got ${t}`);
  return t;
}

/** Asserts `a` is an array and returns it (message names the parameter). */
export function aArray<T>(a: readonly T[], what: string, minLength = 0): readonly T[] {
  if (!Array.isArray(a)) throw new TypeError(`${what}: expected array, got ${typeof a}`);
  if (a.length < minLength) throw new RangeError(`${what}: expected at least ${minLength} entries, got ${a.length}`);
  return a;
}

/**
 * Asserts `xs` are canonical scalars, non-zero and pairwise distinct, and returns them.
 * Throws `XSetError` (naming the offending indices) for zero or duplicate entries.
 */
export function aXs(xs: readonly bigint[], what = 'xs', minLength = 1): readonly bigint[] {
  aArray(xs, what, minLength);
  const seen = new Map<bigint, number>();
  for (let i = 0; i < xs.length; i++) {
    const x = fr.aScalar(xs[i] as bigint, `${what}[${i}]`);
    if (x === 0n) throw new XSetError(`${what}: x-coordinate at index ${i} is zero (f(0) is the secret)`, 'zero', [i]);
    const j = seen.get(x);
    if (j !== undefined) {
      throw new XSetError(`${what}: duplicate x-coordinate at indices ${j} and ${i}`, 'duplicate', [j, i]);
    }
    seen.set(x, i);
  }
  return xs;
}

function aPolynomial(poly: Polynomial, what = 'poly'): Polynomial {
  aArray(poly, what, 1);
  for (let i = 0; i < poly.length; i++) fr.aScalar(poly[i] as bigint, `${what}[${i}]`);
  return poly;
}

/**
 * A uniformly random polynomial of degree exactly t-1 (t coefficients) with constant term
 * `constant` (random when omitted). Reshare deals pass the dealer's current share here.
 */
export function randomPolynomial(rng: Rng, t: number, constant?: bigint): bigint[] {
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  aThreshold(t);
  if (constant !== undefined) fr.aScalar(constant, 'constant');
  const coeffs: bigint[] = [constant ?? fr.random(rng)];
  for (let k = 1; k < t; k++) coeffs.push(fr.random(rng));
  return coeffs;
}

/** f(x) by Horner's rule. */
export function evaluate(poly: Polynomial, x: bigint): bigint {
  aPolynomial(poly);
  fr.aScalar(x, 'x');
  let acc = 0n;
  for (let k = poly.length - 1; k >= 0; k--) acc = fr.add(fr.mul(acc, x), poly[k] as bigint);
  return acc;
}

/** λ_i at 0 for each x_i (same order as `xs`); refuses zero and duplicate xs. */
export function lagrangeAtZero(xs: readonly bigint[]): bigint[] {
  aXs(xs, 'xs', 1);
  const n = xs.length;
  let num = 1n;
  for (const x of xs) num = fr.mul(num, x);
  const dens: bigint[] = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    const xi = xs[i] as bigint;
    let d = xi;
    for (let j = 0; j < n; j++) if (j !== i) d = fr.mul(d, fr.sub(xs[j] as bigint, xi));
    dens[i] = d;
  }
  // Non-zero by construction: x_i ≠ 0 and x_j ≠ x_i were asserted above.
  const invs = fr.invBatch(dens);
  return invs.map((inv) => fr.mul(num, inv));
}

/** f(0) from points (x_i, y_i) = (xs[i], ys[i]); exact when deg f < |xs|. */
export function interpolateAtZero(xs: readonly bigint[], ys: readonly bigint[]): bigint {
  aArray(ys, 'ys');
  if (ys.length !== xs.length) throw new RangeError(`ys: expected ${xs.length} values (one per x), got ${ys.length}`);
  const lambdas = lagrangeAtZero(xs);
  let acc = 0n;
  for (let i = 0; i < ys.length; i++) acc = fr.add(acc, fr.mul(lambdas[i] as bigint, fr.aScalar(ys[i] as bigint, `ys[${i}]`)));
  return acc;
}
