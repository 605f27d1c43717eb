/**
 * @module
 * Default, fast backend of the BLS12-381 facade over `mcl-wasm` (herumi/mcl compiled to wasm).
 *
 * - Same groups and sizes as `./noble.ts`: G1 48 bytes, G2 96 bytes compressed (ZCash/IETF,
 *   via `setETHserialization(true)`), Fr 32 bytes big-endian, GT ⊂ Fp12 (576 bytes).
 * - Hash-to-G1 is RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_` (`setMapToMode(IRTF)`). mcl keeps
 *   one process-wide G1 DST (its default is the POP one); `hashToG1` sets it through the raw
 *   `_mclBnG1_setDst` export whenever the caller's DST differs from the current one.
 * - Decoding: the shared validator (`checkCompressed`), then mcl's deserializer (on-curve),
 *   then an explicit `isValidOrder` subgroup check (mcl's own order check is switched off so
 *   that "off curve" and "off subgroup" stay distinguishable and match the reference).
 * - `mul` is `mclBnG{1,2}_mulCT` (constant time, for secret scalars); `msm` is `mulVec`
 *   (variable time, public scalars only); `pairingCheck` is one `millerLoopVec` and one
 *   `finalExp`.
 * - GT bytes: mcl serializes Fp12 coefficients in natural order with each Fp2 as c1 ‖ c0; the
 *   wire format (tlock-js `fp12ToBytes`) is the reverse of the natural order, so the 48-byte
 *   chunks are permuted explicitly (`GT_PERM`).
 *
 * mcl supports one curve per process; BN254 stays on noble for that reason.
 */
import mcl from 'mcl-wasm';
import mclRaw from 'mcl-wasm/dist/mcl.js';
import type { Fr as MFr, G1 as M1, G2 as M2, GT as MT } from 'mcl-wasm';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { aScalar, FR_BYTES, R, toBytes as frToBytes } from '../fr.ts';
import { aDst, checkCompressed, FP_BYTES, identityBytes, notInSubgroup, notOnCurve, type GroupName } from './encoding.ts';
import type { Bls12381, DecodeOptions, G1, G2, GT, Group } from './types.ts';

/**
 * The raw wasm exports we need beyond mcl-wasm's typed API (its typings omit `mod`).
 * Pointers are byte offsets into the wasm heap.
 */
interface RawMcl {
  _mclBnG1_setDst(dst: number, len: number): number;
  _mclBnG1_mulCT(z: number, x: number, y: number): void;
  _mclBnG2_mulCT(z: number, x: number, y: number): void;
  _mclBn_millerLoopVec(z: number, xs: number, ys: number, n: number): void;
}
/** Every mcl value wraps its limbs in `a_` (internal; needed to place vectors on the wasm stack). */
type Limbs = { a_: Uint32Array };
const limbs = (v: M1 | M2 | MT | MFr): Uint32Array => (v as unknown as Limbs).a_;

/** Wire chunk j of a GT element is mcl chunk GT_PERM[j] (see the module comment). */
const GT_PERM: readonly number[] = Array.from({ length: 12 }, (_, j) => (11 - j) ^ 1);

let backend: Promise<Bls12381> | undefined;

/** The mcl backend, initialised once per process (wasm instantiation is asynchronous). */
/** Points per mulVec call (see msm). */
export const MSM_CHUNK = 1024;

export function getMclBackend(): Promise<Bls12381> {
  backend ??= create();
  return backend;
}

