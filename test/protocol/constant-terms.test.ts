// The reshare constant-term rule (SPEC 4 step 3): a dealer qualifies only if its constant
// commitment C_{i,0} equals its public share PK_i in the source version. The round outcome
// checks all dealers in one weighted batch and falls back to one check per dealer; these
// cases pin that the batch names exactly the cheating dealers, including two whose errors
// cancel in an unweighted sum, and that an honest round keeps A_0 == MPK.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { evaluate } from '../../src/crypto/polynomial.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair, sealDeal } from '../../src/crypto/seal.ts';
import { deal as vssDeal } from '../../src/crypto/vss.ts';
import { sealContext } from '../../src/protocol/deal-codec.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, RecordedSubmission, SessionSnapshot } from '../../src/protocol/ledger.ts';
import { computeRoundOutcome, encodePoly } from '../../src/protocol/round-outcome.ts';

const rng = seededRng('constant-terms');
const domain = makeDomain({ chainId: 31337n, registry: `0x${'cd'.repeat(20)}` });
const addr = (i: number): Address => `0x${(i + 1).toString(16).padStart(2, '0').repeat(20)}`;
const dealers = Array.from({ length: 6 }, (_, i) => addr(i));
const recipients = dealers.slice(0, 3);
const keys = recipients.map(() => generateSealKeyPair(rng));

// Source version: t_old = 3, a random degree-2 polynomial f; dealer i holds f(x_i).
const f = [fr.random(rng), fr.random(rng), fr.random(rng)];
const sourcePoly = f.map((a) => bls.g2.mul(bls.g2.generator, a));
const shareOf = (d: Address): bigint => evaluate(f, operatorX(d));

const snapshot: SessionSnapshot = {
  id: 9, kind: 'reshare', boundary: 0, openedAt: 0, dealers, recipients,
  recipientKeys: keys.map((k) => toHex(k.publicKey)), tNew: 2, tOld: 3, sourceVersion: 8,
  sourcePolyHash: `0x${'33'.repeat(32)}` as Hex, dealWindow: 1, ackWindow: 1, confirmWindow: 1, quorum: 2, protocolVersion: 1,
};

function dealFrom(dealer: Address, seq: number, constant: bigint): RecordedSubmission {
  const { commitments, shares } = vssDeal(rng, snapshot.tNew, recipients.map((r) => operatorX(r)), constant);
  const sealed = sealDeal(recipients.map((r, j) => ({ publicKey: keys[j]!.publicKey, ctx: sealContext(domain, snapshot, dealer, r), share: fr.toBytes(shares[j]!) })), rng);
  return {
    type: 'deal', session: snapshot.id, from: dealer, commitments: bytesToHex(encodePoly(commitments)),
    ephemeralKey: bytesToHex(sealed.ephemeralPublicKey), sealedShares: sealed.sealed.map(bytesToHex), seq, at: 0,
  };
}

/** Deals of every dealer, with `tweak` added to the constant term of the named ones. */
function deals(tweak: ReadonlyMap<number, bigint> = new Map()): RecordedSubmission[] {
  return dealers.map((d, i) => dealFrom(d, i + 1, fr.add(shareOf(d), tweak.get(i) ?? 0n)));
}

const outcome = (submissions: readonly RecordedSubmission[]) => computeRoundOutcome({ domain, snapshot, submissions, sourcePoly });
const wrong = (o: ReturnType<typeof outcome>) => o.excluded.filter((e) => e.fault === 'wrong-constant-term').map((e) => e.dealer);

describe('reshare constant terms, checked in one batch', () => {
  it('an honest round: every dealer qualifies and the new polynomial keeps A_0 == MPK', () => {
    const o = outcome(deals());
    assert.deepEqual(o.excluded, []);
    assert.deepEqual(o.qual, dealers);
    assert.ok(o.ok && bls.g2.equals(o.publicPoly[0]!, sourcePoly[0]!));
  });

  it('a single dealer with a wrong constant term is named, and only it', () => {
    const o = outcome(deals(new Map([[4, 1n]])));
    assert.deepEqual(wrong(o), [dealers[4]]);
    assert.deepEqual(o.qual, dealers.filter((_, i) => i !== 4));
    assert.ok(o.ok && bls.g2.equals(o.publicPoly[0]!, sourcePoly[0]!));
  });

  it('two dealers whose errors cancel in an unweighted sum are both named', () => {
    const delta = fr.random(rng);
    const o = outcome(deals(new Map([[1, delta], [2, fr.neg(delta)]])));
    assert.deepEqual(wrong(o), [dealers[1], dealers[2]]);
    assert.equal(o.ok, true);
  });

  it('too many wrong constant terms leave fewer than t_old dealers: the round fails', () => {
    const o = outcome(deals(new Map([[0, 5n], [1, 6n], [2, 7n], [3, 8n]])));
    assert.deepEqual(wrong(o), dealers.slice(0, 4));
    assert.ok(!o.ok && o.reason === 'insufficient-qual' && o.need === 3);
  });
});
