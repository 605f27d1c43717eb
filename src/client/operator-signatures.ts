/**
 * @module
 * The client's check of the operator signatures on one request's answers (SPEC 2: every
 * partial is signed by its operator), all answers at once.
 *
 * BN254 keys (`σ_i = sk_i·H(m_i)`, verify `e(σ_i, G2) == e(H(m_i), PK_i)`, see
 * `../crypto/operator-sig-bn254.ts`), with random 128-bit weights ρ_i drawn after the answers
 * are fixed:
 *
 *     e(Σ ρ_i·σ_i, −G2) · Π_i e(ρ_i·H(m_i), PK_i) == 1
 *
 * one multi-Miller loop over k+1 pairs and ONE final exponentiation instead of k two-pairing
 * checks. BN254's G1 has cofactor 1 (every decoded σ_i and H(m_i) is in the prime-order group),
 * PK_i is subgroup-checked when decoded and GT has prime order r, so if any signature is wrong
 * the product differs from 1 except with probability ≤ 2^-128 over the weights. Only when the
 * batch fails is each signature checked alone (`verifyOperatorSignature`), which names the bad
 * ones; a malformed key or signature is simply invalid, as there.
 *
 * An operator's decoded key and its Miller-loop lines depend only on its 128 key bytes, so
 * they are cached per process (bounded): decoding with the subgroup check and precomputing the
 * lines cost about as much as a whole verification on noble.
 *
 * ECDSA keys are addresses: each signature needs its own public-key recovery, nothing to batch;
 * they are checked one by one.
 */
import { bn254 } from '@noble/curves/bn254.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { isPopShapedPayload, operatorDigest } from '../crypto/domain.ts';
import {
  BN254_G2_BYTES,
  BN254_SIGNATURE_BYTES,
  Bn254PointError,
  decodeG1,
  decodeG2,
  hashToG1,
} from '../crypto/operator-sig-bn254.ts';
import { verifyOperatorSignature, type OperatorKeyType } from '../crypto/operator-sig.ts';
import type { Rng } from '../crypto/rng.ts';
import { randomWeights } from '../crypto/vss.ts';

