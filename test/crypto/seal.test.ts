// Sealing deal shares (SPEC 2 "Sealing deals"): ECDH(secp256k1) → HKDF-SHA256 with the
// (domain, session, dealer, recipient) context → AES-256-GCM, 48-byte sealed shares.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  SEALED_SHARE_BYTES,
  SealError,
  ecdhXNode,
  encodeSealContext,
  generateSealKeyPair,
  isValidSealPublicKey,
  open,
  openWithRevealedKey,
  seal,
  sealDeal,
  sealPublicKey,
  type SealContext,
} from '../../src/crypto/seal.ts';
import { OPERATOR_VECTORS as V, vectorBytes as h, vectorDomain as vDomain } from './operator-format-vectors.ts';

const domain = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const DEALER = '0x00000000000000000000000000000000000000d1';
const R1 = '0x00000000000000000000000000000000000000a1';
const R2 = '0x00000000000000000000000000000000000000a2';
const rng = seededRng('seal');
const ctx1: SealContext = { domain, session: 7n, dealer: DEALER, recipient: R1 };
const ctx2: SealContext = { domain, session: 7n, dealer: DEALER, recipient: R2 };
const k1 = generateSealKeyPair(rng);
const k2 = generateSealKeyPair(rng);
const share1 = rng(32);
const share2 = rng(32);

/** Independent implementation with noble (ECDH, HKDF, GCM) to cross-check node:crypto. */
function nobleSeal(e: Uint8Array, X: Uint8Array, ctx: SealContext, share: Uint8Array): Uint8Array {
  const K = secp256k1.getSharedSecret(e, X, true);
  const info = concatBytes(utf8ToBytes('eigenx-kms/seal/v1'), encodeSealContext(ctx));
  const key = hkdf(sha256, K.subarray(1), new Uint8Array(0), info, 32);
  return gcm(key, new Uint8Array(12)).encrypt(share);
}

function expectSealError(f: () => unknown, code: SealError['code']): void {
  assert.throws(f, (e: unknown) => e instanceof SealError && e.code === code);
}

describe('seal: format', () => {
  it('session keys are 33-byte compressed points matching noble', () => {
    assert.equal(k1.publicKey.length, 33);
    assert.deepEqual(k1.publicKey, secp256k1.getPublicKey(k1.secretKey, true));
    assert.deepEqual(sealPublicKey(k1.secretKey), k1.publicKey);
  });

  it('context is domain ‖ uint256(session) ‖ dealer ‖ recipient (137 bytes)', () => {
    const c = encodeSealContext(ctx1);
    assert.equal(c.length, 137);
    assert.equal(toHex(c.subarray(65, 97)), `0x${'00'.repeat(31)}07`);
    assert.equal(toHex(c.subarray(97, 117)), DEALER);
    assert.equal(toHex(c.subarray(117)), R1);
  });

  it('a sealed share is 48 bytes and byte-identical to an independent noble implementation', () => {
    const e = generateSealKeyPair(rng);
    const sealed = seal(e.secretKey, k1.publicKey, ctx1, share1);
    assert.equal(sealed.length, SEALED_SHARE_BYTES);
    assert.equal(SEALED_SHARE_BYTES, 48);
    assert.deepEqual(sealed, nobleSeal(e.secretKey, k1.publicKey, ctx1, share1));
    // Deterministic: same key material and context, same bytes (one key, one message).
    assert.deepEqual(seal(e.secretKey, k1.publicKey, ctx1, share1), sealed);
  });
});

