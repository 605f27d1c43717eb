// The common operator-signature interface over BN254 and ECDSA keys (SPEC 2 "Operator keys").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  OPERATOR_KEY_LENGTHS,
  OPERATOR_KEY_TYPES,
  createOperatorSigner,
  generateOperatorSecretKey,
  operatorPublicKey,
  verifyOperatorProofOfPossession,
  verifyOperatorSignature,
  type OperatorKeyType,
} from '../../src/crypto/operator-sig.ts';

const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const otherDomain = makeDomain({ chainId: 31338, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x00000000000000000000000000000000000000bb';
const payload = utf8ToBytes('confirm:session=3');

for (const type of OPERATOR_KEY_TYPES) {
  describe(`operator-sig: ${type}`, () => {
    const rng = seededRng(`operator-sig-${type}`);
    const sk = generateOperatorSecretKey(type, rng);
    const signer = createOperatorSigner(type, sk, domain);
    const other = createOperatorSigner(type, generateOperatorSecretKey(type, rng), domain);
    const sig = signer.sign(payload);
    const pop = signer.proofOfPossession(A);
    const lengths = OPERATOR_KEY_LENGTHS[type];

    it('publishes the documented lengths', () => {
      assert.equal(sk.length, lengths.secretKey);
      assert.equal(signer.publicKey.length, lengths.publicKey);
      assert.equal(sig.length, lengths.signature);
      assert.deepEqual(operatorPublicKey(type, sk), signer.publicKey);
      if (type === 'bn254') assert.equal(signer.publicKeyG1?.length, 64);
    });

    it('sign → verify; wrong payload, key, domain → false', () => {
      assert.equal(verifyOperatorSignature(type, signer.publicKey, domain, payload, sig), true);
      assert.equal(verifyOperatorSignature(type, signer.publicKey, domain, utf8ToBytes('x'), sig), false);
      assert.equal(verifyOperatorSignature(type, other.publicKey, domain, payload, sig), false);
      assert.equal(verifyOperatorSignature(type, signer.publicKey, otherDomain, payload, sig), false);
    });

    it('PoP for A verifies for A, not for B', () => {
      assert.equal(verifyOperatorProofOfPossession(type, signer.publicKey, domain, A, pop), true);
      assert.equal(verifyOperatorProofOfPossession(type, signer.publicKey, domain, B, pop), false);
    });

    it('the signer is frozen and does not expose its secret key', () => {
      assert.ok(Object.isFrozen(signer));
      assert.throws(() => {
        (signer as { publicKey: Uint8Array }).publicKey = new Uint8Array(0);
      }, TypeError);
      const skHex = toHex(sk).slice(2);
      const seen = JSON.stringify(signer, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v));
      assert.ok(!seen.includes(skHex));
      // Mutating the caller's copy of the key does not change the signer.
      const sk2 = Uint8Array.from(sk);
      const s2 = createOperatorSigner(type, sk2, domain);
      sk2.fill(1);
      assert.deepEqual(s2.sign(payload), sig);
    });
  });
}

describe('operator-sig: misuse', () => {
  it('a signature of one type is not accepted by the other (lengths differ: throws)', () => {
    const bn = createOperatorSigner('bn254', generateOperatorSecretKey('bn254', seededRng('m1')), domain);
    const ec = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', seededRng('m2')), domain);
    assert.throws(() => verifyOperatorSignature('ecdsa', ec.publicKey, domain, payload, bn.sign(payload)), RangeError);
    assert.throws(() => verifyOperatorSignature('bn254', ec.publicKey, domain, payload, ec.sign(payload)), RangeError);
  });

  it('an unknown key type throws TypeError naming the parameter', () => {
    assert.throws(() => generateOperatorSecretKey('ed25519' as OperatorKeyType), /type: expected 'bn254' or 'ecdsa', got 'ed25519'/);
    assert.throws(
      () => verifyOperatorSignature('rsa' as OperatorKeyType, new Uint8Array(20), domain, payload, new Uint8Array(65)),
      TypeError,
    );
  });

  it('a signer refuses a malformed domain', () => {
    assert.throws(() => createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', seededRng('m3')), new Uint8Array(65)), RangeError);
  });
});
