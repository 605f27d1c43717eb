// Genesis rules (SPEC 1.4, 3, 6): genesis happens once, only armed, with |QUAL| ≥ t ≥ 2;
// thresholds outside the bounds are refused, and a session that would use one never opens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerError } from '../../src/protocol/ledger.ts';
import { withholdDeal } from '../../src/sim/byzantine.ts';
import { Scenario } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertVersionSound, range } from './helpers.ts';

const refusedWith = (code: string) => (e: unknown) => e instanceof LedgerError && e.code === code;

describe('genesis rules', () => {
  it('never happens unarmed: every boundary\'s openSession is refused and no MPK is pinned', async () => {
    const run = await new Scenario({ seed: 'unarmed', n: 5 }).genesis({ arm: false }).run();
    const [g] = run.rounds;
    assert.equal(g?.outcome, 'not-opened');
    assert.deepEqual(g?.refusals, ['GenesisNotArmed']);
    assert.equal(await run.sim.ledger.latestSessionId(), 0);
    assert.equal(run.mpk, null);
  });

  it('never with a single registered operator', async () => {
    const run = await new Scenario({ seed: 'single', n: 1 })
      .governance(async (gov) => {
        await assert.rejects(gov.armGenesis(1), refusedWith('BadParameter'), 'armGenesis(1) is refused');
      })
      .genesis({ minOperators: 2 })
      .run();
    assert.equal(run.rounds[0]?.outcome, 'not-opened');
    assert.deepEqual(run.rounds[0]?.refusals, ['NotEnoughOperators']);
    assert.equal(run.mpk, null);
  });

  it('never with |QUAL| < t: two withheld deals out of five (t = 4) fail the round; a later full one succeeds', async () => {
    const run = await new Scenario({ seed: 'qual-below-t', n: 5 })
      .genesis().byzantine(0, withholdDeal()).byzantine(1, withholdDeal())
      .genesis()
      .run();
    const [bad, good] = run.rounds;
    assert.ok(bad && good);
    assert.equal(bad.outcome, 'failed');
    assert.ok(bad.chain && !bad.chain.ok && bad.chain.qual.length === 3 && bad.chain.need === 4);
    assertHonestAgree(bad, range(5));
    assert.equal(good.snapshot?.kind, 'dkg', 'no MPK was pinned: the next session is a DKG again');
    await assertVersionSound(run, good, range(5));
  });

  it('thresholds outside max(2, floor(n/2)+1) ≤ t ≤ n are refused, and a session never uses one', async () => {
    const run = await new Scenario({ seed: 'bounds', n: 5 })
      .governance(async (gov) => {
        for (const t of [1, 2, 6]) await assert.rejects(gov.setThresholdOverride(t), refusedWith('ThresholdOutOfBounds'), `t=${t}`);
        await gov.setThresholdOverride(3);
      })
      .genesis()
      // t = 5 was in bounds for five members; after one deregisters, 5 > 4 members: the plan refuses.
      .reshare()
      .governance(async (gov, sim) => {
        await gov.setThresholdOverride(5);
        assert.equal(await sim.operatorWrite(4, 'deregister', (w) => w.deregister()), null);
      })
      .run();
    const [g, r] = run.rounds;
    assert.equal(g?.snapshot?.tNew, 3, 'the override applies to genesis');
    await assertVersionSound(run, g as NonNullable<typeof g>, range(5));
    assert.equal(r?.outcome, 'not-opened');
    assert.ok(r?.refusals.includes('ThresholdOverrideNoLongerFits'), `refusals: ${r?.refusals.join(', ')}`);
    assert.equal((await run.sim.ledger.activeVersion())?.id, g?.session, 'the genesis version stays active');
  });
});
