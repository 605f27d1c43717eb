/**
 * @module
 * secp256k1 ECDSA operator signatures, checkable on-chain with `ecrecover` (and OpenZeppelin
 * `ECDSA.recover`, which refuses high-s).
 *
 * Curve: y² = x³ + 7 over p = 2²⁵⁶ − 2³² − 977; order n = 0xffff…fffe baaedce6 af48a03b
 * bfd25e8c d0364141.
 *
 * - Secret key: 32 bytes big-endian, 1 ≤ sk < n. Public identity: the Ethereum address
 *   `keccak256(X ‖ Y)[12:32]` (20 bytes) of `PK = sk·G` (X, Y 32 bytes each: the
 *   uncompressed SEC1 key without its 0x04 byte). The operator's registered ECDSA signing
 *   key *is* this address; verification recovers the key from the signature.
 * - Digest: `m = keccak256(domain ‖ payload)` (no EIP-191 prefix; see `domain.ts`).
 * - Signature: RFC 6979 deterministic ECDSA over `m`, 65 bytes `r ‖ s ‖ v` (r, s 32-byte
 *   big-endian, v = 27 + recovery bit), the layout `ecrecover(m, v, r, s)` expects.
 *   Low-s only: 1 ≤ s ≤ ⌊n/2⌋ (EIP-2). `sign` always normalises; `parseEcdsaSignature`
 *   throws and `ecdsaVerify` returns false for high-s, v ∉ {27, 28}, r or s out of [1, n).
 * - Proof of possession: the same signature over `keccak256(domain ‖ "pop" ‖ operator)`
 *   (88 bytes hashed), binding the signing key to one operator address; payloads of that
 *   shape are refused by `ecdsaSign` and rejected by `ecdsaVerify`.
 *
 * Backends: signing and recovery — the hot path of key release (`/app/sign` recovers the app
 * owner's EIP-712 signature and signs every answer; clients recover every answer's signer) —
 * run on libsecp256k1's native binding (`secp256k1-native.ts`), measured ~25× (sign) and ~35×
 * (recover) faster than `@noble/curves` here and ~5× faster than libsecp256k1 compiled to
 * WebAssembly. Signatures are byte-identical (RFC 6979, low-s; the tests compare the two
 * backends). Where the binding does not load, noble does the same work. noble also does key
 * derivation and point decoding. `ecdsaBackend()` says which one is in use.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { mapHashToField } from '@noble/curves/abstract/modular.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes } from '@noble/hashes/utils.js';
import {
  ADDRESS_BYTES,
  aBytes,
  addressBytes,
  bytesToUint,
  isPopShapedPayload,
  operatorDigest,
  popDigest,
  uint256ToBytes,
  type AddressLike,
} from './domain.ts';
import { systemRng, type Rng } from './rng.ts';
import { nativeSecp256k1 } from './secp256k1-native.ts';

/** Group order n. */
export const SECP256K1_N: bigint = secp256k1.Point.Fn.ORDER;
const HALF_N = SECP256K1_N >> 1n;
/** libsecp256k1, or null: noble then signs and recovers. */
const native = nativeSecp256k1;

export const ECDSA_SECRET_KEY_BYTES = 32;
export const ECDSA_SIGNATURE_BYTES = 65;
export const ECDSA_DIGEST_BYTES = 32;

/** A 65-byte string that is not a canonical (low-s, v ∈ {27, 28}) Ethereum signature. */
export class EcdsaSignatureError extends Error {
  override readonly name = 'EcdsaSignatureError';
}

/** The parts of a 65-byte `r ‖ s ‖ v` signature. */
export interface EcdsaSignatureParts {
  readonly r: bigint;
  readonly s: bigint;
  /** 27 or 28. */
  readonly v: 27 | 28;
}

function aSecretKey(secretKey: Uint8Array): Uint8Array {
  aBytes(secretKey, ECDSA_SECRET_KEY_BYTES, 'secretKey');
  if (!secp256k1.utils.isValidSecretKey(secretKey)) {
    throw new RangeError('secretKey: expected 1 <= sk < n (secp256k1)');
  }
  return secretKey;
}

