// The client's batched check of operator signatures (SPEC 2: every partial is signed by its
// operator): one verdict per answer, exactly as `verifyOperatorSignature` decides one by one,
// with BN254 signatures checked together in one multi-pairing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bn254 } from '@noble/curves/bn254.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { makeDomain, popMessage } from '../../src/crypto/domain.ts';
import { decodeG1, encodeG1 } from '../../src/crypto/operator-sig-bn254.ts';
import {
  createOperatorSigner,
  generateOperatorSecretKey,
  verifyOperatorSignature,
  type OperatorKeyType,
} from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { verifyBn254Batch, verifyOperatorSignatures, type OperatorSignatureToVerify } from '../../src/client/operator-signatures.ts';

const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const otherDomain = makeDomain({ chainId: 1, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const rng = seededRng('client/operator-signatures');
const TYPES: OperatorKeyType[] = ['bn254', 'bn254', 'ecdsa', 'bn254', 'ecdsa', 'bn254'];
const signers = TYPES.map((type) => createOperatorSigner(type, generateOperatorSecretKey(type, rng), domain));
const payloads = TYPES.map((_, i) => utf8ToBytes(`partial ${i}: appId ‖ version ‖ σ ‖ requestHash`));
const honest: OperatorSignatureToVerify[] = signers.map((s, i) => ({
  type: s.type,
  publicKey: s.publicKey,
  payload: payloads[i] as Uint8Array,
  signature: s.sign(payloads[i] as Uint8Array),
}));
const oneByOne = (items: readonly OperatorSignatureToVerify[]): boolean[] =>
  items.map((it) => {
    try {
      return verifyOperatorSignature(it.type, it.publicKey, domain, it.payload, it.signature);
    } catch {
      return false;
    }
  });
const bnAt = TYPES.flatMap((t, i) => (t === 'bn254' ? [i] : []));

describe('client operator signatures: batched check', () => {
  it('every honest signature verifies (BN254 batched, ECDSA one by one)', () => {
    assert.deepEqual(verifyOperatorSignatures(honest, domain, rng), honest.map(() => true));
    assert.deepEqual(verifyOperatorSignatures([], domain, rng), []);
    assert.deepEqual(verifyOperatorSignatures(honest.slice(0, 1), domain, rng), [true]);
  });

  it('the honest BN254 signatures pass the one multi-pairing itself (no one-by-one fallback)', () => {
    const bn = bnAt.map((i) => honest[i] as OperatorSignatureToVerify);
    assert.equal(verifyBn254Batch(bn, domain, rng), true);
    assert.equal(verifyBn254Batch([], domain, rng), true);
    assert.equal(verifyBn254Batch(bn, otherDomain, rng), false);
    const tampered = [...bn];
    tampered[2] = { ...(bn[2] as OperatorSignatureToVerify), payload: utf8ToBytes('x') };
    assert.equal(verifyBn254Batch(tampered, domain, rng), false);
    assert.equal(verifyBn254Batch([...bn, honest[2] as OperatorSignatureToVerify], domain, rng), false, 'an ECDSA item is not batched');
  });

  it('under another domain every signature is refused', () => {
    assert.deepEqual(verifyOperatorSignatures(honest, otherDomain, rng), honest.map(() => false));
  });

  const faults: [string, (i: number) => OperatorSignatureToVerify][] = [
    ['signature over another payload', (i) => ({ ...(honest[i] as OperatorSignatureToVerify), payload: utf8ToBytes('another payload') })],
    ["another operator's signature", (i) => ({ ...(honest[i] as OperatorSignatureToVerify), signature: (honest[bnAt[(bnAt.indexOf(i) + 1) % bnAt.length] as number] as OperatorSignatureToVerify).signature })],
    ["another operator's key", (i) => ({ ...(honest[i] as OperatorSignatureToVerify), publicKey: (honest[bnAt[(bnAt.indexOf(i) + 1) % bnAt.length] as number] as OperatorSignatureToVerify).publicKey })],
    ['a signature that is not a curve point', (i) => {
      const sig = Uint8Array.from((honest[i] as OperatorSignatureToVerify).signature);
      sig[63] = (sig[63] as number) ^ 1;
      return { ...(honest[i] as OperatorSignatureToVerify), signature: sig };
    }],
    ['an all-zero (identity) signature', (i) => ({ ...(honest[i] as OperatorSignatureToVerify), signature: new Uint8Array(64) })],
    ['a key of the wrong length', (i) => ({ ...(honest[i] as OperatorSignatureToVerify), publicKey: new Uint8Array(127) })],
    ['a key that is not a point of the twist', (i) => ({ ...(honest[i] as OperatorSignatureToVerify), publicKey: new Uint8Array(128).fill(1) })],
    ['a signature of the wrong length', (i) => ({ ...(honest[i] as OperatorSignatureToVerify), signature: new Uint8Array(65) })],
  ];
  for (const [name, bad] of faults) {
    it(`names exactly the bad BN254 answer, at every position: ${name}`, () => {
      for (const i of bnAt) {
        const items = [...honest];
        items[i] = bad(i);
        const got = verifyOperatorSignatures(items, domain, rng);
        assert.deepEqual(got, honest.map((_, j) => j !== i), `bad at ${i}`);
        assert.deepEqual(got, oneByOne(items));
      }
    });
  }

  it('names a bad ECDSA answer among batched BN254 ones', () => {
    const items = [...honest];
    items[2] = { ...(items[2] as OperatorSignatureToVerify), payload: utf8ToBytes('x') };
    assert.deepEqual(verifyOperatorSignatures(items, domain, rng), honest.map((_, j) => j !== 2));
  });

  it('names every bad one when most are bad, and agrees with one-by-one checks', () => {
    const items = honest.map((it, i) => (i === 1 ? it : { ...it, payload: utf8ToBytes(`tampered ${i}`) }));
    assert.deepEqual(verifyOperatorSignatures(items, domain, rng), honest.map((_, j) => j === 1));
  });

  it('cannot be fooled by two signatures that cancel in the plain sum', () => {
    // Story: operators 0 and 1 shift their signatures by +X and −X. Σ σ_i is unchanged, so the
    // unweighted check e(Σ σ_i, G2) == Π e(H_i, PK_i) would pass; random weights name both.
    const X = bn254.G1.Point.BASE.multiply(7n);
    const shift = (i: number, by: typeof X): OperatorSignatureToVerify => ({
      ...(honest[i] as OperatorSignatureToVerify),
      signature: encodeG1(decodeG1((honest[i] as OperatorSignatureToVerify).signature).add(by)),
    });
    const items = [...honest];
    items[0] = shift(0, X);
    items[1] = shift(1, X.negate());
    assert.equal(verifyBn254Batch(items.filter((_, j) => bnAt.includes(j)), domain, rng), false);
    assert.deepEqual(verifyOperatorSignatures(items, domain, rng), honest.map((_, j) => j > 1));
  });

  it('a proof of possession is never accepted as an answer signature (PoP-shaped payload)', () => {
    const operator = '0x00000000000000000000000000000000000000aa';
    const pop = (signers[0] as (typeof signers)[number]).proofOfPossession(operator);
    // The payload a PoP signs, after the domain: "pop" ‖ operator (see domain.ts).
    const popPayload = popMessage(domain, operator).subarray(domain.length);
    const items = [...honest];
    items[0] = { ...(honest[0] as OperatorSignatureToVerify), payload: popPayload, signature: pop };
    assert.deepEqual(verifyOperatorSignatures(items, domain, rng), honest.map((_, j) => j !== 0));
  });

  it('refuses misuse loudly', () => {
    assert.throws(() => verifyOperatorSignatures(honest, domain, 'rng' as unknown as never), /rng: expected function/);
    assert.throws(() => verifyOperatorSignatures('x' as unknown as never, domain, rng), /items: expected an array/);
  });
});