describe('seal: open', () => {
  const { ephemeralPublicKey: E, sealed } = sealDeal(
    [
      { publicKey: k1.publicKey, ctx: ctx1, share: share1 },
      { publicKey: k2.publicKey, ctx: ctx2, share: share2 },
    ],
    rng,
  );
  const [s1, s2] = sealed as [Uint8Array, Uint8Array];

  it('each recipient opens its own share', () => {
    assert.deepEqual(open(k1.secretKey, E, ctx1, s1), share1);
    assert.deepEqual(open(k2.secretKey, E, ctx2, s2), share2);
  });

  it("a recipient cannot open another recipient's share (with either context)", () => {
    expectSealError(() => open(k1.secretKey, E, ctx2, s2), 'auth-failed');
    expectSealError(() => open(k1.secretKey, E, ctx1, s2), 'auth-failed');
  });

  it('any other context fails: domain, session, dealer, recipient', () => {
    const others: SealContext[] = [
      { ...ctx1, domain: makeDomain({ chainId: 1, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }) },
      { ...ctx1, session: 8n },
      { ...ctx1, dealer: R2 },
      { ...ctx1, recipient: R2 },
    ];
    for (const c of others) expectSealError(() => open(k1.secretKey, E, c, s1), 'auth-failed');
  });

  it('every single-bit flip of the sealed share is detected', () => {
    for (let i = 0; i < s1.length; i++) {
      const t = Uint8Array.from(s1);
      t[i] = (t[i] as number) ^ (1 << (i % 8));
      expectSealError(() => open(k1.secretKey, E, ctx1, t), 'auth-failed');
    }
  });

  it('truncated or extended sealed shares → SealError bad-length', () => {
    expectSealError(() => open(k1.secretKey, E, ctx1, s1.subarray(1)), 'bad-length');
    expectSealError(() => open(k1.secretKey, E, ctx1, concatBytes(s1, new Uint8Array(1))), 'bad-length');
  });

  it('a bad ephemeral key → SealError bad-public-key / bad-length', () => {
    let x = 1n;
    const notOnCurve = (): Uint8Array => {
      for (;;) {
        const p = concatBytes(Uint8Array.of(2), secp256k1.Point.Fp.toBytes(x++));
        if (!secp256k1.utils.isValidPublicKey(p)) return p;
      }
    };
    expectSealError(() => open(k1.secretKey, notOnCurve(), ctx1, s1), 'bad-public-key');
    expectSealError(() => open(k1.secretKey, concatBytes(Uint8Array.of(4), E.subarray(1)), ctx1, s1), 'bad-public-key');
    expectSealError(() => open(k1.secretKey, E.subarray(1), ctx1, s1), 'bad-length');
    // Another valid point is simply the wrong key.
    expectSealError(() => open(k1.secretKey, k2.publicKey, ctx1, s1), 'auth-failed');
  });

  it('sealDeal refuses contexts that disagree on domain, session or dealer', () => {
    const share = new Uint8Array(32);
    const bads: SealContext[] = [{ ...ctx2, session: 8n }, { ...ctx2, dealer: R1 }];
    for (const bad of bads) {
      assert.throws(
        () => sealDeal([{ publicKey: k1.publicKey, ctx: ctx1, share }, { publicKey: k2.publicKey, ctx: bad, share }], rng),
        /recipients\[1\]\.ctx/,
      );
    }
  });

  it('caller misuse throws TypeError/RangeError, not SealError', () => {
    assert.throws(() => seal(k1.secretKey, k1.publicKey, ctx1, new Uint8Array(31)), RangeError);
    assert.throws(() => open(new Uint8Array(32), E, ctx1, s1), RangeError); // secret key 0
    assert.throws(() => open(k1.secretKey, E, { ...ctx1, session: -1n }, s1), RangeError);
    assert.throws(() => open(k1.secretKey, E, null as unknown as SealContext, s1), TypeError);
  });

  it('errors carry no key or share material', () => {
    const secrets = [k1.secretKey, share1].map((b) => toHex(b).slice(2));
    for (const f of [
      () => open(k1.secretKey, E, ctx2, s1),
      () => open(k1.secretKey, E, ctx1, s1.subarray(2)),
      () => seal(k1.secretKey, k1.publicKey, ctx1, share1.subarray(1)),
    ]) {
      try {
        f();
        assert.fail('expected a throw');
      } catch (e) {
        const text = `${(e as Error).message} ${String((e as Error).cause ?? '')}`;
        for (const s of secrets) assert.ok(!text.includes(s));
      }
    }
  });
});