/** A fresh secret key from 48 bytes of `rng` (uniform in [1, n), bias < 2^-128). */
export function ecdsaGenerateSecretKey(rng: Rng = systemRng): Uint8Array {
  return mapHashToField(aBytes(rng(48), 48, 'rng output'), SECP256K1_N);
}

/** Ethereum address of a SEC1 public key (33-byte compressed or 65-byte uncompressed). */
export function publicKeyToAddress(publicKey: Uint8Array): Uint8Array {
  aBytes(publicKey, undefined, 'publicKey');
  if (publicKey.length !== 33 && publicKey.length !== 65) {
    throw new RangeError(`publicKey: expected 33 or 65 bytes, got ${publicKey.length}`);
  }
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return keccak_256(uncompressed.subarray(1)).slice(32 - ADDRESS_BYTES);
}

/** Ethereum address (20 bytes) of a secret key. */
export function ecdsaAddress(secretKey: Uint8Array): Uint8Array {
  return publicKeyToAddress(secp256k1.getPublicKey(aSecretKey(secretKey), false));
}

/** Signs a 32-byte digest: 65 bytes `r ‖ s ‖ v`, low-s, v ∈ {27, 28}. */
export function ecdsaSignDigest(secretKey: Uint8Array, digest: Uint8Array): Uint8Array {
  if (arguments.length !== 2) throw new TypeError(`ecdsaSignDigest: expected 2 arguments, got ${arguments.length}`);
  aSecretKey(secretKey);
  aBytes(digest, ECDSA_DIGEST_BYTES, 'digest');
  let rs: Uint8Array;
  let recovery: number;
  if (native !== null) {
    const sig = native.ecdsaSign(digest, secretKey);
    rs = sig.signature;
    recovery = sig.recid;
  } else {
    // noble's 'recovered' format is recovery ‖ r ‖ s.
    const rec = secp256k1.sign(digest, secretKey, { prehash: false, lowS: true, format: 'recovered' });
    rs = rec.subarray(1, 65);
    recovery = rec[0] as number;
  }
  // Recovery ids 2 and 3 (r ≥ n) occur with probability ~2^-127 and ecrecover cannot express them.
  if (recovery > 1) throw new Error('ecdsa sign: recovery id > 1 is not expressible as v; retry with another digest');
  // Ethereum wants r ‖ s ‖ (27 + recovery).
  return concatBytes(rs, Uint8Array.of(27 + recovery));
}

/** Strict decode of `r ‖ s ‖ v`: 1 ≤ r < n, 1 ≤ s ≤ ⌊n/2⌋ (low-s), v ∈ {27, 28}. */
export function parseEcdsaSignature(signature: Uint8Array): EcdsaSignatureParts {
  aBytes(signature, ECDSA_SIGNATURE_BYTES, 'signature');
  const r = bytesToUint(signature.subarray(0, 32));
  const s = bytesToUint(signature.subarray(32, 64));
  const v = signature[64] as number;
  if (r === 0n || r >= SECP256K1_N) throw new EcdsaSignatureError('signature: r out of range [1, n)');
  if (s === 0n || s >= SECP256K1_N) throw new EcdsaSignatureError('signature: s out of range [1, n)');
  if (s > HALF_N) throw new EcdsaSignatureError('signature: high s (s > n/2) refused; only low-s signatures are canonical');
  if (v !== 27 && v !== 28) throw new EcdsaSignatureError(`signature: expected v = 27 or 28, got ${v}`);
  return { r, s, v };
}

/** Encodes parts as 65 bytes `r ‖ s ‖ v` (no range checks: use to build test inputs). */
export function encodeEcdsaSignature(parts: { r: bigint; s: bigint; v: number }): Uint8Array {
  return concatBytes(uint256ToBytes(parts.r, 'r'), uint256ToBytes(parts.s, 's'), Uint8Array.of(parts.v));
}

/** Which implementation signs and recovers: `native` (libsecp256k1) or `noble`. */
export function ecdsaBackend(): 'native' | 'noble' {
  return native === null ? 'noble' : 'native';
}

/**
 * The 65-byte uncompressed key that signed `digest`. `signature` must be canonical (see
 * `parseEcdsaSignature`); throws `EcdsaSignatureError` if no key recovers.
 */
