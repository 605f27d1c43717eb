// secp256k1 ECDSA operator signatures as Solidity ecrecover / OpenZeppelin ECDSA checks them:
// 65-byte r ‖ s ‖ v (v = 27/28), keccak256 digests, low-s only (EIP-2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { checksumAddress, makeDomain, popMessage, toHex, uint256ToBytes } from '../../src/crypto/domain.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  EcdsaSignatureError,
  SECP256K1_N,
  ecdsaAddress,
  ecdsaGenerateSecretKey,
  ecdsaProofOfPossession,
  ecdsaRecoverAddress,
  ecdsaSign,
  ecdsaSignDigest,
  ecdsaVerify,
  ecdsaVerifyDigest,
  ecdsaVerifyProofOfPossession,
  encodeEcdsaSignature,
  parseEcdsaSignature,
  publicKeyToAddress,
} from '../../src/crypto/operator-sig-ecdsa.ts';
import { OPERATOR_VECTORS as V, vectorBytes as h, vectorDomain as vDomain } from './operator-format-vectors.ts';

const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const otherDomain = makeDomain({ chainId: 31337, registry: '0x0000000000000000000000000000000000000001' });
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x00000000000000000000000000000000000000bb';
const rng = seededRng('operator-sig-ecdsa');
const sk = ecdsaGenerateSecretKey(rng);
const addr = ecdsaAddress(sk);
const addr2 = ecdsaAddress(ecdsaGenerateSecretKey(rng));
const payload = utf8ToBytes('ack:session=7');

/** The same signature with s ↦ n − s and the recovery bit flipped: ecrecover still accepts it. */
function highS(sig: Uint8Array): Uint8Array {
  const { r, s, v } = parseEcdsaSignature(sig);
  return encodeEcdsaSignature({ r, s: SECP256K1_N - s, v: v === 27 ? 28 : 27 });
}