/** One signature to check: `signature` by `publicKey` (of `type`) over `keccak256(domain ‖ payload)`. */
export interface OperatorSignatureToVerify {
  readonly type: OperatorKeyType;
  /** The operator's on-chain signing key (BN254: 128-byte G2; ECDSA: 20-byte address). */
  readonly publicKey: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

type Precompute = ReturnType<typeof bn254.utils.calcPairingPrecomputes>;
type G1Point = WeierstrassPoint<bigint>;
/** One BN254 signature ready for the batch: the key's Miller-loop lines, σ and H(m). */
interface Prepared {
  readonly lines: Precompute;
  readonly sigma: G1Point;
  readonly h: G1Point;
}

const { Fp12 } = bn254.fields;
const G1 = bn254.G1.Point;
/** Cached keys: Miller-loop lines of PK, or null for bytes that are not a valid key. */
const KEY_CACHE_MAX = 4096;
const keyCache = new Map<string, Precompute | null>();
let negG2Lines: Precompute | undefined;

function keyLines(publicKey: Uint8Array): Precompute | null {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex');
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  let lines: Precompute | null;
  try {
    lines = bn254.utils.calcPairingPrecomputes(decodeG2(publicKey, 'publicKey'));
  } catch (e) {
    if (!(e instanceof Bn254PointError)) throw e;
    lines = null;
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(id, lines);
  return lines;
}

/** verifyOperatorSignature, with a malformed key or signature length counted as invalid. */
function verifyOne(it: OperatorSignatureToVerify, domain: Uint8Array): boolean {
  try {
    return verifyOperatorSignature(it.type, it.publicKey, domain, it.payload, it.signature);
  } catch {
    return false;
  }
}

/** A BN254 item ready for the batch, or undefined when it is invalid on its own. */
function prepareBn254(it: OperatorSignatureToVerify, domain: Uint8Array): Prepared | undefined {
  if (it.publicKey.length !== BN254_G2_BYTES || it.signature.length !== BN254_SIGNATURE_BYTES) return undefined;
  if (isPopShapedPayload(it.payload)) return undefined; // never an operator signature (see domain.ts)
  const lines = keyLines(it.publicKey);
  if (lines === null) return undefined;
  let sigma: G1Point;
  try {
    sigma = decodeG1(it.signature, 'signature');
  } catch (e) {
    if (e instanceof Bn254PointError) return undefined;
    throw e;
  }
  const { x, y } = hashToG1(operatorDigest(domain, it.payload));
  return { lines, sigma, h: G1.fromAffine({ x, y }) };
}

/**
 * One verdict per item (same order): true iff the signature verifies under its key, exactly as
 * `verifyOperatorSignature` decides (a malformed key or signature is false, never a throw).
 * BN254 items are checked in one batch (see the module comment); ECDSA items one by one.
 * @param domain `makeDomain({chainId, registry})`, what every operator signature is bound to
 * @param rng randomness for the batch weights (128 bits each)
 */
export function verifyOperatorSignatures(items: readonly OperatorSignatureToVerify[], domain: Uint8Array, rng: Rng): boolean[] {
  if (!Array.isArray(items)) throw new TypeError(`items: expected an array, got ${typeof items}`);
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  const verdicts = items.map(() => false);
  const batch: (Prepared & { readonly i: number })[] = [];
  items.forEach((it, i) => {
    if (it.type !== 'bn254') {
      verdicts[i] = verifyOne(it, domain);
      return;
    }
    const p = prepareBn254(it, domain);
    if (p !== undefined) batch.push({ i, ...p });
  });
  if (batch.length === 0) return verdicts;
  if (batch.length > 1 && batchHolds(batch, rng)) {
    for (const b of batch) verdicts[b.i] = true;
    return verdicts;
  }
  // The batch failed (or holds one item): name the bad ones, each checked alone.
  for (const b of batch) verdicts[b.i] = verifyOne(items[b.i] as OperatorSignatureToVerify, domain);
  return verdicts;
}

/**
 * true iff every item is a BN254 signature that verifies, checked in one multi-pairing (no
 * fallback: false says only that at least one is bad or malformed).
 */
export function verifyBn254Batch(items: readonly OperatorSignatureToVerify[], domain: Uint8Array, rng: Rng): boolean {
  if (!Array.isArray(items)) throw new TypeError(`items: expected an array, got ${typeof items}`);
  if (typeof rng !== 'function') throw new TypeError(`rng: expected function, got ${typeof rng}`);
  const batch: Prepared[] = [];
  for (const it of items) {
    const p = it.type === 'bn254' ? prepareBn254(it, domain) : undefined;
    if (p === undefined) return false;
    batch.push(p);
  }
  return batch.length === 0 || batchHolds(batch, rng);
}

/** e(Σ ρ_i·σ_i, −G2) · Π e(ρ_i·H_i, PK_i) == 1. */
function batchHolds(batch: readonly Prepared[], rng: Rng): boolean {
  const rho = randomWeights(rng, batch.length);
  let s = G1.ZERO;
  const pairs: [Precompute, bigint, bigint][] = [];
  batch.forEach((b, k) => {
    const r = rho[k] as bigint;
    s = s.add(b.sigma.multiplyUnsafe(r));
    const { x, y } = b.h.multiplyUnsafe(r).toAffine(); // ρ < r and H ≠ 0, so never the identity
    pairs.push([b.lines, x, y]);
  });
  // Σ ρ_i·σ_i is the identity only by a 2^-128 accident (or when signatures cancel on purpose):
  // then the one-by-one checks decide.
  if (s.is0()) return false;
  negG2Lines ??= bn254.utils.calcPairingPrecomputes(bn254.G2.Point.BASE.negate());
  const { x, y } = s.toAffine();
  pairs.push([negG2Lines, x, y]);
  return Fp12.eql(Fp12.finalExponentiate(bn254.millerLoopBatch(pairs)), Fp12.ONE);
}
