// Chaum–Pedersen DLEQ proofs on secp256k1 and verifiable complaints (SPEC 2 "Verifiable
// complaint"): a recipient reveals K = x_j·E for one deal and proves log_G(X_j) = log_E(K).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { makeDomain, uint256ToBytes } from '../../src/crypto/domain.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  DLEQ_PROOF_BYTES,
  proveDleq,
  revealForComplaint,
  verifyComplaintReveal,
  verifyDleq,
} from '../../src/crypto/chaum-pedersen.ts';
import {
  SealError,
  encodeSealContext,
  generateSealKeyPair,
  open,
  openWithRevealedKey,
  seal,
  type SealContext,
} from '../../src/crypto/seal.ts';
import { OPERATOR_VECTORS as V, vectorBytes as h } from './operator-format-vectors.ts';

const P = secp256k1.Point;
const N = P.Fn.ORDER;
const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const rng = seededRng('chaum-pedersen');
const recipient = generateSealKeyPair(rng); // x_j, X_j
const other = generateSealKeyPair(rng);
const deal = generateSealKeyPair(rng); // e, E
const sealCtx: SealContext = {
  domain,
  session: 12n,
  dealer: '0x00000000000000000000000000000000000000d1',
  recipient: '0x00000000000000000000000000000000000000a1',
};
const ctx = encodeSealContext(sealCtx);
const X = recipient.publicKey;
const E = deal.publicKey;
const { revealedKey: K, proof } = revealForComplaint(recipient.secretKey, E, ctx, rng);

const add = (a: Uint8Array, b: Uint8Array): Uint8Array => P.fromBytes(a).add(P.fromBytes(b)).toBytes(true);

describe('chaum-pedersen: honest proofs', () => {
  it('K is the ECDH point x_j·E (= e·X_j) and the proof is 64 bytes', () => {
    assert.deepEqual(K, secp256k1.getSharedSecret(recipient.secretKey, E, true));
    assert.deepEqual(K, secp256k1.getSharedSecret(deal.secretKey, X, true));
    assert.equal(proof.length, DLEQ_PROOF_BYTES);
  });

  it('verifies', () => {
    assert.equal(verifyComplaintReveal(X, E, K, proof, ctx), true);
    assert.equal(verifyDleq(X, E, K, proof, ctx), true);
  });

  it('proveDleq returns the statement points it proves', () => {
    const r = proveDleq(recipient.secretKey, E, utf8ToBytes('any context'), rng);
    assert.deepEqual(r.publicKey, X);
    assert.deepEqual(r.result, K);
    assert.equal(verifyDleq(X, E, K, r.proof, utf8ToBytes('any context')), true);
  });

  it('many random statements verify (seeded trials)', () => {
    const r = seededRng('dleq-trials');
    for (let i = 0; i < 20; i++) {
      const x = generateSealKeyPair(r);
      const h = generateSealKeyPair(r).publicKey;
      const c = r(i);
      const p = proveDleq(x.secretKey, h, c, r);
      assert.equal(verifyDleq(x.publicKey, h, p.result, p.proof, c), true);
    }
  });
});

