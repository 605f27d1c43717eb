// Regression (found by the simulator): computeRoundOutcome memoized on (domain, session id,
// digest of deals and acks) only. Two sessions with the same id on two ledgers of one
// registry (the simulator runs several plans from one seed in one process; a redeployed
// devnet does the same) can carry the same deals under different snapshots or source
// polynomials, and the second caller got the first one's verdict: a dealer missing from one
// snapshot, or a wrong constant term against the other source, went unnoticed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair, sealDeal } from '../../src/crypto/seal.ts';
import { deal as vssDeal, publicShare } from '../../src/crypto/vss.ts';
import { sealContext } from '../../src/protocol/deal-codec.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, RecordedSubmission, SessionSnapshot } from '../../src/protocol/ledger.ts';
import { computeRoundOutcome, encodePoly } from '../../src/protocol/round-outcome.ts';

const rng = seededRng('round-outcome-memo');
const domain = makeDomain({ chainId: 31337n, registry: `0x${'ab'.repeat(20)}` });
const addr = (i: number): Address => `0x${(i + 1).toString(16).padStart(2, '0').repeat(20)}`;
const recipients = [addr(0), addr(1), addr(2)];
const keys = recipients.map(() => generateSealKeyPair(rng));

function snapshot(over: Partial<SessionSnapshot>): SessionSnapshot {
  return {
    id: 7, kind: 'dkg', boundary: 0, openedAt: 0, dealers: recipients.slice(0, 2), recipients,
    recipientKeys: keys.map((k) => toHex(k.publicKey)), tNew: 2, tOld: 0, sourceVersion: 0,
    sourcePolyHash: `0x${'0'.repeat(64)}`, dealWindow: 1, ackWindow: 1, confirmWindow: 1, quorum: 2, protocolVersion: 1, ...over,
  };
}

function dealFrom(s: SessionSnapshot, dealer: Address, constant?: bigint): RecordedSubmission {
  const { commitments, shares } = vssDeal(rng, s.tNew, s.recipients.map((r) => operatorX(r)), constant);
  const sealed = sealDeal(s.recipients.map((r, j) => ({ publicKey: keys[j]!.publicKey, ctx: sealContext(domain, s, dealer, r), share: fr.toBytes(shares[j]!) })), rng);
  return {
    type: 'deal', session: s.id, from: dealer, commitments: bytesToHex(encodePoly(commitments)),
    ephemeralKey: bytesToHex(sealed.ephemeralPublicKey), sealedShares: sealed.sealed.map(bytesToHex), seq: 1, at: 0,
  };
}

describe('computeRoundOutcome memo', () => {
  it('the same deals under a snapshot with one more dealer give a different verdict', () => {
    const a = snapshot({});
    const subs = [dealFrom(a, addr(0)), { ...dealFrom(a, addr(1)), seq: 2 }];
    const first = computeRoundOutcome({ domain, snapshot: a, submissions: subs, sourcePoly: null });
    assert.deepEqual(first.excluded, []);
    const b = snapshot({ dealers: recipients });
    const second = computeRoundOutcome({ domain, snapshot: b, submissions: subs, sourcePoly: null });
    assert.deepEqual(second.excluded.map((e) => [e.dealer, e.fault]), [[addr(2), 'no-deal']]);
  });

  it('the same reshare deals judged against another source polynomial give a different verdict', () => {
    // Source version: degree-1 polynomial f with shares f(x_i) for the two dealers.
    const f = [fr.random(rng), fr.random(rng)];
    const G = bls.g2.generator;
    const poly = f.map((a) => bls.g2.mul(G, a));
    const other = [bls.g2.mul(G, fr.random(rng)), poly[1]!];
    const share = (x: bigint) => fr.add(f[0]!, fr.mul(f[1]!, x));
    const s = snapshot({ kind: 'reshare', tOld: 2, sourceVersion: 6, sourcePolyHash: `0x${'11'.repeat(32)}` as Hex });
    const subs = [dealFrom(s, addr(0), share(operatorX(addr(0)))), { ...dealFrom(s, addr(1), share(operatorX(addr(1)))), seq: 2 }];
    assert.ok(bls.g2.equals(publicShare(poly, operatorX(addr(0))), bls.g2.mul(G, share(operatorX(addr(0))))));
    const good = computeRoundOutcome({ domain, snapshot: s, submissions: subs, sourcePoly: poly });
    assert.equal(good.ok, true);
    const s2 = { ...s, sourcePolyHash: `0x${'22'.repeat(32)}` as Hex };
    const bad = computeRoundOutcome({ domain, snapshot: s2, submissions: subs, sourcePoly: other });
    assert.deepEqual(bad.excluded.map((e) => e.fault), ['wrong-constant-term', 'wrong-constant-term']);
    assert.equal(bad.ok, false);
  });
});
