/**
 * @module
 * BN254 (alt_bn128) BLS operator signatures, byte-compatible with Solidity and EigenLayer's
 * `BN254.sol` (eigenlayer-middleware `src/libraries/BN254.sol`) and the EVM precompiles
 * ecAdd/ecMul/ecPairing (EIP-196/197).
 *
 * Curve: E(Fp): y² = x³ + 3, p = 0x30644e72…d87cfd47 (254 bits); G1 = E(Fp) (cofactor 1);
 * G2 ⊂ E'(Fp²) twisted, Fp² = Fp[i]/(i²+1); group order r = 0x30644e72…f0000001.
 *
 * - Secret key: `sk` with 1 ≤ sk < r, 32 bytes big-endian.
 * - Message digest: `m = keccak256(domain ‖ payload)` (domain: see `domain.ts`).
 * - Hash to G1 (EigenLayer `BN254.hashToG1`, try-and-increment, *not* RFC 9380):
 *   `x = uint256(m) mod p`; loop { β = x³ + 3 mod p; y = β^((p+1)/4) mod p;
 *   if y² ≡ β return (x, y); x = x + 1 mod p }. `(p+1)/4` works because p ≡ 3 (mod 4).
 *   The `y` is whatever that exponentiation gives (EigenLayer does not normalise its sign).
 *   Vector: keccak256("hello") → x = 0x1c8aff95…a36deac9 (one increment).
 * - Signature: `σ = sk·H(m)` in G1. Verify: `e(σ, G2) == e(H(m), PK2)`, i.e. the precompile
 *   check `ecPairing(σ, −G2, H(m), PK2) == 1` (`BN254.pairing(σ, negGeneratorG2(), H, pk)`).
 * - Public keys: `PK2 = sk·G2` (verification key) and `PK1 = sk·G1` (EigenLayer registers both).
 *
 * Encodings (all field elements 32-byte big-endian, each < p; the identity is refused):
 * - G1 point (signatures, PK1, H(m)): 64 bytes `X ‖ Y` (Solidity `G1Point{X, Y}`).
 * - G2 point (PK2): 128 bytes `X.im ‖ X.re ‖ Y.im ‖ Y.re`, where X = X.re + X.im·i. This is
 *   Solidity's `G2Point{X: [X.im, X.re], Y: [Y.im, Y.re]}` and the order the ecPairing
 *   precompile reads (EIP-197: "a·i + b is encoded as (a, b)"); EigenLayer's
 *   `generatorG2()` carries the same warning ("mind the ordering of the 1s and 0s"), and
 *   `hashG2Point` hashes these 128 bytes in this order.
 * - G2 decoding also checks the prime-order subgroup (G2 has a large cofactor on the twist).
 *
 * Proof of possession (binds the key to one operator address, so a key/PoP pair copied from
 * chain cannot be registered under another address):
 * `pop = sk·H(keccak256(domain ‖ utf8("pop") ‖ operator))`, with `operator` the 20-byte
 * address; 65 + 3 + 20 = 88 bytes hashed. A plain signature over a *payload* of exactly
 * that shape ("pop" ‖ 20 bytes) is refused by `sign` and rejected by `verify`, so an
 * operator signature can never double as a PoP (see `domain.ts` `isPopShapedPayload`).
 * Two checks are offered: `bn254VerifyProofOfPossession` (the plain pairing check against
 * PK2) and `bn254VerifyEigenLayerRegistration`, which is EigenLayer's
 * `BLSApkRegistry.registerBLSPublicKey` check binding PK1 and PK2 as well:
 * γ = keccak256(σ ‖ PK1 ‖ PK2 ‖ H) mod r (64+64+128+64 bytes, encodings above);
 * `e(σ + γ·PK1, −G2) · e(H + γ·G1, PK2) == 1`.
 *
 * Verification returns a boolean and never throws on well-sized input (points off the
 * curve, coordinates ≥ p, or a wrong signature all give `false`); wrong argument types or
 * lengths throw. Decoders (`decodeG1`, `decodeG2`) throw `Bn254PointError`.
 */
import { bn254 } from '@noble/curves/bn254.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes } from '@noble/hashes/utils.js';
import {
  aBytes,
  bytesToUint,
  isPopShapedPayload,
  operatorDigest,
  popDigest,
  uint256ToBytes,
  type AddressLike,
} from './domain.ts';
import { systemRng, type Rng } from './rng.ts';