describe('seal: revealed key', () => {
  const { ephemeralPublicKey: E, sealed } = sealDeal([{ publicKey: k1.publicKey, ctx: ctx1, share: share1 }], rng);
  const s1 = sealed[0] as Uint8Array;
  // K = x_1·E, computed with noble (an implementation independent of node's ECDH).
  const K = secp256k1.getSharedSecret(k1.secretKey, E, true);

  it('anyone with K opens exactly that share', () => {
    assert.deepEqual(openWithRevealedKey(K, ctx1, s1), share1);
  });

  it('K with another context, or the ECDH point of another recipient, fails', () => {
    expectSealError(() => openWithRevealedKey(K, ctx2, s1), 'auth-failed');
    const K2 = secp256k1.getSharedSecret(k2.secretKey, E, true);
    expectSealError(() => openWithRevealedKey(K2, ctx1, s1), 'auth-failed');
  });

  it('a K that is not a point → SealError', () => {
    const bad = Uint8Array.from(K);
    bad[0] = 5;
    expectSealError(() => openWithRevealedKey(bad, ctx1, s1), 'bad-public-key');
    expectSealError(() => openWithRevealedKey(K.subarray(1), ctx1, s1), 'bad-length');
  });
});

describe('seal: recipients whose published key is not a point (issue 12, finding 2)', () => {
  const Fp = secp256k1.Point.Fp;
  const G = secp256k1.Point.BASE;
  const withX = (prefix: number, x: bigint) => concatBytes(Uint8Array.of(prefix), Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex')));
  const x0 = (() => {
    let x = 1n;
    while (!secp256k1.utils.isValidPublicKey(withX(2, x), true)) x++;
    return x;
  })();
  const invalid: Record<string, Uint8Array[]> = {
    'off-curve x': [withX(2, 5n), withX(3, 5n)],
    'x ≥ p': [withX(2, Fp.ORDER), withX(2, Fp.ORDER + x0), withX(3, (1n << 256n) - 1n)],
    'x = 0': [withX(2, 0n), withX(3, 0n)],
    'wrong prefix': [0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff].map((b) => concatBytes(Uint8Array.of(b), G.toBytes(true).subarray(1))),
    'wrong length': [new Uint8Array(0), G.toBytes(true).subarray(1), concatBytes(G.toBytes(true), Uint8Array.of(0)), G.toBytes(false), G.toBytes(true).subarray(0, 32)],
    identity: [Uint8Array.of(0), new Uint8Array(33)],
  };

  it('isValidSealPublicKey accepts compressed points and refuses every class of invalid encoding, never throwing', () => {
    for (let i = 0; i < 16; i++) assert.equal(isValidSealPublicKey(generateSealKeyPair(rng).publicKey), true);
    assert.equal(isValidSealPublicKey(G.toBytes(true)), true);
    assert.equal(isValidSealPublicKey(withX(2, x0)), true, 'a small x on the curve is a point');
    for (const [cls, list] of Object.entries(invalid)) for (const b of list) assert.equal(isValidSealPublicKey(b), false, `${cls}: ${toHex(b)}`);
    for (const junk of [undefined, null, 'x', 42, {}, [2, 3], Buffer.alloc(33)]) assert.equal(isValidSealPublicKey(junk), false);
  });

  it('isValidSealPublicKey agrees with both ECDH backends: a key it accepts seals, a key it refuses is refused', () => {
    // The dealer's "unusable" and the complaint verifier's "not a point" are one decision; the
    // ECDH that seals must not accept anything it refuses (or the reverse).
    const e = generateSealKeyPair(rng);
    const xs = [...Array.from({ length: 48 }, () => BigInt(toHex(rng(32)))), ...Array.from({ length: 8 }, (_, i) => Fp.ORDER + BigInt(i))];
    let accepted = 0;
    for (const x of xs) {
      const X = withX(x % 2n === 0n ? 2 : 3, x);
      const ok = isValidSealPublicKey(X);
      accepted += ok ? 1 : 0;
      const viaNode = (() => { try { ecdhXNode(e.secretKey, X); return true; } catch { return false; } })();
      const viaSeal = (() => { try { seal(e.secretKey, X, ctx1, share1); return true; } catch { return false; } })();
      assert.equal(viaNode, ok, `node:crypto vs decoder on x = ${x}`);
      assert.equal(viaSeal, ok, `seal (libsecp256k1) vs decoder on x = ${x}`);
    }
    assert.ok(accepted > 8 && accepted < xs.length - 8, `both verdicts occur (${accepted} of ${xs.length} accepted)`);
  });

  it('sealDeal gives a recipient with no usable key 48 random bytes that do not depend on its share, and seals to the others as usual', () => {
    const R3 = '0x00000000000000000000000000000000000000a3';
    const ctx3: SealContext = { ...ctx1, recipient: R3 };
    const dealWith = (skippedShare: Uint8Array) => sealDeal(
      [
        { publicKey: k1.publicKey, ctx: ctx1, share: share1 },
        { publicKey: null, ctx: ctx3, share: skippedShare },
        { publicKey: k2.publicKey, ctx: ctx2, share: share2 },
      ],
      seededRng('deal around'),
    );
    const a = dealWith(new Uint8Array(32).fill(1));
    const b = dealWith(new Uint8Array(32).fill(2));
    assert.equal(a.sealed[1]?.length, SEALED_SHARE_BYTES);
    assert.deepEqual(a.sealed[1], b.sealed[1], 'the slot is a function of the rng alone, not of the share');
    assert.deepEqual(open(k1.secretKey, a.ephemeralPublicKey, ctx1, a.sealed[0] as Uint8Array), share1);
    assert.deepEqual(open(k2.secretKey, a.ephemeralPublicKey, ctx2, a.sealed[2] as Uint8Array), share2);
    for (const k of [k1, k2]) expectSealError(() => open(k.secretKey, a.ephemeralPublicKey, ctx3, a.sealed[1] as Uint8Array), 'auth-failed');
    // With every key usable the rng stream is as before: E and the slots do not move.
    const all = sealDeal([{ publicKey: k1.publicKey, ctx: ctx1, share: share1 }, { publicKey: k2.publicKey, ctx: ctx2, share: share2 }], seededRng('deal around'));
    assert.deepEqual(all.ephemeralPublicKey, a.ephemeralPublicKey);
  });

  it('sealDeal still refuses an invalid key passed as usable: the caller decides, with the decoder', () => {
    for (const list of Object.values(invalid)) {
      for (const X of list) assert.throws(() => sealDeal([{ publicKey: X, ctx: ctx1, share: share1 }], rng), (e: unknown) => e instanceof SealError || e instanceof RangeError);
    }
  });
});


describe('seal: frozen vector (test/vectors/operator-formats.json)', () => {
  const v = V.seal;
  const c: SealContext = { domain: vDomain, session: BigInt(v.session), dealer: v.dealer, recipient: v.recipient };

  it('keys, sealed bytes and opening match; another session fails', () => {
    assert.equal(toHex(sealPublicKey(h(v.ephemeralSecretKey))), v.ephemeralPublicKey);
    assert.equal(toHex(sealPublicKey(h(v.recipientSecretKey))), v.recipientPublicKey);
    assert.equal(toHex(seal(h(v.ephemeralSecretKey), h(v.recipientPublicKey), c, h(v.share))), v.sealed);
    assert.equal(toHex(open(h(v.recipientSecretKey), h(v.ephemeralPublicKey), c, h(v.sealed))), v.share);
    expectSealError(() => open(h(v.recipientSecretKey), h(v.ephemeralPublicKey), { ...c, session: 2n }, h(v.sealed)), 'auth-failed');
  });
});
