// BN254 BLS operator signatures, compatible with EigenLayer's BN254.sol (eigenlayer-middleware
// src/libraries/BN254.sol: hashToG1 / findYFromX, generatorG2, negGeneratorG2) and the
// EIP-197 pairing precompile's G2 ordering.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bn254 } from '@noble/curves/bn254.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { makeDomain, popMessage, toHex, uint256ToBytes } from '../../src/crypto/domain.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  BN254_P,
  BN254_R,
  Bn254PointError,
  bn254GenerateSecretKey,
  bn254ProofOfPossession,
  bn254PublicKeyG1,
  bn254PublicKeyG2,
  bn254Sign,
  bn254SignDigest,
  bn254Verify,
  bn254VerifyDigest,
  bn254VerifyEigenLayerRegistration,
  bn254VerifyProofOfPossession,
  decodeG1,
  decodeG2,
  encodeG1,
  hashToG1,
} from '../../src/crypto/operator-sig-bn254.ts';
import { OPERATOR_VECTORS as V, vectorBytes as h, vectorDomain as vDomain } from './operator-format-vectors.ts';

const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const otherDomain = makeDomain({ chainId: 1, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x00000000000000000000000000000000000000bb';
const rng = seededRng('operator-sig-bn254');
const sk = bn254GenerateSecretKey(rng);
const sk2 = bn254GenerateSecretKey(rng);
const pk = bn254PublicKeyG2(sk);
const pk2 = bn254PublicKeyG2(sk2);
const payload = utf8ToBytes('deal:session=7');

/** Independent square-and-multiply (not noble's field code). */
function modpow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const hex32 = (v: bigint): string => toHex(uint256ToBytes(v)).slice(2);

describe('bn254: hashToG1 (EigenLayer try-and-increment)', () => {
  it('issue vector: keccak256("hello") maps to x = 0x1c8aff95…a36deac9', () => {
    const digest = keccak_256(utf8ToBytes('hello'));
    const { x, y } = hashToG1(digest);
    assert.equal(x, 0x1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac9n);
    // Recomputed without noble: y = β^((p+1)/4) with the exponent BN254.sol hard-codes.
    const p = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
    assert.equal(BN254_P, p);
    const beta = (x * x * x + 3n) % p;
    assert.equal(y, modpow(beta, 0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52n, p));
    assert.equal((y * y) % p, beta);
    // The digest itself is not an x-coordinate: exactly one increment was needed.
    const x0 = BigInt(toHex(digest)) % p;
    assert.equal(x, x0 + 1n);
    const beta0 = (x0 * x0 * x0 + 3n) % p;
    const y0 = modpow(beta0, (p + 1n) / 4n, p);
    assert.notEqual((y0 * y0) % p, beta0);
  });

  it('reduces the digest mod p first (uint256(digest) % FP_MODULUS)', () => {
    // Digest 0xff…ff ≥ p: hashing starts from 2^256-1 mod p, as Solidity does.
    const { x } = hashToG1(new Uint8Array(32).fill(0xff));
    assert.ok(x >= ((1n << 256n) - 1n) % BN254_P);
    assert.ok(x < BN254_P);
  });

  it('refuses a digest that is not 32 bytes', () => {
    assert.throws(() => hashToG1(new Uint8Array(31)), RangeError);
  });
});

describe('bn254: key encodings match BN254.sol', () => {
  // BN254.sol: generatorG2() = G2Point([G2x1, G2x0], [G2y1, G2y0]) — imaginary part first.
  const G2x1 = 11559732032986387107991004021392285783925812861821192530917403151452391805634n;
  const G2x0 = 10857046999023057135944570762232829481370756359578518086990519993285655852781n;
  const G2y1 = 4082367875863433681332203403145435568316851327593401208105741076214120093531n;
  const G2y0 = 8495653923123431417604973247489272438418190587263600148770280649306958101930n;
  const nG2y1 = 17805874995975841540914202342111839520379459829704422454583296818431106115052n;
  const nG2y0 = 13392588948715843804641432497768002650278120570034223513918757245338268106653n;

  it('sk = 1 gives PK2 = generatorG2() as X.im ‖ X.re ‖ Y.im ‖ Y.re and PK1 = (1, 2)', () => {
    const one = uint256ToBytes(1n);
    assert.equal(toHex(bn254PublicKeyG2(one)), `0x${hex32(G2x1)}${hex32(G2x0)}${hex32(G2y1)}${hex32(G2y0)}`);
    assert.equal(toHex(bn254PublicKeyG1(one)), `0x${hex32(1n)}${hex32(2n)}`);
  });

  it('sk = r − 1 gives PK2 = negGeneratorG2()', () => {
    const pkNeg = bn254PublicKeyG2(uint256ToBytes(BN254_R - 1n));
    assert.equal(toHex(pkNeg), `0x${hex32(G2x1)}${hex32(G2x0)}${hex32(nG2y1)}${hex32(nG2y0)}`);
  });

  it('refuses secret keys 0 and ≥ r', () => {
    assert.throws(() => bn254PublicKeyG2(uint256ToBytes(0n)), RangeError);
    assert.throws(() => bn254PublicKeyG2(uint256ToBytes(BN254_R)), RangeError);
    assert.throws(() => bn254Sign(new Uint8Array(31), domain, payload), RangeError);
  });

  it('decoders refuse identity, coordinates ≥ p, off-curve and off-subgroup points', () => {
    assert.throws(() => decodeG1(new Uint8Array(64)), Bn254PointError);
    assert.throws(() => decodeG1(concatBytes(uint256ToBytes(1n), uint256ToBytes(3n))), /not on the curve/);
    assert.throws(() => decodeG1(concatBytes(uint256ToBytes(1n), uint256ToBytes(2n + BN254_P))), /not canonical/);
    assert.throws(() => decodeG2(new Uint8Array(128)), /identity/);
    const bad = Uint8Array.from(pk);
    bad[127] = (bad[127] as number) ^ 1;
    assert.throws(() => decodeG2(bad), Bn254PointError);
    // A point on the twist E'(Fp²): y² = x³ + 3/(9+i), but outside the order-r subgroup.
    const { Fp2 } = bn254.fields;
    const b2 = Fp2.div(Fp2.fromBigTuple([3n, 0n]), Fp2.fromBigTuple([9n, 1n]));
    let point;
    for (let k = 1n; point === undefined; k++) {
      const x = Fp2.fromBigTuple([k, 0n]);
      try {
        const y = Fp2.sqrt(Fp2.add(Fp2.mul(Fp2.sqr(x), x), b2));
        point = { x, y };
      } catch {
        // not a square; next x
      }
    }
    const raw = concatBytes(
      uint256ToBytes(point.x.c1),
      uint256ToBytes(point.x.c0),
      uint256ToBytes(point.y.c1),
      uint256ToBytes(point.y.c0),
    );
    assert.throws(() => decodeG2(raw), /subgroup/);
    // Round trip of a real key.
    assert.deepEqual(encodeG1(decodeG1(bn254PublicKeyG1(sk))), bn254PublicKeyG1(sk));
  });
});

describe('bn254: sign / verify', () => {
  const sig = bn254Sign(sk, domain, payload);

  it('a signature is 64 bytes, deterministic, and equals sk·H(keccak256(domain ‖ payload))', () => {
    assert.equal(sig.length, 64);
    assert.deepEqual(bn254Sign(sk, domain, payload), sig);
    const digest = keccak_256(concatBytes(domain, payload));
    assert.deepEqual(bn254SignDigest(sk, digest), sig);
    const { x, y } = hashToG1(digest);
    const expected = bn254.G1.Point.fromAffine({ x, y }).multiply(BigInt(toHex(sk)));
    assert.deepEqual(sig, encodeG1(expected));
  });

  it('verifies with the right key, domain and payload', () => {
    assert.equal(bn254Verify(pk, domain, payload, sig), true);
  });

  it('wrong payload, key or domain → false', () => {
    assert.equal(bn254Verify(pk, domain, utf8ToBytes('deal:session=8'), sig), false);
    assert.equal(bn254Verify(pk2, domain, payload, sig), false);
    assert.equal(bn254Verify(pk, otherDomain, payload, sig), false);
  });

  it('malformed but well-sized signatures → false, never a throw', () => {
    const flipped = Uint8Array.from(sig);
    flipped[63] = (flipped[63] as number) ^ 1; // off the curve
    assert.equal(bn254Verify(pk, domain, payload, flipped), false);
    assert.equal(bn254Verify(pk, domain, payload, new Uint8Array(64)), false); // identity
    // X + p: same value mod p, but a non-canonical encoding (the precompile refuses it too).
    const x = BigInt(toHex(sig.subarray(0, 32)));
    const nonCanonical = concatBytes(uint256ToBytes(x + BN254_P), sig.subarray(32));
    assert.equal(bn254Verify(pk, domain, payload, nonCanonical), false);
    // A valid point that is the wrong signature: −σ.
    const neg = encodeG1(decodeG1(sig).negate());
    assert.equal(bn254Verify(pk, domain, payload, neg), false);
    // A public key that is not a point.
    const badPk = Uint8Array.from(pk);
    badPk[5] = (badPk[5] as number) ^ 1;
    assert.equal(bn254VerifyDigest(badPk, keccak_256(concatBytes(domain, payload)), sig), false);
  });

  it('wrong lengths and extra arguments throw (misuse, not a verdict)', () => {
    assert.throws(() => bn254Verify(pk, domain, payload, sig.subarray(1)), RangeError);
    assert.throws(() => bn254Verify(pk.subarray(1), domain, payload, sig), RangeError);
    const verify = bn254Verify as (...args: unknown[]) => boolean;
    assert.throws(() => verify(pk, domain, payload, sig, 'extra'), /expected 4 arguments/);
  });
});

describe('bn254: proof of possession', () => {
  const popA = bn254ProofOfPossession(sk, domain, A);

  it('a PoP for address A verifies for A, and both ways EigenLayer-style with PK1', () => {
    assert.equal(bn254VerifyProofOfPossession(pk, domain, A, popA), true);
    assert.equal(bn254VerifyEigenLayerRegistration(bn254PublicKeyG1(sk), pk, domain, A, popA), true);
  });

  it('story: a key/PoP pair copied from chain cannot be registered under address B', () => {
    assert.equal(bn254VerifyProofOfPossession(pk, domain, B, popA), false);
    assert.equal(bn254VerifyEigenLayerRegistration(bn254PublicKeyG1(sk), pk, domain, B, popA), false);
  });

  it('a PoP from another domain does not verify', () => {
    assert.equal(bn254VerifyProofOfPossession(pk, otherDomain, A, popA), false);
  });

  it('EigenLayer check refuses a G1 key of another secret (PK1/PK2 mismatch)', () => {
    assert.equal(bn254VerifyEigenLayerRegistration(bn254PublicKeyG1(sk2), pk, domain, A, popA), false);
  });

  it('story: a payload signature cannot double as a PoP, and a PoP is no payload signature', () => {
    const popShaped = popMessage(domain, A).subarray(65);
    assert.throws(() => bn254Sign(sk, domain, popShaped), /proof-of-possession/);
    assert.equal(bn254Verify(pk, domain, popShaped, popA), false);
  });
});


describe('bn254: frozen vector (test/vectors/operator-formats.json)', () => {
  it('signature bytes match, verify, and a mutated payload fails', () => {
    const sig = bn254Sign(h(V.bn254.secretKey), vDomain, utf8ToBytes(V.bn254.payloadUtf8));
    assert.equal(toHex(sig), V.bn254.signature);
    const pkv = bn254PublicKeyG2(h(V.bn254.secretKey));
    assert.equal(bn254Verify(pkv, vDomain, utf8ToBytes(V.bn254.payloadUtf8), h(V.bn254.signature)), true);
    assert.equal(bn254Verify(pkv, vDomain, utf8ToBytes('hellp'), h(V.bn254.signature)), false);
  });
});
