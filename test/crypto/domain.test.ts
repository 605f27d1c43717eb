// Domain separation prefix (SPEC 2): "eigenx-kms/v1" ‖ uint256(chainId) ‖ registry, i.e.
// Solidity abi.encodePacked(string, uint256, address); plus the operator/PoP digests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { keccak_256 } from '@noble/hashes/sha3.js';
import {
  DOMAIN_BYTES,
  aDomain,
  addressBytes,
  addressToHex,
  checksumAddress,
  isPopShapedPayload,
  makeDomain,
  operatorDigest,
  parseAddress,
  parseDomain,
  parseHex,
  popDigest,
  popMessage,
  toHex,
  uint256ToBytes,
  type Hex,
} from '../../src/crypto/domain.ts';

const REGISTRY = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
// utf8("eigenx-kms/v1"), written out by hand: e i g e n x - k m s / v 1
const TAG_HEX = '656967656e782d6b6d732f7631';

describe('domain: layout', () => {
  it('chainId 1 is tag ‖ uint256(1) ‖ address (abi.encodePacked)', () => {
    const d = makeDomain({ chainId: 1n, registry: REGISTRY });
    assert.equal(d.length, 65);
    assert.equal(DOMAIN_BYTES, 65);
    assert.equal(toHex(d), `0x${TAG_HEX}${'00'.repeat(31)}01${REGISTRY.slice(2).toLowerCase()}`);
  });

  it('chainId 31337 as number and as bigint give the same bytes', () => {
    const a = makeDomain({ chainId: 31337, registry: REGISTRY });
    const b = makeDomain({ chainId: 31337n, registry: REGISTRY.toLowerCase() as Hex });
    assert.deepEqual(a, b);
    assert.equal(toHex(a.subarray(13, 45)), `0x${'00'.repeat(30)}7a69`);
  });

  it('the registry may be given as 20 bytes', () => {
    const d = makeDomain({ chainId: 11155111n, registry: parseAddress(REGISTRY) });
    assert.deepEqual(parseDomain(d), { chainId: 11155111n, registry: REGISTRY.toLowerCase() });
  });

  it('round-trips for any chainId < 2^256 and any address (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (chainId, reg) => {
        const d = makeDomain({ chainId, registry: reg });
        const back = parseDomain(d);
        assert.equal(back.chainId, chainId);
        assert.deepEqual(parseAddress(back.registry), reg);
      }),
      { numRuns: 200, seed: 1 },
    );
  });

  it('different chains or registries give different domains and digests', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const a = makeDomain({ chainId: 1, registry: REGISTRY });
    const b = makeDomain({ chainId: 2, registry: REGISTRY });
    const c = makeDomain({ chainId: 1, registry: `0x${'00'.repeat(20)}` });
    assert.notDeepEqual(operatorDigest(a, payload), operatorDigest(b, payload));
    assert.notDeepEqual(operatorDigest(a, payload), operatorDigest(c, payload));
  });
});

describe('domain: refusals', () => {
  const bad: [string, () => unknown, ErrorConstructor][] = [
    ['address of 19 bytes', () => makeDomain({ chainId: 1, registry: `0x${'11'.repeat(19)}` }), RangeError],
    ['address of 21 bytes', () => makeDomain({ chainId: 1, registry: `0x${'11'.repeat(21)}` }), RangeError],
    ['address without 0x', () => makeDomain({ chainId: 1, registry: '11'.repeat(20) as Hex }), RangeError],
    ['address with a non-hex digit', () => makeDomain({ chainId: 1, registry: `0x${'1g'.repeat(20)}` }), RangeError],
    ['address bytes of wrong length', () => makeDomain({ chainId: 1, registry: new Uint8Array(32) }), RangeError],
    ['negative chainId', () => makeDomain({ chainId: -1n, registry: REGISTRY }), RangeError],
    ['chainId = 2^256', () => makeDomain({ chainId: 1n << 256n, registry: REGISTRY }), RangeError],
    ['fractional chainId', () => makeDomain({ chainId: 1.5, registry: REGISTRY }), TypeError],
    ['unsafe-integer chainId', () => makeDomain({ chainId: 2 ** 60, registry: REGISTRY }), TypeError],
    ['chainId as string', () => makeDomain({ chainId: '1' as unknown as number, registry: REGISTRY }), TypeError],
    ['null params', () => makeDomain(null as unknown as { chainId: number; registry: Hex }), TypeError],
  ];
  for (const [name, f, cls] of bad) {
    it(`refuses ${name}`, () => assert.throws(f, cls));
  }

  it('aDomain refuses a wrong length or a wrong tag', () => {
    const d = makeDomain({ chainId: 1, registry: REGISTRY });
    assert.throws(() => aDomain(d.subarray(1)), RangeError);
    const t = Uint8Array.from(d);
    t[0] = (t[0] as number) ^ 1;
    assert.throws(() => aDomain(t), /expected prefix "eigenx-kms\/v1"/);
  });

  it('parseHex refuses odd length and missing prefix', () => {
    assert.throws(() => parseHex('0x123', undefined, 'x'), RangeError);
    assert.throws(() => parseHex('1234', undefined, 'x'), RangeError);
    assert.deepEqual(parseHex('0xABcd', 2, 'x'), new Uint8Array([0xab, 0xcd]));
  });
});

describe('domain: addresses and integers', () => {
  it('EIP-55 checksum of the address of private key 1', () => {
    assert.equal(checksumAddress('0x7e5f4552091a69125d5dfcb7b8c2659029395bdf'), '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
    // EIP-55 test vector.
    assert.equal(checksumAddress('0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359'), '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359');
  });

  it('addressBytes copies; addressToHex lowercases', () => {
    const a = parseAddress(REGISTRY);
    const b = addressBytes(a);
    b[0] = 0;
    assert.notEqual(a[0], 0);
    assert.equal(addressToHex(REGISTRY), REGISTRY.toLowerCase());
  });

  it('uint256ToBytes is 32-byte big-endian', () => {
    assert.equal(toHex(uint256ToBytes(0x0102n)), `0x${'00'.repeat(30)}0102`);
    assert.equal(toHex(uint256ToBytes((1n << 256n) - 1n)), `0x${'ff'.repeat(32)}`);
  });
});

describe('domain: what an operator signs', () => {
  const d = makeDomain({ chainId: 1, registry: REGISTRY });
  const op = '0x00000000000000000000000000000000000000aa';

  it('PoP message is domain ‖ "pop" ‖ address (88 bytes) and its digest is keccak256 of it', () => {
    const m = popMessage(d, op);
    assert.equal(m.length, 88);
    assert.equal(toHex(m.subarray(65)), `0x706f70${op.slice(2)}`);
    assert.deepEqual(popDigest(d, op), keccak_256(m));
  });

  it('a payload of the PoP shape is refused, other payloads are not', () => {
    const popShaped = popMessage(d, op).subarray(65);
    assert.equal(isPopShapedPayload(popShaped), true);
    assert.throws(() => operatorDigest(d, popShaped), /proof-of-possession/);
    // One byte longer or shorter, or another tag: ordinary payloads.
    assert.equal(isPopShapedPayload(popMessage(d, op).subarray(64)), false);
    assert.equal(isPopShapedPayload(popShaped.subarray(1)), false);
    const other = Uint8Array.from(popShaped);
    other[0] = 0x71;
    assert.equal(isPopShapedPayload(other), false);
    assert.deepEqual(operatorDigest(d, other), keccak_256(new Uint8Array([...d, ...other])));
  });
});
