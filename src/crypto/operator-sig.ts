/**
 * @module
 * One small interface over the two operator signing-key types (SPEC §2 "Operator keys").
 *
 * | type    | secret key | public key (registered)                          | signature        |
 * |---------|------------|--------------------------------------------------|------------------|
 * | `bn254` | 32 bytes   | 128-byte G2 point `X.im ‖ X.re ‖ Y.im ‖ Y.re`    | 64-byte G1 `X‖Y` |
 * | `ecdsa` | 32 bytes   | 20-byte Ethereum address                         | 65-byte `r‖s‖v`  |
 *
 * Both sign `keccak256(domain ‖ payload)` and prove possession with a signature over
 * `keccak256(domain ‖ "pop" ‖ operator address)` (see `domain.ts`, `operator-sig-bn254.ts`,
 * `operator-sig-ecdsa.ts`). A signer is bound to one domain at creation; it holds its secret
 * key in a closure and never exposes it.
 */
import {
  BN254_G2_BYTES,
  BN254_SECRET_KEY_BYTES,
  BN254_SIGNATURE_BYTES,
  bn254GenerateSecretKey,
  bn254ProofOfPossession,
  bn254PublicKeyG1,
  bn254PublicKeyG2,
  bn254Sign,
  bn254Verify,
  bn254VerifyProofOfPossession,
} from './operator-sig-bn254.ts';
import {
  ECDSA_SECRET_KEY_BYTES,
  ECDSA_SIGNATURE_BYTES,
  ecdsaAddress,
  ecdsaGenerateSecretKey,
  ecdsaProofOfPossession,
  ecdsaSign,
  ecdsaVerify,
  ecdsaVerifyProofOfPossession,
} from './operator-sig-ecdsa.ts';
import { ADDRESS_BYTES, aBytes, aDomain, type AddressLike } from './domain.ts';
import { systemRng, type Rng } from './rng.ts';

export type OperatorKeyType = 'bn254' | 'ecdsa';
export const OPERATOR_KEY_TYPES: readonly OperatorKeyType[] = Object.freeze(['bn254', 'ecdsa']);

/** Byte lengths per key type. */
export const OPERATOR_KEY_LENGTHS: Readonly<
  Record<OperatorKeyType, { readonly secretKey: number; readonly publicKey: number; readonly signature: number }>
> = Object.freeze({
  bn254: Object.freeze({ secretKey: BN254_SECRET_KEY_BYTES, publicKey: BN254_G2_BYTES, signature: BN254_SIGNATURE_BYTES }),
  ecdsa: Object.freeze({ secretKey: ECDSA_SECRET_KEY_BYTES, publicKey: ADDRESS_BYTES, signature: ECDSA_SIGNATURE_BYTES }),
});

/** Signs operator payloads under one domain. */
export interface OperatorSigner {
  readonly type: OperatorKeyType;
  /** bn254: 128-byte G2 key; ecdsa: 20-byte address. */
  readonly publicKey: Uint8Array;
  /** bn254 only: the 64-byte G1 key EigenLayer-style registration also takes. */
  readonly publicKeyG1?: Uint8Array;
  /** The 65-byte domain every signature of this signer starts with. */
  readonly domain: Uint8Array;
  /** Signature over `keccak256(domain ‖ payload)`. */
  sign(payload: Uint8Array): Uint8Array;
  /** Proof of possession binding this key to `operator`. */
  proofOfPossession(operator: AddressLike): Uint8Array;
}

/** Asserts `type` is a known key type and returns it. */
export function aOperatorKeyType(type: OperatorKeyType, what = 'type'): OperatorKeyType {
  if (type !== 'bn254' && type !== 'ecdsa') {
    throw new TypeError(`${what}: expected 'bn254' or 'ecdsa', got ${typeof type === 'string' ? `'${type}'` : typeof type}`);
  }
  return type;
}

/** A fresh secret key of the given type. */
export function generateOperatorSecretKey(type: OperatorKeyType, rng: Rng = systemRng): Uint8Array {
  return aOperatorKeyType(type) === 'bn254' ? bn254GenerateSecretKey(rng) : ecdsaGenerateSecretKey(rng);
}

/** The public key (as registered) of a secret key. */
export function operatorPublicKey(type: OperatorKeyType, secretKey: Uint8Array): Uint8Array {
  return aOperatorKeyType(type) === 'bn254' ? bn254PublicKeyG2(secretKey) : ecdsaAddress(secretKey);
}

/** A frozen signer bound to `domain`. The secret key is copied and kept private. */
export function createOperatorSigner(type: OperatorKeyType, secretKey: Uint8Array, domain: Uint8Array): OperatorSigner {
  aOperatorKeyType(type);
  aBytes(secretKey, OPERATOR_KEY_LENGTHS[type].secretKey, 'secretKey');
  const dom = Uint8Array.from(aDomain(domain));
  const sk = Uint8Array.from(secretKey);
  if (type === 'bn254') {
    return Object.freeze({
      type,
      publicKey: bn254PublicKeyG2(sk),
      publicKeyG1: bn254PublicKeyG1(sk),
      domain: dom,
      sign: (payload: Uint8Array) => bn254Sign(sk, dom, payload),
      proofOfPossession: (operator: AddressLike) => bn254ProofOfPossession(sk, dom, operator),
    });
  }
  return Object.freeze({
    type,
    publicKey: ecdsaAddress(sk),
    domain: dom,
    sign: (payload: Uint8Array) => ecdsaSign(sk, dom, payload),
    proofOfPossession: (operator: AddressLike) => ecdsaProofOfPossession(sk, dom, operator),
  });
}

function aPublicKey(type: OperatorKeyType, publicKey: Uint8Array): void {
  aBytes(publicKey, OPERATOR_KEY_LENGTHS[type].publicKey, `publicKey (${type})`);
}

/**
 * Verifies an operator signature over `keccak256(domain ‖ payload)`. Returns false for any
 * well-sized wrong input; throws only on an unknown type or wrong argument types/lengths.
 */
export function verifyOperatorSignature(
  type: OperatorKeyType,
  publicKey: Uint8Array,
  domain: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (arguments.length !== 5) throw new TypeError(`verifyOperatorSignature: expected 5 arguments, got ${arguments.length}`);
  aOperatorKeyType(type);
  aPublicKey(type, publicKey);
  aBytes(signature, OPERATOR_KEY_LENGTHS[type].signature, `signature (${type})`);
  return type === 'bn254'
    ? bn254Verify(publicKey, domain, payload, signature)
    : ecdsaVerify(publicKey, domain, payload, signature);
}

/** Verifies a proof of possession of `publicKey` for `operator` under `domain`. */
export function verifyOperatorProofOfPossession(
  type: OperatorKeyType,
  publicKey: Uint8Array,
  domain: Uint8Array,
  operator: AddressLike,
  pop: Uint8Array,
): boolean {
  if (arguments.length !== 5) {
    throw new TypeError(`verifyOperatorProofOfPossession: expected 5 arguments, got ${arguments.length}`);
  }
  aOperatorKeyType(type);
  aPublicKey(type, publicKey);
  aBytes(pop, OPERATOR_KEY_LENGTHS[type].signature, `pop (${type})`);
  return type === 'bn254'
    ? bn254VerifyProofOfPossession(publicKey, domain, operator, pop)
    : ecdsaVerifyProofOfPossession(publicKey, domain, operator, pop);
}
