// Incident R11 ("joiner: … non-zero commitments", docs/reliability.md): a deal whose
// commitment is the identity point (a zero coefficient committed as 0·G2) must be malformed on
// every node, whatever the position of that commitment — it would let a dealer claim a
// polynomial of lower degree, or a zero constant term, under the right byte length (the
// contract checks sizes only). The decoder (src/protocol/deal-codec.ts) is what every node
// runs on the chain's bytes; the control deal, the same with real points, parses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair, SEALED_SHARE_BYTES } from '../../src/crypto/seal.ts';
import { clearDealParseCache, parseDeal } from '../../src/protocol/deal-codec.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, DealSubmission, Hex, SessionSnapshot } from '../../src/protocol/ledger.ts';
import { SIZES } from '../../src/protocol/session-rules.ts';

const rng = seededRng('deal-codec-identity');
const addr = (i: number): Address => `0x${String(i).padStart(40, '0')}`;
const RECIPIENTS = [addr(1), addr(2), addr(3)];
const SNAPSHOT: SessionSnapshot = {
  id: 7, kind: 'reshare', boundary: 0, openedAt: 0, dealers: RECIPIENTS, recipients: RECIPIENTS,
  recipientKeys: RECIPIENTS.map(() => bytesToHex(generateSealKeyPair(rng).publicKey)),
  tNew: 2, tOld: 2, sourceVersion: 6, sourcePolyHash: `0x${'11'.repeat(32)}`,
  dealWindow: 10, ackWindow: 10, confirmWindow: 10, quorum: 2, protocolVersion: 1,
};
/** 0xc0 ‖ 0…: the compressed encoding of the G2 identity (infinity flag set). */
const IDENTITY: Hex = `0xc0${'00'.repeat(SIZES.g2 - 1)}`;
const point = (k: bigint): Hex => bytesToHex(bls.g2.encode(bls.g2.mul(bls.g2.generator, k)));

function deal(commitments: readonly Hex[]): DealSubmission {
  return {
    type: 'deal', session: SNAPSHOT.id, from: addr(1),
    commitments: `0x${commitments.map((c) => c.slice(2)).join('')}`,
    ephemeralKey: bytesToHex(generateSealKeyPair(rng).publicKey),
    sealedShares: RECIPIENTS.map(() => bytesToHex(rng(SEALED_SHARE_BYTES))),
  };
}

describe('deal decoding: identity commitments', () => {
  it('the control deal, real points of the right count, parses', () => {
    clearDealParseCache();
    const r = parseDeal(SNAPSHOT, deal([point(5n), point(9n)]));
    assert.equal(r.ok, true, r.ok ? '' : r.reason);
  });

  for (const [at, commitments] of [['the constant term', [IDENTITY, point(9n)]], ['the top coefficient', [point(5n), IDENTITY]]] as const) {
    it(`a deal committing the identity as ${at} is malformed (the dealer is out of QUAL on every node)`, () => {
      clearDealParseCache();
      const r = parseDeal(SNAPSHOT, deal(commitments));
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /identity/);
    });
  }
});