function recoverUncompressed(digest: Uint8Array, signature: Uint8Array): Uint8Array {
  aBytes(digest, ECDSA_DIGEST_BYTES, 'digest');
  const { r, s, v } = parseEcdsaSignature(signature);
  try {
    if (native !== null) return native.ecdsaRecover(signature.subarray(0, 64), v - 27, digest, false);
    return new secp256k1.Signature(r, s, v - 27).recoverPublicKey(digest).toBytes(false);
  } catch (cause) {
    // r is not the x-coordinate of a curve point, or the recovered point is the identity.
    throw new EcdsaSignatureError('signature: no public key recovers from it', { cause });
  }
}

/** Recovers the signer's address from a digest and a canonical signature. Throws if it cannot. */
export function ecdsaRecoverAddressFromDigest(digest: Uint8Array, signature: Uint8Array): Uint8Array {
  return keccak_256(recoverUncompressed(digest, signature).subarray(1)).slice(32 - ADDRESS_BYTES);
}

/** Recovers the address that signed `keccak256(domain ‖ payload)`. Throws if it cannot. */
export function ecdsaRecoverAddress(domain: Uint8Array, payload: Uint8Array, signature: Uint8Array): Uint8Array {
  return ecdsaRecoverAddressFromDigest(operatorDigest(domain, payload), signature);
}

function verifyDigest(address: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  aBytes(signature, ECDSA_SIGNATURE_BYTES, 'signature');
  let recovered: Uint8Array;
  try {
    recovered = ecdsaRecoverAddressFromDigest(digest, signature);
  } catch (e) {
    if (e instanceof EcdsaSignatureError) return false;
    throw e;
  }
  return recovered.every((b, i) => b === address[i]);
}

/** True when `signature` over a 32-byte digest recovers to `address`. */
export function ecdsaVerifyDigest(address: AddressLike, digest: Uint8Array, signature: Uint8Array): boolean {
  if (arguments.length !== 3) throw new TypeError(`ecdsaVerifyDigest: expected 3 arguments, got ${arguments.length}`);
  return verifyDigest(addressBytes(address, 'address'), aBytes(digest, ECDSA_DIGEST_BYTES, 'digest'), signature);
}

/** Signs `keccak256(domain ‖ payload)`. Refuses a payload shaped like a PoP message. */
export function ecdsaSign(secretKey: Uint8Array, domain: Uint8Array, payload: Uint8Array): Uint8Array {
  if (arguments.length !== 3) throw new TypeError(`ecdsaSign: expected 3 arguments, got ${arguments.length}`);
  return ecdsaSignDigest(secretKey, operatorDigest(domain, payload));
}

/** True when `signature` over `keccak256(domain ‖ payload)` recovers to `address`. */
export function ecdsaVerify(
  address: AddressLike,
  domain: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (arguments.length !== 4) throw new TypeError(`ecdsaVerify: expected 4 arguments, got ${arguments.length}`);
  const addr = addressBytes(address, 'address');
  aBytes(payload, undefined, 'payload');
  if (isPopShapedPayload(payload)) return false;
  return verifyDigest(addr, operatorDigest(domain, payload), signature);
}

/** Signature over `keccak256(domain ‖ "pop" ‖ operator)`, 65 bytes. */
export function ecdsaProofOfPossession(secretKey: Uint8Array, domain: Uint8Array, operator: AddressLike): Uint8Array {
  if (arguments.length !== 3) {
    throw new TypeError(`ecdsaProofOfPossession: expected 3 arguments, got ${arguments.length}`);
  }
  return ecdsaSignDigest(secretKey, popDigest(domain, operator));
}

/** True when `pop` is `address`'s signature over the PoP message for `operator`. */
export function ecdsaVerifyProofOfPossession(
  address: AddressLike,
  domain: Uint8Array,
  operator: AddressLike,
  pop: Uint8Array,
): boolean {
  if (arguments.length !== 4) {
    throw new TypeError(`ecdsaVerifyProofOfPossession: expected 4 arguments, got ${arguments.length}`);
  }
  return verifyDigest(addressBytes(address, 'address'), popDigest(domain, operator), pop);
}
