// Security review, issue 12 finding 2 (node side): one operator's invalid session key used to
// stop genesis and every reshare. The registry of older deployments checked only the 02/03
// prefix of a session key; an operator that published an x with no point on secp256k1 (or
// x ≥ p, …) made every honest dealer's sealing throw, so nobody dealt, the session failed,
// and the next one failed the same way.
//
// These tests run the real round machines (`stepRound`: dealer, recipient) of four operators
// on hand-built snapshots — a snapshot is a plain object, so one recipient's key can be any
// bytes an old registry let through — then compute the outcome every node computes
// (`computeRoundOutcome`). For every class of invalid encoding: the dealers seal around that
// recipient, the round completes for everyone else with the MPK unchanged, every honest share
// verifies (s_j·G2 == PK_j), and the bad recipient fails cleanly and cannot disqualify anyone,
// even with well-formed complaints.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak256 } from 'viem';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { G2 } from '../../src/crypto/bls12381/types.ts';
import { revealForComplaint } from '../../src/crypto/chaum-pedersen.ts';
import { makeDomain } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { interpolateAtZero } from '../../src/crypto/polynomial.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { encodeSealContext, generateSealKeyPair, isValidSealPublicKey, open, sealDeal, type SealKeyPair } from '../../src/crypto/seal.ts';
import { deal as vssDeal, publicShare } from '../../src/crypto/vss.ts';
import { parseDeal, recipientSessionKey, sealContext } from '../../src/protocol/deal-codec.ts';
import { bytesToHex, hexToBytes } from '../../src/protocol/hex.ts';
import type { Address, Complaint, Hex, RecordedSubmission, Session, SessionSnapshot } from '../../src/protocol/ledger.ts';
import { UNUSABLE_OWN_KEY_REASON } from '../../src/protocol/recipient.ts';
import { initRound, stepRound, type RoundState } from '../../src/protocol/round-driver.ts';
import { computeRoundOutcome, encodePoly, type RoundOutcome } from '../../src/protocol/round-outcome.ts';
import { snapshotHash } from '../../src/protocol/snapshot-hash.ts';
import type { Outgoing } from '../../src/protocol/transition.ts';