describe('ecdsa: addresses', () => {
  it('private key 1 → 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf', () => {
    assert.equal(checksumAddress(ecdsaAddress(uint256ToBytes(1n))), '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  });

  it('private key 2 → 0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF', () => {
    assert.equal(checksumAddress(ecdsaAddress(uint256ToBytes(2n))), '0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF');
  });

  it('compressed and uncompressed public keys give the same address', () => {
    const a = publicKeyToAddress(secp256k1.getPublicKey(sk, true));
    const b = publicKeyToAddress(secp256k1.getPublicKey(sk, false));
    assert.deepEqual(a, b);
    assert.deepEqual(a, addr);
  });

  it('refuses secret keys 0 and ≥ n', () => {
    assert.throws(() => ecdsaAddress(uint256ToBytes(0n)), RangeError);
    assert.throws(() => ecdsaAddress(uint256ToBytes(SECP256K1_N)), RangeError);
  });
});

describe('ecdsa: sign / verify / recover', () => {
  const sig = ecdsaSign(sk, domain, payload);

  it('r ‖ s ‖ v with v ∈ {27, 28}, low s, deterministic', () => {
    assert.equal(sig.length, 65);
    assert.ok(sig[64] === 27 || sig[64] === 28);
    assert.deepEqual(ecdsaSign(sk, domain, payload), sig);
    for (let i = 0; i < 32; i++) {
      const s = ecdsaSign(sk, domain, utf8ToBytes(`p${i}`));
      assert.ok(parseEcdsaSignature(s).s <= SECP256K1_N >> 1n);
    }
  });

  it('recovers the signer address from keccak256(domain ‖ payload), as ecrecover does', () => {
    assert.deepEqual(ecdsaRecoverAddress(domain, payload, sig), addr);
    // Independent recovery with noble's own Signature class on the same digest.
    const { r, s, v } = parseEcdsaSignature(sig);
    const digest = keccak_256(concatBytes(domain, payload));
    const pub = new secp256k1.Signature(r, s, v - 27).recoverPublicKey(digest).toBytes(false);
    assert.equal(toHex(keccak_256(pub.subarray(1)).slice(12)), toHex(addr));
    assert.equal(ecdsaVerifyDigest(addr, digest, ecdsaSignDigest(sk, digest)), true);
  });

  it('verifies for the right address, domain and payload; hex addresses accepted', () => {
    assert.equal(ecdsaVerify(addr, domain, payload, sig), true);
    assert.equal(ecdsaVerify(toHex(addr), domain, payload, sig), true);
    assert.equal(ecdsaVerify(checksumAddress(addr), domain, payload, sig), true);
  });

  it('wrong payload, address or domain → false', () => {
    assert.equal(ecdsaVerify(addr, domain, utf8ToBytes('ack:session=8'), sig), false);
    assert.equal(ecdsaVerify(addr2, domain, payload, sig), false);
    assert.equal(ecdsaVerify(addr, otherDomain, payload, sig), false);
  });

  it('story: the high-s twin of a valid signature (accepted by bare ecrecover) is refused', () => {
    const twin = highS(sig);
    // It is a mathematically valid signature by the same key…
    const { r, s, v } = { r: BigInt(toHex(twin.subarray(0, 32))), s: BigInt(toHex(twin.subarray(32, 64))), v: twin[64] as number };
    const digest = keccak_256(concatBytes(domain, payload));
    const pub = new secp256k1.Signature(r, s, v - 27).recoverPublicKey(digest).toBytes(false);
    assert.deepEqual(publicKeyToAddress(pub), addr);
    // …but only the low-s form is canonical: verify says false, the decoder throws.
    assert.equal(ecdsaVerify(addr, domain, payload, twin), false);
    assert.throws(() => parseEcdsaSignature(twin), EcdsaSignatureError);
    assert.throws(() => ecdsaRecoverAddress(domain, payload, twin), /high s/);
  });

  it('v ∉ {27, 28}, r or s out of range, garbage → false', () => {
    const { r, s, v } = parseEcdsaSignature(sig);
    const cases = [
      encodeEcdsaSignature({ r, s, v: v - 27 }), // 0/1 style v
      encodeEcdsaSignature({ r, s, v: 29 }),
      encodeEcdsaSignature({ r: 0n, s, v }),
      encodeEcdsaSignature({ r, s: 0n, v }),
      encodeEcdsaSignature({ r: SECP256K1_N, s, v }),
      encodeEcdsaSignature({ r, s: SECP256K1_N + 1n, v }),
      new Uint8Array(65),
      new Uint8Array(65).fill(0xff),
    ];
    for (const c of cases) assert.equal(ecdsaVerify(addr, domain, payload, c), false);
    // An r that is no x-coordinate on the curve: recovery fails, verify says false.
    let rx = 5n;
    while (secp256k1.utils.isValidPublicKey(concatBytes(Uint8Array.of(2), uint256ToBytes(rx)))) rx++;
    assert.equal(ecdsaVerify(addr, domain, payload, encodeEcdsaSignature({ r: rx, s, v })), false);
  });

  it('wrong lengths and extra arguments throw', () => {
    assert.throws(() => ecdsaVerify(addr, domain, payload, sig.subarray(1)), RangeError);
    assert.throws(() => ecdsaVerify(addr.subarray(1), domain, payload, sig), RangeError);
    const verify = ecdsaVerify as (...args: unknown[]) => boolean;
    assert.throws(() => verify(addr, domain, payload, sig, 1), /expected 4 arguments/);
  });
});

describe('ecdsa: proof of possession', () => {
  const popA = ecdsaProofOfPossession(sk, domain, A);

  it('a PoP for A verifies for A and not for B', () => {
    assert.equal(ecdsaVerifyProofOfPossession(addr, domain, A, popA), true);
    assert.equal(ecdsaVerifyProofOfPossession(addr, domain, B, popA), false);
    assert.equal(ecdsaVerifyProofOfPossession(addr, otherDomain, A, popA), false);
    assert.equal(ecdsaVerifyProofOfPossession(addr2, domain, A, popA), false);
  });

  it('story: a payload signature cannot double as a PoP, and a PoP is no payload signature', () => {
    const popShaped = popMessage(domain, A).subarray(65);
    assert.throws(() => ecdsaSign(sk, domain, popShaped), /proof-of-possession/);
    assert.equal(ecdsaVerify(addr, domain, popShaped, popA), false);
  });
});


describe('ecdsa: frozen vector (test/vectors/operator-formats.json)', () => {
  it('signature bytes match, verify for 0x7E5F…, and a mutated payload fails', () => {
    const sig = ecdsaSign(h(V.ecdsa.secretKey), vDomain, utf8ToBytes(V.ecdsa.payloadUtf8));
    assert.equal(toHex(sig), V.ecdsa.signature);
    const a = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf';
    assert.equal(ecdsaVerify(a, vDomain, utf8ToBytes(V.ecdsa.payloadUtf8), h(V.ecdsa.signature)), true);
    assert.equal(ecdsaVerify(a, vDomain, utf8ToBytes('hellp'), h(V.ecdsa.signature)), false);
  });
});
