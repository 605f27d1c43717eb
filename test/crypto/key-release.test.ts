// The key-release wire format (src/crypto/key-release.ts, docs/formats.md "Key release"):
// request hash, operator-signed partial payload, sealed answer, EIP-712 typed data, eat_nonce.
// Round trips, then every field mutated: a changed request changes its hash, a tampered or
// misdirected sealed answer never opens, a typed-data signature recovers only for exactly the
// data it signed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { privateKeyToAccount } from 'viem/accounts';
import { hashTypedData, recoverTypedDataAddress } from 'viem';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { makeDomain, toHex, type Hex } from '../../src/crypto/domain.ts';
import {
  KeyReleaseFormatError,
  PARTIAL_PAYLOAD_BYTES,
  SEAL_OVERHEAD_BYTES,
  appIdentity,
  parseAppIdentity,
  decodeAnswer,
  eatNonce,
  eatNonceHex,
  eatNonceOfRequest,
  encodeAnswer,
  generateResponseKeyPair,
  isLowOrderX25519,
  keyRequestDigest,
  keyRequestTypedData,
  openAnswer,
  openResponse,
  partialPayload,
  recoverKeyRequestSigner,
  requestHash,
  responsePublicKey,
  sealResponse,
  verifyAnswerSignature,
  type KeyReleaseAnswer,
  type KeyReleaseRequestFields,
  type EatNonceFields,
  type KeyRequestTypedDataParams,
} from '../../src/crypto/key-release.ts';
import { createOperatorSigner, generateOperatorSecretKey, OPERATOR_KEY_TYPES } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { flippedV, highSTwin } from '../node/release-fixtures.ts';

const rng = seededRng('key-release.test');
const h = (byte: string, n: number) => `0x${byte.repeat(n)}` as Hex;
const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Hex;
const DOMAIN = makeDomain({ chainId: 31337, registry: REGISTRY });
const APP = h('a1', 32);
const RESPONSE = generateResponseKeyPair(rng);

const ECDSA_REQ: KeyReleaseRequestFields = {
  appId: APP,
  responseKey: toHex(RESPONSE.publicKey),
  nonce: h('5e', 16),
  attestation: { method: 'ecdsa', signature: h('44', 65), time: 1_800_000_000 },
};
/** keyRequestDigest of the test's params with responseKey 0x22…22 (frozen). */
const FROZEN_DIGEST = '0xf8dffe3ffac85eae4cd92a908abda5c2deb6e7b8a7313e4b09ef5d8a84fa8db7';
const JWT_REQ: KeyReleaseRequestFields = { ...ECDSA_REQ, attestation: { method: 'jwt', token: 'aaa.bbb.ccc' } };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof KeyReleaseFormatError) return e.code;
    throw e;
  }
  throw new Error('expected a KeyReleaseFormatError');
}