type Fp2 = { c0: bigint; c1: bigint };
type G1Point = WeierstrassPoint<bigint>;
type G2Point = WeierstrassPoint<Fp2>;

const { Fp, Fp12 } = bn254.fields;
/** Base field modulus p. */
export const BN254_P: bigint = Fp.ORDER;
/** Group order r (scalar field). */
export const BN254_R: bigint = bn254.fields.Fr.ORDER;
/** (p + 1) / 4: the square-root exponent, 0x0c19139c…61f3f52 as in BN254.sol. */
const SQRT_EXP = (BN254_P + 1n) / 4n;

export const BN254_SECRET_KEY_BYTES = 32;
export const BN254_G1_BYTES = 64;
export const BN254_G2_BYTES = 128;
export const BN254_SIGNATURE_BYTES = 64;
export const BN254_DIGEST_BYTES = 32;

const G1 = bn254.G1.Point;
const G2 = bn254.G2.Point;

/** A G1 point in affine coordinates (what `BN254.G1Point` holds). */
export interface G1Affine {
  readonly x: bigint;
  readonly y: bigint;
}

/** A byte string that should be a BN254 point and is not. */
export class Bn254PointError extends Error {
  override readonly name = 'Bn254PointError';
}

// ---------------------------------------------------------------------------------------
// Field and point codecs

function fieldToBytes(v: bigint): Uint8Array {
  return uint256ToBytes(v);
}

function readField(bytes: Uint8Array, offset: number, what: string): bigint {
  const v = bytesToUint(bytes.subarray(offset, offset + 32));
  if (v >= BN254_P) throw new Bn254PointError(`${what}: coordinate not canonical (>= p)`);
  return v;
}

/** 64-byte `X ‖ Y` of a non-identity G1 point. */
export function encodeG1(point: G1Point): Uint8Array {
  if (point.is0()) throw new Bn254PointError('G1 point: the identity has no encoding here');
  const { x, y } = point.toAffine();
  return concatBytes(fieldToBytes(x), fieldToBytes(y));
}

/** Strict decode of a 64-byte G1 point: coordinates < p, on the curve, not the identity. */
export function decodeG1(bytes: Uint8Array, what = 'G1 point'): G1Point {
  aBytes(bytes, BN254_G1_BYTES, what);
  const x = readField(bytes, 0, what);
  const y = readField(bytes, 32, what);
  if (x === 0n && y === 0n) throw new Bn254PointError(`${what}: identity not allowed`);
  const p = G1.fromAffine({ x, y });
  try {
    p.assertValidity();
  } catch (cause) {
    throw new Bn254PointError(`${what}: not on the curve`, { cause });
  }
  return p;
}

/** 128-byte `X.im ‖ X.re ‖ Y.im ‖ Y.re` of a non-identity G2 point (EIP-197 order). */
export function encodeG2(point: G2Point): Uint8Array {
  if (point.is0()) throw new Bn254PointError('G2 point: the identity has no encoding here');
  const { x, y } = point.toAffine();
  return concatBytes(fieldToBytes(x.c1), fieldToBytes(x.c0), fieldToBytes(y.c1), fieldToBytes(y.c0));
}

/** Strict decode of a 128-byte G2 point: coordinates < p, on the twist, in the subgroup, not the identity. */
export function decodeG2(bytes: Uint8Array, what = 'G2 point'): G2Point {
  aBytes(bytes, BN254_G2_BYTES, what);
  const xIm = readField(bytes, 0, what);
  const xRe = readField(bytes, 32, what);
  const yIm = readField(bytes, 64, what);
  const yRe = readField(bytes, 96, what);
  if (xIm === 0n && xRe === 0n && yIm === 0n && yRe === 0n) {
    throw new Bn254PointError(`${what}: identity not allowed`);
  }
  const p = G2.fromAffine({ x: { c0: xRe, c1: xIm }, y: { c0: yRe, c1: yIm } });
  try {
    p.assertValidity(); // on the twist and torsion-free ([p]P == ψ(P) check in noble)
  } catch (cause) {
    throw new Bn254PointError(`${what}: not on the twist or not in the prime-order subgroup`, { cause });
  }
  return p;
}

