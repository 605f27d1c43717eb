// Byzantine operators (issue 3): each behaviour from `src/sim/byzantine.ts` against honest
// nodes. For every one: honest nodes reach the same outcome (QUAL and poly hash from chain
// data), the cheater is excluded or its complaint is void, the MPK is preserved, and no
// honest node's share is revealed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from '../../src/protocol/ledger.ts';
import type { DealerFault, VoidComplaint } from '../../src/protocol/round-outcome.ts';
import {
  badShares, complaintSpam, falseComplaint, malformedDeal, registerMany, withholdAck, withholdConfirm, wrongConstant, type Behaviour,
} from '../../src/sim/byzantine.ts';
import { Scenario, type RoundReport, type ScenarioResult } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertNoHonestShareRevealed, assertVersionSound, g2Hex, range, reconstruct, sharesOf } from './helpers.ts';

interface Case {
  readonly name: string;
  readonly behaviour: () => Behaviour;
  /** Where the cheater acts. */
  readonly round: 'genesis' | 'reshare';
  readonly excluded: ReadonlyArray<DealerFault>;
  /** Expected void complaints as [complainer, dealer, reason]. */
  readonly voids: (run: ScenarioResult) => ReadonlyArray<[number, number, VoidComplaint['reason']]>;
}

const CHEATER = 4;
const HONEST = [0, 1, 2, 3];

const CASES: Case[] = [
  { name: 'malformed deal (bad commitment bytes) in the genesis DKG', behaviour: malformedDeal, round: 'genesis', excluded: ['malformed-deal'], voids: () => [] },
  { name: 'malformed deal in a reshare', behaviour: malformedDeal, round: 'reshare', excluded: ['malformed-deal'], voids: () => [] },
  { name: 'bad shares sealed to two recipients', behaviour: () => badShares({ to: [0, 1] }), round: 'reshare', excluded: ['complaint-upheld'], voids: () => [] },
  { name: 'bad share in the genesis DKG', behaviour: () => badShares({ to: [2] }), round: 'genesis', excluded: ['complaint-upheld'], voids: () => [] },
  { name: 'reshare deal whose constant term would change the secret', behaviour: wrongConstant, round: 'reshare', excluded: ['wrong-constant-term'], voids: () => [] },
  { name: 'false complaint with a valid DLEQ (a true reveal of a valid share)', behaviour: () => falseComplaint({ against: 0, proof: 'valid' }), round: 'reshare', excluded: [], voids: () => [[CHEATER, 0, 'share-valid']] },
  { name: 'false complaint with an invalid proof', behaviour: () => falseComplaint({ against: 1, proof: 'invalid' }), round: 'reshare', excluded: [], voids: () => [[CHEATER, 1, 'bad-proof']] },
  { name: 'complaint spam against every dealer', behaviour: complaintSpam, round: 'reshare', excluded: [], voids: () => range(5).map((d) => [CHEATER, d, 'share-valid'] as [number, number, 'share-valid']) },
  { name: 'withheld ack', behaviour: withholdAck, round: 'reshare', excluded: [], voids: () => [] },
  { name: 'withheld confirmation', behaviour: withholdConfirm, round: 'reshare', excluded: [], voids: () => [] },
];

function check(run: ScenarioResult, r: RoundReport, c: Case): Promise<void> {
  const addr = (i: number): Address => run.sim.op(i).address;
  assert.equal(r.outcome, 'completed', `${c.name}: the round completes`);
  assert.deepEqual(r.chain?.excluded.map((e) => [e.dealer, e.fault]), c.excluded.map((f) => [addr(CHEATER), f]), 'exclusions');
  // A second complaint against a dealer already out is not judged ('dealer-already-out'); it
  // must name an excluded dealer. The others are compared as a set (ack order varies).
  const voids = r.chain?.voidComplaints ?? [];
  const out = new Set(r.chain?.excluded.map((e) => e.dealer));
  for (const v of voids.filter((v) => v.reason === 'dealer-already-out')) assert.ok(out.has(v.dealer), `${v.complainer}'s complaint names ${v.dealer}, not excluded`);
  const sorted = (xs: string[][]) => xs.map((x) => x.join(' ')).sort();
  assert.deepEqual(
    sorted(voids.filter((v) => v.reason !== 'dealer-already-out').map((v) => [v.complainer, v.dealer, v.reason])),
    sorted(c.voids(run).map(([a, b, why]) => [addr(a), addr(b), why])),
    'void complaints',
  );
  assert.deepEqual(r.chain?.qual, r.snapshot?.dealers.filter((d) => !(c.excluded.length > 0 && d === addr(CHEATER))), 'QUAL');
  assertHonestAgree(r, HONEST);
  return assertNoHonestShareRevealed(run, r, [CHEATER]);
}