describe('requestHash', () => {
  it('is 32 bytes, deterministic, and ignores hex letter case and bytes-vs-hex', () => {
    const a = requestHash(ECDSA_REQ);
    assert.equal(a.length, 32);
    assert.deepEqual(requestHash({ ...ECDSA_REQ }), a);
    assert.deepEqual(requestHash({ ...ECDSA_REQ, appId: APP.toUpperCase().replace('0X', '0x') as Hex, responseKey: RESPONSE.publicKey }), a);
  });

  it('frozen vectors (a change here changes the wire format), checked against a hand-made ABI encoding', () => {
    const ecdsa: KeyReleaseRequestFields = {
      appId: h('11', 32),
      responseKey: h('22', 32),
      nonce: h('33', 16),
      version: 7,
      attestation: { method: 'ecdsa', signature: h('44', 65), time: 1_800_000_000 },
    };
    const jwt: KeyReleaseRequestFields = {
      appId: h('11', 32), responseKey: h('22', 32), nonce: h('33', 16), time: 1_700_000_000, attestation: { method: 'jwt', token: 'aaa.bbb.ccc' },
    };
    assert.equal(toHex(requestHash(ecdsa)), '0xe46cc0364e9dee282b151760a431c56681197ab6fc2e0dce122c139cbcb49694');
    assert.equal(toHex(requestHash(jwt)), '0xa2da6241342ac74eaf577cb89c0fbaff9334fd7db6ca8f5c965b62522ca0e61e');

    // abi.encode by hand: 8 head words, then the dynamic tails in order.
    const word = (n: bigint | number) => BigInt(n).toString(16).padStart(64, '0');
    const raw = (hex: string) => hex.padEnd(Math.ceil(hex.length / 64) * 64, '0');
    const dyn = (hex: string) => word(hex.length / 2) + raw(hex);
    const ascii = (s: string) => Buffer.from(s, 'ascii').toString('hex');
    const tails = [dyn(ascii('eigenx-kms/request/v1')), dyn('33'.repeat(16)), dyn(ascii('ecdsa'))];
    const att = word(1_800_000_000) + word(0x40) + dyn('44'.repeat(65)); // abi.encode(uint64, bytes)
    tails.push(dyn(att));
    let off = 8 * 32;
    const offs = tails.map((t) => {
      const o = off;
      off += t.length / 2;
      return word(o);
    });
    const head = [offs[0], '11'.repeat(32), '22'.repeat(32), offs[1], word(7), word(0), offs[2], offs[3]].join('');
    const encoded = Buffer.from(head + tails.join(''), 'hex');
    assert.equal(toHex(keccak_256(encoded)), toHex(requestHash(ecdsa)));
  });

  it('changes when any field changes', () => {
    const base = toHex(requestHash(ECDSA_REQ));
    const variants: KeyReleaseRequestFields[] = [
      { ...ECDSA_REQ, appId: h('a2', 32) },
      { ...ECDSA_REQ, responseKey: h('09', 32) },
      { ...ECDSA_REQ, nonce: h('5f', 16) },
      { ...ECDSA_REQ, nonce: h('5e', 17) },
      { ...ECDSA_REQ, version: 1 },
      { ...ECDSA_REQ, time: 1 },
      { ...ECDSA_REQ, attestation: { method: 'ecdsa', signature: h('45', 65), time: 1_800_000_000 } },
      { ...ECDSA_REQ, attestation: { method: 'ecdsa', signature: h('44', 65), time: 1_800_000_001 } },
      JWT_REQ,
      { ...JWT_REQ, attestation: { method: 'jwt', token: 'aaa.bbb.ccd' } },
    ];
    const seen = new Set([base]);
    for (const v of variants) {
      const x = toHex(requestHash(v));
      assert.ok(!seen.has(x), `collision for ${JSON.stringify(v, (_k, val: unknown) => (val instanceof Uint8Array ? toHex(val) : val))}`);
      seen.add(x);
    }
    // version 1 and time 1 are different requests with different hashes.
    assert.notEqual(toHex(requestHash({ ...ECDSA_REQ, version: 1 })), toHex(requestHash({ ...ECDSA_REQ, time: 1 })));
  });

  it('refuses what has no canonical encoding', () => {
    assert.throws(() => requestHash({ ...ECDSA_REQ, version: 1, time: 5 }), RangeError);
    assert.throws(() => requestHash({ ...ECDSA_REQ, time: 0 }), /time: expected >= 1/);
    assert.throws(() => requestHash({ ...ECDSA_REQ, version: 0 }), RangeError);
    assert.throws(() => requestHash({ ...ECDSA_REQ, nonce: h('00', 15) }), /nonce/);
    assert.throws(() => requestHash({ ...ECDSA_REQ, nonce: h('00', 33) }), /nonce/);
    assert.throws(() => requestHash({ ...ECDSA_REQ, appId: h('00', 31) }), /appId/);
    assert.throws(() => requestHash({ ...ECDSA_REQ, attestation: { method: 'x' } as never }), /method/);
  });
});