function decodeSecretKey(secretKey: Uint8Array): bigint {
  aBytes(secretKey, BN254_SECRET_KEY_BYTES, 'secretKey');
  const sk = bytesToUint(secretKey);
  // Half-open [1, r): 0 would sign everything as the identity.
  if (sk === 0n || sk >= BN254_R) throw new RangeError('secretKey: expected 1 <= sk < r (BN254)');
  return sk;
}

// ---------------------------------------------------------------------------------------
// Hash to G1 (EigenLayer try-and-increment)

/**
 * EigenLayer `BN254.hashToG1(bytes32)`: try-and-increment from `x = uint256(digest) mod p`.
 * Returns the affine point exactly as the Solidity library does.
 */
export function hashToG1(digest: Uint8Array): G1Affine {
  aBytes(digest, BN254_DIGEST_BYTES, 'digest');
  let x = bytesToUint(digest) % BN254_P;
  for (;;) {
    const beta = Fp.add(Fp.mul(Fp.sqr(x), x), 3n); // x³ + 3
    const y = Fp.pow(beta, SQRT_EXP); // a square root of β if β is a square
    if (Fp.sqr(y) === beta) return { x, y };
    x = Fp.add(x, 1n);
  }
}

function hashToG1Point(digest: Uint8Array): G1Point {
  const { x, y } = hashToG1(digest);
  return G1.fromAffine({ x, y }); // on the curve by construction; G1 has cofactor 1
}

// ---------------------------------------------------------------------------------------
// Pairing

/** Π e(P_i, Q_i) == 1; pairs with an identity factor contribute 1 (as the precompile does). */
function pairingProductIsOne(pairs: { g1: G1Point; g2: G2Point }[]): boolean {
  const live = pairs.filter(({ g1, g2 }) => !g1.is0() && !g2.is0());
  if (live.length === 0) return true;
  return Fp12.eql(bn254.pairingBatch(live), Fp12.ONE);
}

function tryDecodeG1(bytes: Uint8Array): G1Point | undefined {
  try {
    return decodeG1(bytes);
  } catch (e) {
    if (e instanceof Bn254PointError) return undefined;
    throw e;
  }
}