async function create(): Promise<Bls12381> {
  await mcl.init(mcl.BLS12_381);
  mcl.setETHserialization(true);
  mcl.setMapToMode(mcl.IRTF);
  // Subgroup membership is checked explicitly in decode (see the module comment).
  mcl.verifyOrderG1(false);
  mcl.verifyOrderG2(false);
  const raw = (mclRaw as unknown as { mod: RawMcl }).mod;

  const frOf = (k: bigint): MFr => {
    const f = new mcl.Fr();
    f.deserialize(frToBytes(k)); // 32 bytes big-endian in ETH mode (tested against R - 1)
    return f;
  };

  /** z = k·x in constant time (mclBnG*_mulCT), through the raw call helper. */
  const mulCT = <T extends M1 | M2>(fn: (z: number, x: number, y: number) => void, Cons: new () => T, x: T, k: bigint): T => {
    const z = new Cons();
    mclRaw.callOp2(fn, limbs(z), limbs(x), limbs(frOf(k)));
    return z;
  };

  let currentDst: string | undefined;
  const setDst = (dst: string): void => {
    const d = aDst(dst);
    if (dst === currentDst) return;
    const stack = mclRaw.stackSave();
    try {
      if (raw._mclBnG1_setDst(mclRaw.sallocBytes(d), d.length) !== 0) throw new Error('hashToG1: mcl refused the DST');
    } finally {
      mclRaw.stackRestore(stack);
    }
    currentDst = dst;
  };

  function decoder<T extends M1 | M2>(name: GroupName, Cons: new () => T, zero: T) {
    return (bytes: Uint8Array, opts?: DecodeOptions): T => {
      const c = checkCompressed(name, bytes, opts?.allowIdentity ?? false);
      if (c.infinity) return zero;
      const p = new Cons();
      try {
        p.deserialize(bytes);
      } catch {
        throw notOnCurve(name);
      }
      if (!p.isValidOrder()) throw notInSubgroup(name);
      return p;
    };
  }

  function makeGroup<P extends G1 | G2, T extends M1 | M2>(
    name: GroupName,
    byteLength: number,
    Cons: new () => T,
    generatorBytes: Uint8Array,
    mulFn: (z: number, x: number, y: number) => void,
  ): Group<P> {
    const wrap = (p: T): P => p as unknown as P;
    const un = (p: P): T => {
      if (!(p instanceof Cons)) throw new TypeError(`${name} point: expected a point of the mcl backend`);
      return p as unknown as T;
    };
    const zero = new Cons();
    zero.deserialize(identityBytes(name));
    const gen = new Cons();
    gen.deserialize(generatorBytes);
    const decode = decoder(name, Cons, zero);
    // mcl's generic helpers are typed per class; T is one of them, so these casts are exact.
    const add = mcl.add as (a: T, b: T) => T;
    const sub = mcl.sub as (a: T, b: T) => T;
    const neg = mcl.neg as (a: T) => T;
    const mulVec = mcl.mulVec as (xs: T[], ys: MFr[]) => T;
    return Object.freeze({
      name,
      byteLength,
      generator: wrap(gen),
      zero: wrap(zero),
      decode: (bytes: Uint8Array, opts?: DecodeOptions) => wrap(decode(bytes, opts)),
      encode: (p: P) => un(p).serialize(),
      add: (a: P, b: P) => wrap(add(un(a), un(b))),
      sub: (a: P, b: P) => wrap(sub(un(a), un(b))),
      neg: (a: P) => wrap(neg(un(a))),
      mul(p: P, k: bigint): P {
        aScalar(k, `${name} mul: scalar`);
        return wrap(mulCT(mulFn, Cons, un(p), k));
      },
      msm(points: readonly P[], scalars: readonly bigint[]): P {
        if (points.length !== scalars.length)
          throw new RangeError(`${name} msm: ${points.length} points but ${scalars.length} scalars`);
        scalars.forEach((k, i) => aScalar(k, `${name} msm: scalar ${i}`));
        if (points.length === 0) return wrap(zero);
        // mcl's mulVec stack-allocates its window tables inside wasm: from ~2,800 G2 points it
        // fails with "memory access out of bounds" or aborts the process (found by the
        // simulator at n = 64: a recipient's batch check is n·t points). Chunks of
        // MSM_CHUNK points stay far below that and lose almost nothing to the extra adds.
        const xs = points.map(un);
        const ks = scalars.map(frOf);
        let acc: T | null = null;
        for (let i = 0; i < xs.length; i += MSM_CHUNK) {
          const part = mulVec(xs.slice(i, i + MSM_CHUNK), ks.slice(i, i + MSM_CHUNK));
          acc = acc === null ? part : add(acc, part);
        }
        return wrap(acc as T);
      },
      // isEqual(rhs: this) cannot be called on the union T; both classes compare limbs the same way.
      equals: (a: P, b: P) => (un(a) as { isEqual(o: T): boolean }).isEqual(un(b)),
      isZero: (p: P) => un(p).isZero(),
    });
  }

  const g1 = makeGroup<G1, M1>('G1', 48, mcl.G1, bls12_381.G1.Point.BASE.toBytes(), raw._mclBnG1_mulCT);
  const g2 = makeGroup<G2, M2>('G2', 96, mcl.G2, bls12_381.G2.Point.BASE.toBytes(), raw._mclBnG2_mulCT);

  const u1 = (p: G1): M1 => {
    if (!(p instanceof mcl.G1)) throw new TypeError('G1 point: expected a point of the mcl backend');
    return p as unknown as M1;
  };
  const u2 = (q: G2): M2 => {
    if (!(q instanceof mcl.G2)) throw new TypeError('G2 point: expected a point of the mcl backend');
    return q as unknown as M2;
  };
  const ut = (x: GT): MT => {
    if (!(x instanceof mcl.GT)) throw new TypeError('GT element: expected an element of the mcl backend');
    return x as unknown as MT;
  };
  const wt = (x: MT): GT => x as unknown as GT;

  const one = new mcl.GT();
  one.setInt(1);

  /** Unwraps the pairs; a foreign or malformed argument is a TypeError (misuse, not a verdict). */
  function unpair(pairs: ReadonlyArray<readonly [G1, G2]>): [M1[], M2[]] {
    if (!Array.isArray(pairs)) throw new TypeError('pairing: expected an array of [G1, G2] pairs');
    return [pairs.map(([p]) => u1(p)), pairs.map(([, q]) => u2(q))];
  }

  /** Π e(P_i, Q_i): one multi-Miller loop, one final exponentiation. */
  function product(xs: M1[], ys: M2[]): MT {
    if (xs.length === 0) return one;
    const f = new mcl.GT();
    const stack = mclRaw.stackSave();
    try {
      const zPos = mclRaw.salloc(limbs(f));
      const xPos = mclRaw.sallocArray(xs.map(limbs));
      const yPos = mclRaw.sallocArray(ys.map(limbs));
      raw._mclBn_millerLoopVec(zPos, xPos, yPos, xs.length);
      mclRaw.copyFromHeap32(limbs(f), zPos);
    } finally {
      mclRaw.stackRestore(stack);
    }
    return mcl.finalExp(f);
  }

  return Object.freeze({
    name: 'mcl' as const,
    g1,
    g2,
    hashToG1(msg: Uint8Array, dst: string): G1 {
      if (!(msg instanceof Uint8Array)) throw new TypeError(`hashToG1: expected Uint8Array msg, got ${typeof msg}`);
      setDst(dst);
      return mcl.hashAndMapToG1(msg) as unknown as G1;
    },
    pairing: (p: G1, q: G2): GT => wt(mcl.pairing(u1(p), u2(q))),
    pairingCheck(pairs: ReadonlyArray<readonly [G1, G2]>): boolean {
      const [xs, ys] = unpair(pairs);
      try {
        return product(xs, ys).isOne();
      } catch {
        return false;
      }
    },
    gtPow(x: GT, k: bigint): GT {
      aScalar(k, 'gtPow: exponent');
      return wt(mcl.pow(ut(x), frOf(k)));
    },
    gtEquals: (a: GT, b: GT): boolean => ut(a).isEqual(ut(b)),
    gtToBytes(x: GT): Uint8Array {
      const m = ut(x).serialize();
      const out = new Uint8Array(12 * FP_BYTES);
      GT_PERM.forEach((src, j) => out.set(m.subarray(src * FP_BYTES, (src + 1) * FP_BYTES), j * FP_BYTES));
      return out;
    },
  });
}

/** Exact bigint ← mcl.Fr conversion (32-byte big-endian serialization); for tests. */
export function mclFrToBigint(f: MFr): bigint {
  const b = f.serialize();
  if (b.length !== FR_BYTES) throw new RangeError(`mcl Fr: expected ${FR_BYTES} bytes, got ${b.length}`);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  if (v >= R) throw new RangeError('mcl Fr: value >= r');
  return v;
}

/** Exact bigint → mcl.Fr conversion; for tests (the backend uses the same path). */
export async function mclFrFromBigint(k: bigint): Promise<MFr> {
  await getMclBackend();
  aScalar(k);
  const f = new mcl.Fr();
  f.deserialize(frToBytes(k));
  return f;
}