describe('chaum-pedersen: forgeries fail', () => {
  it('wrong K (K + G, or another recipient’s ECDH point) → false', () => {
    assert.equal(verifyComplaintReveal(X, E, add(K, P.BASE.toBytes(true)), proof, ctx), false);
    const K2 = secp256k1.getSharedSecret(other.secretKey, E, true);
    assert.equal(verifyComplaintReveal(X, E, K2, proof, ctx), false);
  });

  it('−K (same x-coordinate, so it would open the same share) → false', () => {
    const negK = P.fromBytes(K).negate().toBytes(true);
    assert.equal(verifyComplaintReveal(X, E, negK, proof, ctx), false);
  });

  it('wrong X, wrong E, wrong context → false', () => {
    assert.equal(verifyComplaintReveal(other.publicKey, E, K, proof, ctx), false);
    assert.equal(verifyComplaintReveal(X, other.publicKey, K, proof, ctx), false);
    const ctx2 = encodeSealContext({ ...sealCtx, session: 13n });
    assert.equal(verifyComplaintReveal(X, E, K, proof, ctx2), false);
    assert.equal(verifyComplaintReveal(X, E, K, proof, ctx.subarray(1)), false);
  });

  it('story: a proof by another key holder, honest for its own K, does not transfer to X_j', () => {
    const { revealedKey: K2, proof: p2 } = revealForComplaint(other.secretKey, E, ctx, rng);
    assert.equal(verifyComplaintReveal(other.publicKey, E, K2, p2, ctx), true);
    assert.equal(verifyComplaintReveal(X, E, K2, p2, ctx), false);
    assert.equal(verifyComplaintReveal(X, E, K, p2, ctx), false);
  });

  it('story: the dealer knows e and can compute K, but cannot prove it for X_j without x_j', () => {
    // A "proof" made with e against base X_j proves log_G(E) = log_{X_j}(K): a different statement.
    const fake = proveDleq(deal.secretKey, X, ctx, rng);
    assert.deepEqual(fake.result, K);
    assert.equal(verifyComplaintReveal(X, E, K, fake.proof, ctx), false);
  });

  it('every single-bit flip of the proof → false; c or z ≥ n → false', () => {
    for (let i = 0; i < proof.length; i += 3) {
      const t = Uint8Array.from(proof);
      t[i] = (t[i] as number) ^ (1 << (i % 8));
      assert.equal(verifyComplaintReveal(X, E, K, t, ctx), false);
    }
    // Non-canonical scalars: c = n and z = n are refused without any curve work.
    assert.equal(verifyComplaintReveal(X, E, K, concatBytes(uint256ToBytes(N), proof.subarray(32)), ctx), false);
    assert.equal(verifyComplaintReveal(X, E, K, concatBytes(proof.subarray(0, 32), uint256ToBytes(N)), ctx), false);
    assert.equal(verifyComplaintReveal(X, E, K, new Uint8Array(64), ctx), false);
  });

  it('points that are not points → false, never a throw', () => {
    const notPoint = Uint8Array.from(K);
    notPoint[0] = 0x07;
    assert.equal(verifyComplaintReveal(X, E, notPoint, proof, ctx), false);
    assert.equal(verifyComplaintReveal(notPoint, E, K, proof, ctx), false);
    assert.equal(verifyComplaintReveal(X, new Uint8Array(33), K, proof, ctx), false);
  });

  it('wrong lengths and extra arguments throw', () => {
    assert.throws(() => verifyComplaintReveal(X, E, K.subarray(1), proof, ctx), RangeError);
    assert.throws(() => verifyComplaintReveal(X, E, K, proof.subarray(1), ctx), RangeError);
    const v = verifyComplaintReveal as (...a: unknown[]) => boolean;
    assert.throws(() => v(X, E, K, proof, ctx, 1), /expected 5 arguments/);
    assert.throws(() => revealForComplaint(new Uint8Array(32), E, ctx, rng), RangeError);
  });
});

describe('chaum-pedersen: complaint end to end', () => {
  it('a bad deal: the recipient reveals, anyone checks the proof and opens exactly that share', () => {
    const badShare = new Uint8Array(32).fill(0xee); // would fail the Feldman check upstream
    const sealed = seal(deal.secretKey, X, sealCtx, badShare);
    assert.deepEqual(open(recipient.secretKey, E, sealCtx, sealed), badShare);
    const reveal = revealForComplaint(recipient.secretKey, E, encodeSealContext(sealCtx), rng);
    // A third party: checks the reveal, then opens the share the dealer sealed.
    assert.equal(verifyComplaintReveal(X, E, reveal.revealedKey, reveal.proof, encodeSealContext(sealCtx)), true);
    assert.deepEqual(openWithRevealedKey(reveal.revealedKey, sealCtx, sealed), badShare);
  });

  it('a sealed share that does not open under the proven K convicts the dealer (SealError)', () => {
    const garbage = rng(48);
    const reveal = revealForComplaint(recipient.secretKey, E, ctx, rng);
    assert.equal(verifyComplaintReveal(X, E, reveal.revealedKey, reveal.proof, ctx), true);
    assert.throws(() => openWithRevealedKey(reveal.revealedKey, sealCtx, garbage), SealError);
  });
});


describe('chaum-pedersen: frozen vector (test/vectors/operator-formats.json)', () => {
  const v = V.dleq;
  it('the frozen proof verifies; with another context or K it does not', () => {
    assert.equal(verifyDleq(h(v.X), h(v.E), h(v.K), h(v.proof), h(v.ctx)), true);
    assert.equal(verifyDleq(h(v.X), h(v.E), h(v.K), h(v.proof), h('0x010204')), false);
    assert.equal(verifyDleq(h(v.X), h(v.E), h(v.X), h(v.proof), h(v.ctx)), false);
    // K is the ECDH point of the seal vector's keys.
    assert.deepEqual(h(v.K), secp256k1.getSharedSecret(h(V.seal.recipientSecretKey), h(v.E), true));
  });
});