describe('partialPayload', () => {
  it('is "eigenx-kms/partial/v1" ‖ appId ‖ uint64 version ‖ partial ‖ requestHash (141 bytes)', () => {
    const partial = rng(48);
    const rh = rng(32);
    const p = partialPayload({ appId: APP, version: 0x0102, partial, requestHash: rh });
    assert.equal(p.length, PARTIAL_PAYLOAD_BYTES);
    assert.equal(p.length, 141);
    assert.equal(Buffer.from(p.subarray(0, 21)).toString('ascii'), 'eigenx-kms/partial/v1');
    assert.equal(toHex(p.subarray(21, 53)), APP);
    assert.equal(toHex(p.subarray(53, 61)), '0x0000000000000102');
    assert.deepEqual(p.subarray(61, 109), partial);
    assert.deepEqual(p.subarray(109), rh);
    assert.throws(() => partialPayload({ appId: APP, version: 0, partial, requestHash: rh }), RangeError);
    assert.throws(() => partialPayload({ appId: APP, version: 1, partial: partial.subarray(1), requestHash: rh }), RangeError);
  });
});

function answerOf(kind: 'sign' | 'secrets'): KeyReleaseAnswer {
  return {
    kind,
    appId: Uint8Array.from(Buffer.from(APP.slice(2), 'hex')),
    operator: rng(20),
    version: 9,
    partial: rng(48),
    signature: rng(65),
    ...(kind === 'secrets' ? { env: { releaseIndex: 3, encryptedEnv: rng(200), publicEnv: 'LOG_LEVEL=debug\nNAME=ünïcode' } } : {}),
  };
}

describe('answer encoding', () => {
  for (const kind of ['sign', 'secrets'] as const) {
    it(`${kind}: round trip`, () => {
      const a = answerOf(kind);
      const bytes = encodeAnswer(a);
      assert.deepEqual(decodeAnswer(bytes), a);
      assert.equal(bytes[0], 1);
      assert.equal(bytes[1], kind === 'sign' ? 1 : 2);
    });
    it(`${kind}: truncated or extended bytes are refused`, () => {
      const bytes = encodeAnswer(answerOf(kind));
      for (const cut of [0, 1, 2, 40, 110, bytes.length - 1]) assert.equal(codeOf(() => decodeAnswer(bytes.subarray(0, cut))), 'bad-answer');
      assert.equal(codeOf(() => decodeAnswer(Uint8Array.from([...bytes, 0]))), 'bad-answer');
    });
  }
  it('unknown format or kind, zero version, empty signature are refused', () => {
    const bytes = encodeAnswer(answerOf('sign'));
    const mutate = (at: number, v: number) => {
      const b = Uint8Array.from(bytes);
      b[at] = v;
      return b;
    };
    assert.equal(codeOf(() => decodeAnswer(mutate(0, 2))), 'bad-answer');
    assert.equal(codeOf(() => decodeAnswer(mutate(1, 3))), 'bad-answer');
    const zeroVersion = Uint8Array.from(bytes);
    zeroVersion.fill(0, 54, 62);
    assert.equal(codeOf(() => decodeAnswer(zeroVersion)), 'bad-answer');
    assert.equal(codeOf(() => decodeAnswer(mutate(110, 0))), 'bad-answer');
  });
  it('a sign answer with an env, or a secrets answer without one, cannot be encoded', () => {
    assert.throws(() => encodeAnswer({ ...answerOf('sign'), env: { releaseIndex: 0, encryptedEnv: new Uint8Array(0), publicEnv: '' } }), RangeError);
    const { env: _drop, ...noEnv } = answerOf('secrets');
    assert.throws(() => encodeAnswer(noEnv), RangeError);
  });
});