const REGISTRY: Address = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const domain = makeDomain({ chainId: 31337, registry: REGISTRY });
const OPS: readonly Address[] = [1, 2, 3, 4].map((i) => `0x${'0'.repeat(38)}b${i}` as Address);
const BAD = 3;
const HONEST = [0, 1, 2] as const;
const keys: readonly SealKeyPair[] = OPS.map((_, i) => generateSealKeyPair(seededRng(`session key ${i}`)));
const WINDOW = 10;
const OPENED = 1_000;
const T = 3;
const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`;

// ---------------------------------------------------------------------------------------------
// The invalid encodings, by class

const Fp = secp256k1.Point.Fp;
const P = Fp.ORDER;
const hex32 = (v: bigint) => v.toString(16).padStart(64, '0');
const onCurve = (x: bigint): boolean => {
  try {
    Fp.sqrt(Fp.add(Fp.pow(x, 3n), 7n));
    return true;
  } catch {
    return false;
  }
};
/** The smallest x ≥ 1 with and without a point: x + p still fits in 32 bytes for such small x. */
let xOn = 1n;
while (!onCurve(xOn)) xOn++;
let xOff = 1n;
while (onCurve(xOff)) xOff++;
const G = secp256k1.Point.BASE;
const gCompressed = bytesToHex(G.toBytes(true));
const gUncompressed = bytesToHex(G.toBytes(false));

const CLASSES: readonly { readonly name: string; readonly keys: readonly Hex[] }[] = [
  { name: 'an off-curve x', keys: [`0x02${hex32(xOff)}`, `0x03${hex32(xOff)}`] },
  // x + p: a lenient decoder that reduces mod p would read the valid point with x = xOn.
  { name: 'x ≥ p', keys: [`0x02${hex32(P + xOn)}`, `0x03${hex32(P)}`, `0x02${'ff'.repeat(32)}`] },
  { name: 'x = 0', keys: [`0x02${'00'.repeat(32)}`, `0x03${'00'.repeat(32)}`] },
  { name: 'a wrong prefix', keys: [`0x04${gCompressed.slice(4)}`, `0x05${gCompressed.slice(4)}`, `0x00${gCompressed.slice(4)}`] },
  { name: 'a wrong length', keys: [`0x${gCompressed.slice(4)}`, `${gCompressed}00`, gUncompressed, '0x'] },
  { name: 'the identity', keys: ['0x00', `0x${'00'.repeat(33)}`] },
];

// ---------------------------------------------------------------------------------------------
// Running a round of the real machines

interface Source {
  readonly version: number;
  readonly poly: readonly G2[];
  readonly shares: ReadonlyMap<Address, bigint>;
}

interface RoundRun {
  readonly snapshot: SessionSnapshot;
  readonly states: ReadonlyMap<Address, RoundState>;
  readonly submissions: readonly RecordedSubmission[];
  readonly outcome: RoundOutcome;
  /** The share each confirming recipient produced (returned beside its state). */
  readonly produced: ReadonlyMap<Address, bigint>;
}

function snapshotOf(id: number, recipientKeys: readonly Hex[], source: Source | null): SessionSnapshot {
  return {
    id, kind: source ? 'reshare' : 'dkg', boundary: OPENED, openedAt: OPENED,
    dealers: OPS, recipients: OPS, recipientKeys,
    tNew: T, tOld: source ? T : 0, sourceVersion: source?.version ?? 0,
    sourcePolyHash: source ? keccak256(encodePoly(source.poly)) : ZERO_HASH,
    dealWindow: WINDOW, ackWindow: WINDOW, confirmWindow: WINDOW, quorum: T, protocolVersion: 1,
  };
}

function toRecorded(from: Address, o: Outgoing, seq: number, at: number): RecordedSubmission {
  return { ...o.body, type: o.kind, from, seq, at } as RecordedSubmission;
}

/**
 * Every operator steps its machines in the deal, ack and confirm phases, seeing what the
 * others submitted before it. An operator holds the secret of its listed key only when that
 * key is its own (the holder of an invalid key has none: no secret belongs to a non-point).
 * The hooks may change the ledger's submissions after the deal or the ack phase (a byzantine
 * deal or ack).
 */
function runRound(
  snapshot: SessionSnapshot,
  source: Source | null,
  mpk: G2 | null,
  hooks: { readonly afterDeals?: (subs: RecordedSubmission[]) => void; readonly afterAcks?: (subs: RecordedSubmission[]) => void } = {},
): RoundRun {
  const session: Session = {
    snapshot,
    snapshotHash: snapshotHash(snapshot),
    progress: {
      dealClosedAt: null, ackClosedAt: null, confirmClosedAt: null, dealCount: 0, ackCount: 0, confirmCount: 0,
      counter: 0, digest: ZERO_HASH, outcome: 'pending', completedPolyHash: null,
    },
  };
  const submissions: RecordedSubmission[] = [];
  const states = new Map(OPS.map((a) => [a, initRound(session, a, null)] as const));
  const produced = new Map<Address, bigint>();
  const phase = (now: number) => {
    for (const [i, me] of OPS.entries()) {
      const own = bytesToHex(keys[i]!.publicKey) === snapshot.recipientKeys[i];
      const step = stepRound(
        states.get(me)!,
        { session, submissions: [...submissions], now, sourcePoly: source?.poly ?? null, mpk },
        { sourceShare: source?.shares.get(me) ?? null, sessionSecret: own ? keys[i]!.secretKey : null },
        { rng: seededRng(`round ${snapshot.id} ${i} ${now}`), domain, me, consentThreshold: null },
      );
      states.set(me, step.state);
      if (step.produced) produced.set(me, step.produced.share);
      for (const o of step.outbox) submissions.push(toRecorded(me, o, submissions.length + 1, now));
    }
  };
  phase(OPENED);
  hooks.afterDeals?.(submissions);
  phase(OPENED + WINDOW);
  hooks.afterAcks?.(submissions);
  phase(OPENED + 2 * WINDOW);
  const outcome = computeRoundOutcome({ domain, snapshot, submissions, sourcePoly: source?.poly ?? null });
  return { snapshot, states, submissions, outcome, produced };
}

/** The confirmed share of every operator whose recipient confirmed, by address. */
function confirmedShares(run: RoundRun): Map<Address, bigint> {
  const out = new Map<Address, bigint>();
  for (const [a, s] of run.states) {
    const share = s.recipient?.status === 'confirmed' ? run.produced.get(a) : undefined;
    if (share !== undefined) out.set(a, share);
  }
  return out;
}

const validKeys = (): Hex[] => keys.map((k) => bytesToHex(k.publicKey));
const withBadKey = (bad: Hex): Hex[] => validKeys().map((k, i) => (i === BAD ? bad : k));
const g2 = (s: bigint) => bls.g2.mul(bls.g2.generator, s);
const secretOf = (shares: ReadonlyMap<Address, bigint>, who: readonly Address[]) =>
  interpolateAtZero(who.map((a) => operatorX(a)), who.map((a) => shares.get(a) as bigint));

/** Genesis with four valid keys: the source version every reshare below starts from. */
const genesis = (() => {
  const run = runRound(snapshotOf(1, validKeys(), null), null, null);
  assert.ok(run.outcome.ok, 'genesis completes');
  const shares = confirmedShares(run);
  assert.equal(shares.size, 4);
  return { run, source: { version: 1, poly: run.outcome.publicPoly, shares } as Source, mpk: run.outcome.publicPoly[0] as G2 };
})();

/**
 * A complaint of the bad-key recipient against `dealer`'s deal that is as good as it can make
 * one: K = x'·E with a valid DLEQ proof for a secret x' it knows (for X' = x'·G, not the key
 * the snapshot lists: no secret belongs to that one).
 */
function forgedComplaint(snapshot: SessionSnapshot, deal: RecordedSubmission & { type: 'deal' }): Complaint {
  const ctx = encodeSealContext(sealContext(domain, snapshot, deal.from, OPS[BAD] as Address));
  const { revealedKey, proof } = revealForComplaint(keys[BAD]!.secretKey, hexToBytes(deal.ephemeralKey) as Uint8Array, ctx, seededRng('forged'));
  return { dealer: deal.from, sharedKey: bytesToHex(revealedKey), proof: bytesToHex(proof) };
}

/**
 * The acceptance check of a round with recipient BAD's key invalid: every dealer dealt and
 * named BAD as sealed around, every deal is well-formed, QUAL is every dealer, the three
 * others confirm the outcome's hash (the quorum) with shares that verify, BAD failed cleanly
 * and sent nothing as a recipient, and its complaints are void.
 */
function assertCompletesAround(run: RoundRun, badKey: Hex): void {
  const bad = OPS[BAD] as Address;
  assert.equal(recipientSessionKey(run.snapshot, BAD), null, `${badKey} is not a usable key`);
  const deals = run.submissions.filter((s): s is RecordedSubmission & { type: 'deal' } => s.type === 'deal');
  assert.deepEqual(deals.map((d) => d.from), OPS, 'every dealer dealt, the one with the bad key included');
  for (const d of deals) {
    assert.ok(parseDeal(run.snapshot, d).ok, `${d.from}'s deal is well-formed (48-byte slot for ${bad})`);
    assert.deepEqual(run.states.get(d.from)?.dealer?.unusableKeys, [bad], `${d.from} says it sealed around ${bad}`);
  }
  assert.ok(run.outcome.ok, `the round completes (${run.outcome.ok ? '' : run.outcome.reason})`);
  if (!run.outcome.ok) return;
  assert.deepEqual(run.outcome.qual, OPS, 'no dealer is disqualified');
  assert.deepEqual(run.outcome.excluded, []);

  const badState = run.states.get(bad)?.recipient;
  assert.equal(badState?.status, 'failed');
  assert.equal(badState?.reason, UNUSABLE_OWN_KEY_REASON);
  assert.ok(!run.submissions.some((s) => s.from === bad && s.type === 'confirm'), 'the bad-key recipient cannot confirm');

  const confirms = run.submissions.filter((s) => s.type === 'confirm');
  assert.deepEqual(confirms.map((c) => c.from), HONEST.map((i) => OPS[i]), 'the three others confirm');
  for (const c of confirms) assert.equal(c.type === 'confirm' && c.publicPolyHash, run.outcome.publicPolyHash);
  assert.ok(confirms.length >= run.snapshot.quorum, 'a quorum of confirmations');
  const shares = confirmedShares(run);
  for (const i of HONEST) {
    const a = OPS[i] as Address;
    const s = shares.get(a);
    assert.ok(s !== undefined, `${a} holds a share`);
    assert.ok(bls.g2.equals(g2(s), publicShare(run.outcome.publicPoly, operatorX(a))), `${a}: s_j·G2 == PK_j`);
  }
}

