// The hand-packed encodings and node:crypto shortcuts of src/crypto/key-release.ts (issue 7)
// equal the generic implementations they replaced, on random inputs: `requestHash` is
// keccak256 of viem's `encodeAbiParameters`, `keyRequestDigest` is viem's `hashTypedData`,
// `hkdfSha256` is node's `hkdfSync`; sealing with the default randomness (node's own X25519 key
// generation) opens, with a fresh ephemeral key per answer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { encodeAbiParameters, hashTypedData } from 'viem';
import { toHex, type Hex } from '../../src/crypto/domain.ts';
import {
  KeyReleaseFormatError,
  REQUEST_TAG,
  SEAL_OVERHEAD_BYTES,
  generateResponseKeyPair,
  hkdfSha256,
  keyRequestDigest,
  keyRequestTypedData,
  openResponse,
  requestHash,
  sealResponse,
  type KeyReleaseRequestFields,
  type KeyRequestTypedDataParams,
} from '../../src/crypto/key-release.ts';

const bytes = (min: number, max = min) => fc.uint8Array({ minLength: min, maxLength: max });
const hex = (min: number, max = min) => bytes(min, max).map((b) => toHex(b));
/** version/time: absent, or a named value ≥ 1 (safe integers, as the request schema allows). */
const optionalPositive = fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined });

/** The request hash as first written: viem's generic ABI encoder. */
function viemRequestHash(req: KeyReleaseRequestFields): Uint8Array {
  const att = req.attestation;
  const data =
    att.method === 'ecdsa'
      ? encodeAbiParameters([{ type: 'uint64' }, { type: 'bytes' }], [BigInt(att.time), att.signature as Hex])
      : encodeAbiParameters([{ type: 'string' }], [att.token]);
  const encoded = encodeAbiParameters(
    [
      { type: 'string' },
      { type: 'bytes32' },
      { type: 'bytes32' },
      { type: 'bytes' },
      { type: 'uint64' },
      { type: 'uint64' },
      { type: 'string' },
      { type: 'bytes' },
    ],
    [REQUEST_TAG, req.appId as Hex, req.responseKey as Hex, req.nonce as Hex, BigInt(req.version ?? 0), BigInt(req.time ?? 0), att.method, data],
  );
  return keccak_256(Buffer.from(encoded.slice(2), 'hex'));
}

const ecdsaAttestation = fc.record({ method: fc.constant('ecdsa' as const), signature: hex(65), time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) });
// Any string, including multi-byte UTF-8 and lengths around the 32-byte word boundary.
const jwtAttestation = fc.record({ method: fc.constant('jwt' as const), token: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 80 })) });

const request = fc
  .record({
    appId: hex(32),
    responseKey: hex(32),
    nonce: hex(16, 32),
    key: fc.oneof(
      fc.constant({}),
      optionalPositive.map((version) => ({ version })),
      optionalPositive.map((time) => ({ time })),
    ),
    attestation: fc.oneof(ecdsaAttestation, jwtAttestation),
  })
  .map(({ key, ...rest }): KeyReleaseRequestFields => ({ ...rest, ...key }));

describe('requestHash, hand-packed', () => {
  it('equals keccak256(viem encodeAbiParameters(...)) on random requests (ecdsa and jwt)', () => {
    fc.assert(
      fc.property(request, (req) => {
        assert.deepEqual(requestHash(req), viemRequestHash(req));
      }),
      { numRuns: 300 },
    );
  });

  it('a jwt token of exactly 0, 31, 32, 33 and 64 bytes, and a 16- and a 32-byte nonce', () => {
    const base = { appId: toHex(randomBytes(32)), responseKey: toHex(randomBytes(32)) };
    for (const n of [0, 31, 32, 33, 64]) {
      for (const nonceBytes of [16, 32]) {
        const req: KeyReleaseRequestFields = { ...base, nonce: toHex(randomBytes(nonceBytes)), attestation: { method: 'jwt', token: 'x'.repeat(n) } };
        assert.deepEqual(requestHash(req), viemRequestHash(req), `token ${n} bytes, nonce ${nonceBytes}`);
      }
    }
  });

  it('bytes and hex inputs hash alike', () => {
    const req: KeyReleaseRequestFields = {
      appId: toHex(randomBytes(32)), responseKey: toHex(randomBytes(32)), nonce: toHex(randomBytes(20)), version: 3,
      attestation: { method: 'ecdsa', signature: toHex(randomBytes(65)), time: 1_800_000_000 },
    };
    const asBytes: KeyReleaseRequestFields = {
      ...req,
      appId: Buffer.from((req.appId as string).slice(2), 'hex'),
      nonce: Buffer.from((req.nonce as string).slice(2), 'hex'),
    };
    assert.deepEqual(requestHash(asBytes), requestHash(req));
  });
});