describe('sealResponse / openResponse', () => {
  const rh = requestHash(ECDSA_REQ);
  const plain = encodeAnswer(answerOf('secrets'));

  it('round trip; layout ePub (32) ‖ iv (12) ‖ ciphertext ‖ tag (16)', () => {
    const sealed = sealResponse(RESPONSE.publicKey, rh, plain, rng);
    assert.equal(sealed.length, plain.length + SEAL_OVERHEAD_BYTES);
    assert.deepEqual(openResponse(RESPONSE.secretKey, rh, sealed), plain);
    assert.deepEqual(openAnswer(RESPONSE.secretKey, rh, sealed), decodeAnswer(plain));
    // Fresh ephemeral key and iv each time.
    const again = sealResponse(RESPONSE.publicKey, rh, plain, rng);
    assert.notDeepEqual(again.subarray(0, 44), sealed.subarray(0, 44));
  });

  it('any flipped bit (ePub, iv, ciphertext, tag) fails to open', () => {
    const sealed = sealResponse(RESPONSE.publicKey, rh, plain, rng);
    for (const at of [0, 31, 32, 43, 44, 100, sealed.length - 17, sealed.length - 1]) {
      const t = Uint8Array.from(sealed);
      t[at] = (t[at] as number) ^ 0x01;
      const code = codeOf(() => openResponse(RESPONSE.secretKey, rh, t));
      assert.ok(code === 'open-failed' || code === 'low-order-key', `byte ${at}: ${code}`);
    }
    assert.equal(codeOf(() => openResponse(RESPONSE.secretKey, rh, sealed.subarray(0, SEAL_OVERHEAD_BYTES - 1))), 'open-failed');
  });

  it('wrong response secret or wrong request hash fails to open', () => {
    const sealed = sealResponse(RESPONSE.publicKey, rh, plain, rng);
    const other = generateResponseKeyPair(rng);
    assert.equal(codeOf(() => openResponse(other.secretKey, rh, sealed)), 'open-failed');
    assert.equal(codeOf(() => openResponse(RESPONSE.secretKey, requestHash(JWT_REQ), sealed)), 'open-failed');
  });

  it('refuses small-order X25519 keys (all-zero included), both ways', () => {
    const lowOrder = [
      '00'.repeat(32),
      `01${'00'.repeat(31)}`,
      `ec${'ff'.repeat(30)}7f`, // p − 1
      `ed${'ff'.repeat(30)}7f`, // p ≡ 0
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      `${'00'.repeat(31)}80`, // 0 with the ignored top bit set
    ].map((x) => Uint8Array.from(Buffer.from(x, 'hex')));
    for (const k of lowOrder) {
      assert.ok(isLowOrderX25519(k));
      assert.equal(codeOf(() => sealResponse(k, rh, plain, rng)), 'low-order-key');
      const sealed = sealResponse(RESPONSE.publicKey, rh, plain, rng);
      sealed.set(k, 0);
      assert.equal(codeOf(() => openResponse(RESPONSE.secretKey, rh, sealed)), 'low-order-key');
    }
    assert.ok(!isLowOrderX25519(RESPONSE.publicKey));
  });

  it('responsePublicKey matches the generated pair', () => {
    assert.deepEqual(responsePublicKey(RESPONSE.secretKey), RESPONSE.publicKey);
  });
});

describe('operator signature over the partial payload', () => {
  for (const type of OPERATOR_KEY_TYPES) {
    it(`${type}: verifies; any other partial, version, app, request hash or domain does not`, () => {
      const signer = createOperatorSigner(type, generateOperatorSecretKey(type, rng), DOMAIN);
      const rh = requestHash(ECDSA_REQ);
      const a0 = answerOf('sign');
      const answer = { ...a0, signature: signer.sign(partialPayload({ appId: a0.appId, version: a0.version, partial: a0.partial, requestHash: rh })) };
      assert.ok(verifyAnswerSignature(answer, rh, DOMAIN, type, signer.publicKey));
      const flipped = Uint8Array.from(answer.partial);
      flipped[5] = (flipped[5] as number) ^ 1;
      assert.ok(!verifyAnswerSignature({ ...answer, partial: flipped }, rh, DOMAIN, type, signer.publicKey));
      assert.ok(!verifyAnswerSignature({ ...answer, version: 10 }, rh, DOMAIN, type, signer.publicKey));
      assert.ok(!verifyAnswerSignature({ ...answer, appId: rng(32) }, rh, DOMAIN, type, signer.publicKey));
      assert.ok(!verifyAnswerSignature(answer, requestHash(JWT_REQ), DOMAIN, type, signer.publicKey));
      assert.ok(!verifyAnswerSignature(answer, rh, makeDomain({ chainId: 1, registry: REGISTRY }), type, signer.publicKey));
    });
  }
});