function tryDecodeG2(bytes: Uint8Array): G2Point | undefined {
  try {
    return decodeG2(bytes);
  } catch (e) {
    if (e instanceof Bn254PointError) return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------
// Keys

/** A fresh secret key (32 bytes, 1 ≤ sk < r) from 48 bytes of `rng` (bias < 2^-128). */
export function bn254GenerateSecretKey(rng: Rng = systemRng): Uint8Array {
  return mapHashToField(aBytes(rng(48), 48, 'rng output'), BN254_R);
}

/** `PK2 = sk·G2`, 128 bytes (the verification key). */
export function bn254PublicKeyG2(secretKey: Uint8Array): Uint8Array {
  return encodeG2(G2.BASE.multiply(decodeSecretKey(secretKey)));
}

/** `PK1 = sk·G1`, 64 bytes (EigenLayer's `pubkeyG1`; used by the registration check). */
export function bn254PublicKeyG1(secretKey: Uint8Array): Uint8Array {
  return encodeG1(G1.BASE.multiply(decodeSecretKey(secretKey)));
}

// ---------------------------------------------------------------------------------------
// Sign / verify

/** `σ = sk·hashToG1(digest)`: 64-byte signature of a 32-byte digest. */
export function bn254SignDigest(secretKey: Uint8Array, digest: Uint8Array): Uint8Array {
  if (arguments.length !== 2) throw new TypeError(`bn254SignDigest: expected 2 arguments, got ${arguments.length}`);
  const sk = decodeSecretKey(secretKey);
  return encodeG1(hashToG1Point(digest).multiply(sk));
}

/** `e(σ, G2) == e(H(digest), PK2)`. False for any well-sized wrong input; never throws on it. */
export function bn254VerifyDigest(publicKeyG2: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  if (arguments.length !== 3) throw new TypeError(`bn254VerifyDigest: expected 3 arguments, got ${arguments.length}`);
  aBytes(publicKeyG2, BN254_G2_BYTES, 'publicKey');
  aBytes(digest, BN254_DIGEST_BYTES, 'digest');
  aBytes(signature, BN254_SIGNATURE_BYTES, 'signature');
  const pk = tryDecodeG2(publicKeyG2);
  const sig = tryDecodeG1(signature);
  if (pk === undefined || sig === undefined) return false;
  try {
    // e(σ, G2) · e(−H, PK2) == 1
    return pairingProductIsOne([
      { g1: sig, g2: G2.BASE },
      { g1: hashToG1Point(digest).negate(), g2: pk },
    ]);
  } catch {
    return false;
  }
}

/** Signs `keccak256(domain ‖ payload)`. Refuses a payload shaped like a PoP message. */
export function bn254Sign(secretKey: Uint8Array, domain: Uint8Array, payload: Uint8Array): Uint8Array {
  if (arguments.length !== 3) throw new TypeError(`bn254Sign: expected 3 arguments, got ${arguments.length}`);
  return bn254SignDigest(secretKey, operatorDigest(domain, payload));
}

/** Verifies a signature over `keccak256(domain ‖ payload)` against a 128-byte G2 public key. */
export function bn254Verify(
  publicKeyG2: Uint8Array,
  domain: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (arguments.length !== 4) throw new TypeError(`bn254Verify: expected 4 arguments, got ${arguments.length}`);
  aBytes(payload, undefined, 'payload');
  if (isPopShapedPayload(payload)) return false;
  return bn254VerifyDigest(publicKeyG2, operatorDigest(domain, payload), signature);
}

// ---------------------------------------------------------------------------------------
// Proof of possession

/** `sk·H(keccak256(domain ‖ "pop" ‖ operator))`, 64 bytes. */
export function bn254ProofOfPossession(secretKey: Uint8Array, domain: Uint8Array, operator: AddressLike): Uint8Array {
  if (arguments.length !== 3) {
    throw new TypeError(`bn254ProofOfPossession: expected 3 arguments, got ${arguments.length}`);
  }
  return bn254SignDigest(secretKey, popDigest(domain, operator));
}

/** Plain PoP check: `e(pop, G2) == e(H(popDigest), PK2)`. */
export function bn254VerifyProofOfPossession(
  publicKeyG2: Uint8Array,
  domain: Uint8Array,
  operator: AddressLike,
  pop: Uint8Array,
): boolean {
  if (arguments.length !== 4) {
    throw new TypeError(`bn254VerifyProofOfPossession: expected 4 arguments, got ${arguments.length}`);
  }
  return bn254VerifyDigest(publicKeyG2, popDigest(domain, operator), pop);
}

/**
 * EigenLayer's registration check (`BLSApkRegistry.registerBLSPublicKey`) on our PoP message:
 * γ = keccak256(σ ‖ PK1 ‖ PK2 ‖ H) mod r; `e(σ + γ·PK1, −G2) · e(H + γ·G1, PK2) == 1`.
 * Accepts only if the PoP is valid *and* PK1, PK2 share the same secret key.
 */
export function bn254VerifyEigenLayerRegistration(
  publicKeyG1: Uint8Array,
  publicKeyG2: Uint8Array,
  domain: Uint8Array,
  operator: AddressLike,
  pop: Uint8Array,
): boolean {
  if (arguments.length !== 5) {
    throw new TypeError(`bn254VerifyEigenLayerRegistration: expected 5 arguments, got ${arguments.length}`);
  }
  aBytes(publicKeyG1, BN254_G1_BYTES, 'publicKeyG1');
  aBytes(publicKeyG2, BN254_G2_BYTES, 'publicKeyG2');
  aBytes(pop, BN254_SIGNATURE_BYTES, 'pop');
  const digest = popDigest(domain, operator);
  const pk1 = tryDecodeG1(publicKeyG1);
  const pk2 = tryDecodeG2(publicKeyG2);
  const sig = tryDecodeG1(pop);
  if (pk1 === undefined || pk2 === undefined || sig === undefined) return false;
  try {
    const h = hashToG1Point(digest);
    const gamma =
      bytesToUint(keccak_256(concatBytes(pop, publicKeyG1, publicKeyG2, encodeG1(h)))) % BN254_R;
    return pairingProductIsOne([
      { g1: sig.add(pk1.multiplyUnsafe(gamma)), g2: G2.BASE.negate() },
      { g1: h.add(G1.BASE.multiplyUnsafe(gamma)), g2: pk2 },
    ]);
  } catch {
    return false;
  }
}