// ---------------------------------------------------------------------------------------------

describe('a recipient with an invalid session key is its own fault, never a dealer\'s (issue 12, finding 2)', () => {
  for (const cls of CLASSES) {
    it(`dealers seal around a recipient with ${cls.name} as its session key and the reshare completes with the MPK unchanged`, () => {
      for (const [v, badKey] of cls.keys.entries()) {
        const snapshot = snapshotOf(10 + v, withBadKey(badKey), genesis.source);
        // The recipient with the bad key also tries the best complaint it can make against every dealer.
        const run = runRound(snapshot, genesis.source, genesis.mpk, {
          afterAcks: (subs) => {
            const deals = subs.filter((s): s is RecordedSubmission & { type: 'deal' } => s.type === 'deal');
            subs.push({ type: 'ack', session: snapshot.id, from: OPS[BAD] as Address, complaints: deals.map((d) => forgedComplaint(snapshot, d)), seq: subs.length + 1, at: OPENED + WINDOW });
          },
        });
        assertCompletesAround(run, badKey);
        assert.ok(run.outcome.ok);
        assert.deepEqual(
          run.outcome.voidComplaints.map((c) => [c.complainer, c.dealer, c.reason]),
          OPS.map((d) => [OPS[BAD], d, 'recipient-key-invalid']),
          'its complaints are void, never upheld',
        );
        // The MPK is unchanged: A_0 is the pinned MPK, and any three new shares give the old secret.
        assert.ok(bls.g2.equals(run.outcome.publicPoly[0] as G2, genesis.mpk), 'A_0 == MPK');
        const shares = confirmedShares(run);
        const x = secretOf(shares, HONEST.map((i) => OPS[i] as Address));
        assert.ok(bls.g2.equals(g2(x), genesis.mpk), 'x·G2 == MPK from the new shares');
        assert.equal(x, secretOf(genesis.source.shares, OPS.slice(1)), 'the same secret as genesis');
      }
    });
  }

  it('a genesis DKG with one recipient\'s session key off the curve completes for the other three', () => {
    const snapshot = snapshotOf(2, withBadKey(`0x02${hex32(xOff)}`), null);
    const run = runRound(snapshot, null, null);
    assertCompletesAround(run, snapshot.recipientKeys[BAD] as Hex);
    assert.ok(run.outcome.ok);
    const shares = confirmedShares(run);
    assert.ok(bls.g2.equals(g2(secretOf(shares, HONEST.map((i) => OPS[i] as Address))), run.outcome.publicPoly[0] as G2), 'the three shares give x with x·G2 == A_0 (the MPK pinned by this DKG)');
  });

  it('the slot sealed to an unusable key opens for nobody: not with any recipient\'s session secret', () => {
    const snapshot = snapshotOf(3, withBadKey(`0x02${hex32(xOff)}`), genesis.source);
    const run = runRound(snapshot, genesis.source, genesis.mpk);
    for (const d of run.submissions) {
      if (d.type !== 'deal') continue;
      const slot = hexToBytes(d.sealedShares[BAD] as Hex) as Uint8Array;
      for (const k of keys) {
        assert.throws(
          () => open(k.secretKey, hexToBytes(d.ephemeralKey) as Uint8Array, sealContext(domain, snapshot, d.from, OPS[BAD] as Address), slot),
          /authentication failed/,
        );
      }
    }
  });

  it('a dealer cannot pass a valid key off as unusable: the random slot it sent draws an upheld complaint', () => {
    // Dealer 0 deals correctly to everyone but recipient 1, whose valid key it treats as
    // unusable (random bytes). Everyone judges keys with the same decoder, so recipient 1's
    // complaint verifies, its slot does not open, and dealer 0 is out; the round still completes.
    const snapshot = snapshotOf(4, validKeys(), genesis.source);
    const cheat = OPS[0] as Address;
    const run = runRound(snapshot, genesis.source, genesis.mpk, {
      afterDeals: (subs) => {
        const k = subs.findIndex((s) => s.type === 'deal' && s.from === cheat);
        const rng = seededRng('cheat');
        const { commitments, shares } = vssDeal(rng, T, OPS.map((a) => operatorX(a)), genesis.source.shares.get(cheat));
        const { sealed, ephemeralPublicKey } = sealDeal(
          OPS.map((recipient, j) => ({ publicKey: j === 1 ? null : keys[j]!.publicKey, ctx: sealContext(domain, snapshot, cheat, recipient), share: fr.toBytes(shares[j] as bigint) })),
          rng,
        );
        subs[k] = { ...(subs[k] as RecordedSubmission & { type: 'deal' }), commitments: bytesToHex(encodePoly(commitments)), ephemeralKey: bytesToHex(ephemeralPublicKey), sealedShares: sealed.map(bytesToHex) };
      },
    });
    assert.ok(isValidSealPublicKey(keys[1]!.publicKey));
    assert.deepEqual(run.outcome.excluded.map((e) => [e.dealer, e.fault]), [[cheat, 'complaint-upheld']]);
    assert.ok(run.outcome.ok, 'the round completes without the cheater');
    assert.deepEqual(run.outcome.qual, OPS.slice(1));
  });
});