describe('EIP-712 KeyRequest', () => {
  const owner = privateKeyToAccount(toHex(generateOperatorSecretKey('ecdsa', rng)));
  const params: KeyRequestTypedDataParams = {
    chainId: 31337, registry: REGISTRY, route: '/app/sign', appId: APP, responseKey: RESPONSE.publicKey, nonce: h('5e', 16), time: 1_800_000_000,
  };

  it('domain and types are as documented (version "2": the route is signed)', () => {
    const td = keyRequestTypedData(params);
    assert.deepEqual(td.domain, { name: 'eigenx-kms', version: '2', chainId: 31337n, verifyingContract: REGISTRY });
    assert.deepEqual(td.types.KeyRequest.map((f) => `${f.type} ${f.name}`), [
      'string route', 'bytes32 appId', 'bytes32 responseKey', 'bytes nonce', 'uint64 time', 'uint64 keyVersion', 'uint64 keyTime',
    ]);
    assert.equal(td.message.route, '/app/sign');
    assert.equal(td.message.keyVersion, 0n);
    assert.equal(td.message.keyTime, 0n);
    assert.equal(toHex(keyRequestDigest(params)), hashTypedData(td));
    // Frozen digest (a change here changes what owners sign).
    assert.equal(toHex(keyRequestDigest({ ...params, responseKey: h('22', 32) })), FROZEN_DIGEST);
  });

  it('a signature by the owner recovers to the owner', async () => {
    for (const p of [params, { ...params, version: 3 }, { ...params, keyTime: 1_700_000_000 }]) {
      const sig = await owner.signTypedData(keyRequestTypedData(p));
      assert.equal(await recoverKeyRequestSigner(p, sig), owner.address.toLowerCase());
    }
  });

  it('the same signature over any other field recovers to someone else', async () => {
    const sig = await owner.signTypedData(keyRequestTypedData(params));
    const others: KeyRequestTypedDataParams[] = [
      { ...params, chainId: 1 },
      { ...params, registry: h('bb', 20) },
      { ...params, route: '/secrets' },
      { ...params, appId: h('a2', 32) },
      { ...params, responseKey: h('09', 32) },
      { ...params, nonce: h('5f', 16) },
      { ...params, time: params.time + 1 },
      { ...params, version: 1 },
      { ...params, keyTime: 1 },
    ];
    for (const o of others) assert.notEqual(await recoverKeyRequestSigner(o, sig), owner.address.toLowerCase());
  });

  it('only the canonical signature recovers: its high-s twin and its v = 0/1 copies give null (same signer, refused)', async () => {
    const sig = await owner.signTypedData(keyRequestTypedData(params));
    assert.equal(await recoverKeyRequestSigner(params, sig), owner.address.toLowerCase());
    // The copies are valid signatures by the same key under lax rules (viem recovers them all).
    for (const copy of [highSTwin(sig), flippedV(sig), flippedV(highSTwin(sig))]) {
      assert.equal((await recoverTypedDataAddress({ ...keyRequestTypedData(params), signature: copy })).toLowerCase(), owner.address.toLowerCase());
      assert.equal(await recoverKeyRequestSigner(params, copy), null);
    }
  });

  it('a signature that is no secp256k1 signature recovers to null', async () => {
    assert.equal(await recoverKeyRequestSigner(params, h('00', 65)), null);
  });
});