describe('keyRequestDigest, hand-packed EIP-712', () => {
  const params = fc
    .record({
      chainId: fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.bigInt({ min: 0n, max: (1n << 256n) - 1n })),
      registry: hex(20),
      route: fc.constantFrom('/app/sign' as const, '/secrets' as const),
      appId: hex(32),
      responseKey: hex(32),
      nonce: hex(16, 32),
      time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      key: fc.oneof(fc.constant({}), optionalPositive.map((version) => ({ version })), optionalPositive.map((keyTime) => ({ keyTime }))),
    })
    .map(({ key, ...rest }): KeyRequestTypedDataParams => ({ ...rest, ...key }));

  it('equals viem hashTypedData(keyRequestTypedData(p)) on random parameters', () => {
    fc.assert(
      fc.property(params, (p) => {
        assert.equal(toHex(keyRequestDigest(p)), hashTypedData(keyRequestTypedData(p)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what keyRequestTypedData refuses', () => {
    const ok: KeyRequestTypedDataParams = { chainId: 1, registry: toHex(randomBytes(20)), route: '/secrets', appId: toHex(randomBytes(32)), responseKey: toHex(randomBytes(32)), nonce: toHex(randomBytes(16)), time: 1 };
    for (const bad of [
      { ...ok, nonce: toHex(randomBytes(15)) },
      { ...ok, nonce: toHex(randomBytes(33)) },
      { ...ok, version: 1, keyTime: 1 },
      { ...ok, version: 0 },
      { ...ok, time: -1 },
      { ...ok, appId: toHex(randomBytes(31)) },
      { ...ok, registry: toHex(randomBytes(19)) },
      { ...ok, route: '/pubkey' },
      { ...ok, route: undefined },
    ] as unknown as KeyRequestTypedDataParams[]) {
      assert.throws(() => keyRequestTypedData(bad));
      assert.throws(() => keyRequestDigest(bad));
    }
  });
});

describe('sealing with node:crypto', () => {
  it('hkdfSha256 equals hkdfSync(sha256, …, 32) on random inputs', () => {
    for (let i = 0; i < 200; i++) {
      const ikm = randomBytes(i % 64);
      const salt = randomBytes((i * 7) % 80);
      const info = randomBytes((i * 13) % 50);
      assert.deepEqual(hkdfSha256(ikm, salt, info), Buffer.from(hkdfSync('sha256', ikm, salt, info, 32)));
    }
  });

  it('the default randomness seals answers that open, with a fresh ephemeral key and iv each time', () => {
    const pair = generateResponseKeyPair();
    const rh = randomBytes(32);
    const answer = randomBytes(181);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const sealed = sealResponse(pair.publicKey, rh, answer);
      assert.equal(sealed.length, answer.length + SEAL_OVERHEAD_BYTES);
      assert.deepEqual(openResponse(pair.secretKey, rh, sealed), Uint8Array.from(answer));
      seen.add(Buffer.from(sealed.subarray(0, 32)).toString('hex'));
    }
    assert.equal(seen.size, 20);
  });

  it('opening with the response public key given gives the same answer; a wrong public key does not open', () => {
    const pair = generateResponseKeyPair();
    const rh = randomBytes(32);
    const answer = randomBytes(99);
    const sealed = sealResponse(pair.publicKey, rh, answer);
    assert.deepEqual(openResponse(pair.secretKey, rh, sealed, pair.publicKey), Uint8Array.from(answer));
    const other = generateResponseKeyPair().publicKey;
    assert.throws(() => openResponse(pair.secretKey, rh, sealed, other), (e: unknown) => e instanceof KeyReleaseFormatError && e.code === 'open-failed');
    assert.throws(() => openResponse(pair.secretKey, rh, sealed, other.subarray(1)), RangeError);
  });
});
