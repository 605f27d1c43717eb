/**
 * @module
 * Reference backend of the BLS12-381 facade over `@noble/curves` 2.x (`bls12_381`).
 *
 * - G1 ⊂ E(Fp): y² = x³ + 4; G2 ⊂ E'(Fp2): y² = x³ + 4(1 + i); both of prime order
 *   r = 0x73eda753…00000001. Compressed sizes 48 / 96 bytes (see `./encoding.ts`).
 * - Decoding: the shared validator (`checkCompressed`) first, then decompression
 *   y = √(x³ + b) with the sign flag choosing the lexicographically larger root, then the
 *   subgroup check (`isTorsionFree`, Scott's endomorphism test inside noble).
 * - `mul` uses noble's constant-time `multiply`; `msm` uses Pippenger (variable time: only
 *   for public scalars such as powers of x_j, Lagrange weights or random batch weights).
 * - GT ⊂ Fp12 = Fp6[w]/(w² − v), Fp6 = Fp2[v]/(v³ − (1 + i)); `gtToBytes` writes the 12 Fp
 *   coefficients in the reverse of their natural order, 48 bytes each (576 bytes), exactly as
 *   tlock-js `fp12ToBytes` (kilic/kyber layout).
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { pippenger } from '@noble/curves/abstract/curve.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import type { Fp2 as Fp2T, Fp12 as Fp12T } from '@noble/curves/abstract/tower.js';
import { aScalar } from '../fr.ts';
import { aDst, checkCompressed, FP_BYTES, notInSubgroup, notOnCurve, P, type GroupName } from './encoding.ts';
import type { Bls12381, DecodeOptions, G1, G2, GT, Group } from './types.ts';

type NP1 = WeierstrassPoint<bigint>;
type NP2 = WeierstrassPoint<Fp2T>;

const { Fp, Fp2, Fp12 } = bls12_381.fields;
const G1P = bls12_381.G1.Point;
const G2P = bls12_381.G2.Point;
const B1 = 4n;
const B2 = Fp2.create({ c0: 4n, c1: 4n });

// The facade types are opaque brands; these casts are the only bridge to noble's classes.
const w1 = (p: NP1): G1 => p as unknown as G1;
const w2 = (p: NP2): G2 => p as unknown as G2;
const wt = (x: Fp12T): GT => x as unknown as GT;
function u1(p: G1): NP1 {
  if (!(p instanceof G1P)) throw new TypeError('G1 point: expected a point of the noble backend');
  return p as unknown as NP1;
}
function u2(p: G2): NP2 {
  if (!(p instanceof G2P)) throw new TypeError('G2 point: expected a point of the noble backend');
  return p as unknown as NP2;
}
function ut(x: GT): Fp12T {
  const v = x as unknown as Partial<Fp12T> | null;
  if (typeof v !== 'object' || v === null || typeof v.c0 !== 'object' || typeof v.c1 !== 'object')
    throw new TypeError('GT element: expected an element of the noble backend');
  return v as Fp12T;
}

/** ZCash sign bit of a field element: true iff y > (p − 1)/2. */
const big = (y: bigint): boolean => y * 2n > P;

function sqrtOrNull<T>(F: { sqrt(x: T): T; sqr(x: T): T; eql(a: T, b: T): boolean }, v: T): T | null {
  try {
    const y = F.sqrt(v);
    return F.eql(F.sqr(y), v) ? y : null;
  } catch {
    return null;
  }
}

function decodeG1(bytes: Uint8Array, opts?: DecodeOptions): NP1 {
  const c = checkCompressed('G1', bytes, opts?.allowIdentity ?? false);
  if (c.infinity) return G1P.ZERO;
  const x = c.x[0] as bigint;
  let y = sqrtOrNull(Fp, Fp.add(Fp.pow(x, 3n), B1));
  if (y === null) throw notOnCurve('G1');
  if (big(y) !== c.sign) y = Fp.neg(y);
  const p = G1P.fromAffine({ x, y });
  if (!p.isTorsionFree()) throw notInSubgroup('G1');
  return p;
}

function decodeG2(bytes: Uint8Array, opts?: DecodeOptions): NP2 {
  const c = checkCompressed('G2', bytes, opts?.allowIdentity ?? false);
  if (c.infinity) return G2P.ZERO;
  const x = Fp2.create({ c0: c.x[0] as bigint, c1: c.x[1] as bigint });
  let y = sqrtOrNull(Fp2, Fp2.add(Fp2.pow(x, 3n), B2));
  if (y === null) throw notOnCurve('G2');
  // Lexicographic order on (c1, c0): c1 decides unless it is zero.
  if ((y.c1 !== 0n ? big(y.c1) : big(y.c0)) !== c.sign) y = Fp2.neg(y);
  const p = G2P.fromAffine({ x, y });
  if (!p.isTorsionFree()) throw notInSubgroup('G2');
  return p;
}

