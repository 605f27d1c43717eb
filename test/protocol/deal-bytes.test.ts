// The packed deal of issue 14 (src/protocol/deal-bytes.ts, docs/formats.md "A deal on the
// ledger"): what a dealer sends is what every reader gets back, field by field, and the ledgers'
// length rule is exactly tNew·96 + 33 + n·48.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../../src/crypto/rng.ts';
import { dealByteLength, packDeal, unpackDeal } from '../../src/protocol/deal-bytes.ts';
import type { Hex } from '../../src/protocol/ledger.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';

const rng = seededRng('deal-bytes');
const hex = (n: number): Hex => bytesToHex(rng(n));

function deal(t: number, n: number) {
  return { commitments: hex(96 * t), ephemeralKey: hex(33), sealedShares: Array.from({ length: n }, () => hex(48)) };
}

describe('packed deal', () => {
  it('splits back into the fields the dealer sent, at the offsets of formats.md', () => {
    for (const [t, n] of [[2, 2], [3, 4], [20, 30]] as const) {
      const d = deal(t, n);
      const packed = packDeal(d);
      assert.ok(packed);
      assert.equal((packed.length - 2) / 2, dealByteLength(t, n));
      assert.equal(dealByteLength(t, n), 96 * t + 33 + 48 * n);
      assert.equal(packed.slice(2, 2 + 192 * t), d.commitments.slice(2));
      assert.deepEqual(unpackDeal(packed, t, n), d);
    }
  });

  it('a deal whose fields have other sizes but the right total is split at the standard offsets (every reader sees the same fields)', () => {
    const d = deal(2, 3);
    // Ten bytes of the last commitment sent as the start of the ephemeral key: same string.
    const cut = d.commitments.length - 20;
    const shifted = { ...d, commitments: d.commitments.slice(0, cut) as Hex, ephemeralKey: `0x${d.commitments.slice(cut)}${d.ephemeralKey.slice(2)}` as Hex };
    const packed = packDeal(shifted);
    assert.ok(packed);
    assert.deepEqual(unpackDeal(packed, 2, 3), d, 'same bytes, same split');
  });

  it('refuses what is not a deal of the session: another length, non-hex fields, shares that are not a list', () => {
    const d = deal(3, 4);
    const packed = packDeal(d) as Hex;
    assert.equal(unpackDeal(packed, 3, 5), null, 'one recipient more');
    assert.equal(unpackDeal(packed, 4, 4), null, 'one commitment more');
    assert.equal(unpackDeal(`${packed}00`, 3, 4), null, 'one byte more');
    assert.equal(unpackDeal('0x', 3, 4), null);
    assert.equal(packDeal({ ...d, ephemeralKey: 'zz' as Hex }), null);
    assert.equal(packDeal({ ...d, commitments: '0x123' as Hex }), null, 'odd number of hex digits');
    assert.equal(packDeal({ ...d, sealedShares: 'nope' as unknown as Hex[] }), null);
    assert.equal(packDeal({ ...d, sealedShares: [...d.sealedShares, 7 as unknown as Hex] }), null);
  });

  it('is lowercase hex whatever the case of the input (the ledgers compare hex as strings)', () => {
    const d = deal(2, 2);
    const upper = { commitments: d.commitments.toUpperCase().replace('0X', '0x') as Hex, ephemeralKey: d.ephemeralKey, sealedShares: d.sealedShares };
    assert.equal(packDeal(upper), packDeal(d));
  });
});