describe('eat_nonce', () => {
  const fields: EatNonceFields = { route: '/app/sign', appId: APP, responseKey: RESPONSE.publicKey, nonce: h('5e', 16) };

  it('is SHA-256("eigenx-kms/eat-nonce/v2" ‖ domain ‖ |route| ‖ route ‖ appId ‖ responseKey ‖ |nonce| ‖ nonce ‖ uint64 version ‖ uint64 time), as lowercase 0x-hex', () => {
    const u64 = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const expected = (route: string, version: number, time: number) => createHash('sha256')
      .update('eigenx-kms/eat-nonce/v2').update(DOMAIN)
      .update(Uint8Array.of(route.length)).update(route)
      .update(Buffer.from(APP.slice(2), 'hex')).update(RESPONSE.publicKey)
      .update(Uint8Array.of(16)).update(Buffer.from('5e'.repeat(16), 'hex'))
      .update(u64(version)).update(u64(time))
      .digest();
    assert.deepEqual(eatNonce(DOMAIN, fields), Uint8Array.from(expected('/app/sign', 0, 0)));
    assert.equal(eatNonceHex(DOMAIN, fields), `0x${expected('/app/sign', 0, 0).toString('hex')}`);
    assert.equal(eatNonceHex(DOMAIN, { ...fields, route: '/secrets', version: 7 }), `0x${expected('/secrets', 7, 0).toString('hex')}`);
    assert.equal(eatNonceHex(DOMAIN, { ...fields, keyTime: 1_700_000_000 }), `0x${expected('/app/sign', 0, 1_700_000_000).toString('hex')}`);
    assert.equal(eatNonceOfRequest(DOMAIN, '/secrets', { ...ECDSA_REQ, version: 7 }), eatNonceHex(DOMAIN, { ...fields, route: '/secrets', version: 7 }));
  });

  it('changes when any bound field changes: deployment, route, app, response key, nonce, key version or time', () => {
    const base = eatNonceHex(DOMAIN, fields);
    const others = [
      eatNonceHex(makeDomain({ chainId: 1, registry: REGISTRY }), fields),
      eatNonceHex(DOMAIN, { ...fields, route: '/secrets' }),
      eatNonceHex(DOMAIN, { ...fields, appId: h('a2', 32) }),
      eatNonceHex(DOMAIN, { ...fields, responseKey: h('09', 32) }),
      eatNonceHex(DOMAIN, { ...fields, nonce: h('5f', 16) }),
      eatNonceHex(DOMAIN, { ...fields, nonce: h('5e', 17) }),
      eatNonceHex(DOMAIN, { ...fields, version: 1 }),
      eatNonceHex(DOMAIN, { ...fields, keyTime: 1 }),
    ];
    assert.equal(new Set([base, ...others]).size, others.length + 1);
    assert.throws(() => eatNonce(DOMAIN, { ...fields, route: '/pubkey' as never }), /route/);
    assert.throws(() => eatNonce(DOMAIN, { ...fields, version: 1, keyTime: 1 }), /not both/);
    assert.throws(() => eatNonce(DOMAIN, { ...fields, nonce: h('00', 15) }), /nonce/);
  });
});

describe('appIdentity', () => {
  it('is the lowercase 0x-hex of the 32-byte id', () => {
    assert.equal(appIdentity(APP.toUpperCase().replace('0X', '0x') as Hex), APP);
    assert.equal(appIdentity(APP).length, 66);
    assert.throws(() => appIdentity(h('00', 31)), RangeError);
  });
  it('epoch 0 is today\'s identity (every existing envelope still opens); epoch e >= 1 appends "#" and e in decimal', () => {
    assert.equal(appIdentity(APP, 0), APP);
    assert.equal(appIdentity(APP, 1), `${APP}#1`);
    assert.equal(appIdentity(APP, 4294967295), `${APP}#4294967295`);
    for (const bad of [-1, 1.5, 4294967296, Number.NaN]) assert.throws(() => appIdentity(APP, bad), RangeError, String(bad));
  });

  it('is unambiguous: parseAppIdentity reads (id, epoch) back, and refuses every other spelling', () => {
    for (const e of [0, 1, 9, 10, 123456, 4294967295]) assert.deepEqual(parseAppIdentity(appIdentity(APP, e)), { appId: APP, epoch: e });
    // Non-canonical spellings of an epoch would make two identities for one key: none parses.
    for (const bad of [`${APP}#0`, `${APP}#01`, `${APP}#+1`, `${APP}#`, `${APP}#1#2`, `${APP}#4294967296`, `${APP.toUpperCase()}`, `${APP}/1`, APP.slice(0, 65), `${APP}0`]) {
      assert.equal(parseAppIdentity(bad), null, bad);
    }
    // Distinct (id, epoch) pairs never share an identity (ids of the same prefix included).
    const other = `${APP.slice(0, 65)}${APP.endsWith('1') ? '2' : '1'}` as Hex;
    const seen = new Set<string>();
    for (const id of [APP, other]) for (const e of [0, 1, 2, 10, 11, 12, 100]) seen.add(appIdentity(id, e));
    assert.equal(seen.size, 14);
  });
});