function aLengths(name: GroupName, n: number, m: number): void {
  if (n !== m) throw new RangeError(`${name} msm: ${n} points but ${m} scalars`);
}

/** The operations noble's G1 and G2 point classes share, typed on the point itself. */
interface Ops<N> {
  add(o: N): N;
  subtract(o: N): N;
  negate(): N;
  multiply(k: bigint): N;
  equals(o: N): boolean;
  is0(): boolean;
  toBytes(compressed?: boolean): Uint8Array;
}

function makeGroup<P extends G1 | G2, N extends Ops<N>>(
  name: GroupName,
  byteLength: number,
  Cons: { readonly ZERO: N; readonly BASE: N },
  wrap: (p: N) => P,
  un: (p: P) => N,
  decode: (b: Uint8Array, o?: DecodeOptions) => N,
): Group<P> {
  const ZERO = Cons.ZERO;
  return Object.freeze({
    name,
    byteLength,
    generator: wrap(Cons.BASE),
    zero: wrap(ZERO),
    decode: (bytes: Uint8Array, opts?: DecodeOptions) => wrap(decode(bytes, opts)),
    encode: (p: P) => un(p).toBytes(true),
    add: (a: P, b: P) => wrap(un(a).add(un(b))),
    sub: (a: P, b: P) => wrap(un(a).subtract(un(b))),
    neg: (a: P) => wrap(un(a).negate()),
    mul(p: P, k: bigint): P {
      aScalar(k, `${name} mul: scalar`);
      const q = un(p);
      // noble's constant-time multiply refuses 0 (0·P is the identity).
      return k === 0n ? wrap(ZERO) : wrap(q.multiply(k));
    },
    msm(points: readonly P[], scalars: readonly bigint[]): P {
      aLengths(name, points.length, scalars.length);
      scalars.forEach((k, i) => aScalar(k, `${name} msm: scalar ${i}`));
      if (points.length === 0) return wrap(ZERO);
      // pippenger's generic signature cannot see that N is one of noble's point classes.
      const pts = points.map(un) as unknown as NP1[];
      return wrap(pippenger(Cons as unknown as typeof G1P, pts, [...scalars]) as unknown as N);
    },
    equals: (a: P, b: P) => un(a).equals(un(b)),
    isZero: (p: P) => un(p).is0(),
  });
}

const g1 = makeGroup<G1, NP1>('G1', 48, G1P, w1, u1, decodeG1);
const g2 = makeGroup<G2, NP2>('G2', 96, G2P, w2, u2, decodeG2);

function fp12ToBytes(x: Fp12T): Uint8Array {
  // Natural order c0.c0.c0, c0.c0.c1, c0.c1.c0, …, c1.c2.c1; the wire order is its reverse.
  const coeffs: bigint[] = [];
  for (const f6 of [x.c0, x.c1]) for (const f2 of [f6.c0, f6.c1, f6.c2]) coeffs.push(f2.c0, f2.c1);
  const out = new Uint8Array(12 * FP_BYTES);
  coeffs.reverse().forEach((c, i) => out.set(Fp.toBytes(c), i * FP_BYTES));
  return out;
}

type Terms = { g1: NP1; g2: NP2 }[];
/** Unwraps the pairs (a foreign point is a TypeError) and drops zero terms: e(0, Q) = e(P, 0) = 1. */
function terms(pairs: ReadonlyArray<readonly [G1, G2]>): Terms {
  if (!Array.isArray(pairs)) throw new TypeError('pairing: expected an array of [G1, G2] pairs');
  return pairs.map(([p, q]) => ({ g1: u1(p), g2: u2(q) })).filter(({ g1: p, g2: q }) => !p.is0() && !q.is0());
}
const product = (t: Terms): Fp12T => (t.length === 0 ? Fp12.ONE : bls12_381.pairingBatch(t));

/** The reference backend over @noble/curves. */
export const nobleBackend: Bls12381 = Object.freeze({
  name: 'noble' as const,
  g1,
  g2,
  hashToG1(msg: Uint8Array, dst: string): G1 {
    if (!(msg instanceof Uint8Array)) throw new TypeError(`hashToG1: expected Uint8Array msg, got ${typeof msg}`);
    return w1(bls12_381.G1.hashToCurve(msg, { DST: aDst(dst) }) as NP1);
  },
  pairing: (p: G1, q: G2): GT => wt(product(terms([[p, q]]))),
  pairingCheck(pairs: ReadonlyArray<readonly [G1, G2]>): boolean {
    const t = terms(pairs);
    try {
      return Fp12.eql(product(t), Fp12.ONE);
    } catch {
      return false;
    }
  },
  gtPow(x: GT, k: bigint): GT {
    aScalar(k, 'gtPow: exponent');
    return wt(Fp12.pow(ut(x), k));
  },
  gtEquals: (a: GT, b: GT): boolean => Fp12.eql(ut(a), ut(b)),
  gtToBytes: (x: GT): Uint8Array => fp12ToBytes(ut(x)),
});