describe('Byzantine operators', () => {
  for (const c of CASES) {
    it(`${c.name}: honest nodes agree, the cheater is excluded or voided, MPK kept, no honest share revealed`, async () => {
      const s = new Scenario({ seed: `byzantine/${c.name}`, n: 5 }).genesis();
      if (c.round === 'genesis') s.byzantine(CHEATER, c.behaviour());
      else s.reshare().byzantine(CHEATER, c.behaviour());
      const run = await s.run();
      const r = run.rounds.at(-1) as RoundReport;
      await check(run, r, c);
      // Cryptographic truth: the honest holders' shares reconstruct the pinned MPK.
      const honest = sharesOf(r, run).filter((h) => HONEST.includes(h.index));
      assert.equal(g2Hex(reconstruct(honest.slice(0, r.snapshot?.tNew))), run.mpk);
      if (c.round === 'reshare') {
        const g = run.rounds[0] as RoundReport;
        assert.equal(reconstruct(honest), reconstruct(sharesOf(g, run).slice(0, 4)), 'MPK and secret preserved');
      }
    });
  }

  it('two Byzantine dealers cannot stall a round (n = 7, t = 5: bad shares + malformed deal, both withholding confirmations)', async () => {
    const run = await new Scenario({ seed: 'byzantine/two', n: 7 })
      .genesis()
      .reshare().byzantine(5, badShares({ to: [0] }), withholdConfirm()).byzantine(6, malformedDeal(), withholdConfirm())
      .run();
    const r = run.rounds[1] as RoundReport;
    assert.equal(r.outcome, 'completed');
    assert.deepEqual(r.chain?.excluded.map((e) => e.fault), ['complaint-upheld', 'malformed-deal']);
    assert.equal(r.chain?.qual.length, 5, '|QUAL| = t_old = 5');
    assert.equal((await run.sim.ledger.getSubmissions(r.session as number)).filter((s) => s.type === 'confirm').length, 5, 'the quorum max(5, 4) from honest nodes alone');
    assertHonestAgree(r, range(5));
    await assertNoHonestShareRevealed(run, r, [5, 6]);
    await assertVersionSound(run, r, range(7));
  });

  it('registering many operators: the allow-list refuses them; allowed ones enter one per session (churn cap)', async () => {
    const sybils = registerMany({ count: 4 });
    const run = await new Scenario({ seed: 'byzantine/sybil', n: 5 })
      .genesis()
      .reshare().byzantine(CHEATER, sybils)
      .reshare().governance(async (gov, sim) => {
        // Suppose governance was fooled into allowing them: the cap still admits one per session.
        for (const label of sybils.labels) {
          await gov.allowOperator(sim.identity(label).address, true);
          assert.equal(await sim.register(sim.identity(label)), null);
        }
      })
      .run();
    const [, refused, capped] = run.rounds as RoundReport[];
    assert.ok(refused && capped);
    const notes = run.sim.transcript.filter((e) => e.kind === 'refused' && e.detail.startsWith('register'));
    assert.equal(notes.length, 4, 'four registrations refused');
    assert.ok(notes.every((e) => e.detail.endsWith('NotAllowed')));
    assert.equal(refused.snapshot?.recipients.length, 5);
    // Five holders: cap max(1, floor(5/3)) = 1. The silent Sybil never confirms; the five honest do.
    assert.equal(capped.snapshot?.recipients.length, 6);
    assert.equal(capped.outcome, 'completed');
    assertHonestAgree(capped, range(5));
    assert.equal(g2Hex(reconstruct(sharesOf(capped, run).slice(0, capped.snapshot?.tNew))), run.mpk);
  });
});
