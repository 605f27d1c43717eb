// ReshareWithThresholdChange (issue 3, SPEC 6): 5 → 7 operators, t 4 → 5 by the governance
// override; the secret survives. The churn cap admits max(1, floor(holders/3)) newcomers per
// session whatever governance sets (issue 12 §3), so the growth takes two reshares.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerError } from '../../src/protocol/ledger.ts';
import { Scenario } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertVersionSound, checkedAppKey, g2Hex, range, reconstruct, sharesOf } from './helpers.ts';

describe('ReshareWithThresholdChange', () => {
  it('5 → 7 operators, t 4 → 5: all seven hold shares of the same x', async () => {
    const run = await new Scenario({ seed: 'threshold-change', n: 5 })
      .genesis()
      // A raised cap cannot beat the bound max(1, floor(5/3)) = 1: six recipients first.
      .reshare({ churnCap: 2, add: 2 })
      // Six holders admit max(1, floor(6/3)) = 2 newcomers; governance pins t = 5 (in bounds
      // for the seven the session will admit: max(2, 4) ≤ 5 ≤ 7).
      .reshare({ threshold: 5 })
      .run();
    const [g, r1, r] = run.rounds;
    assert.ok(g && r1 && r);
    assert.equal(g.snapshot?.tNew, 4);
    assert.deepEqual([r1.snapshot?.recipients.length, r1.snapshot?.tNew], [6, 4], 'one newcomer: six recipients, default t');
    assert.equal(r.snapshot?.tOld, 4);
    assert.equal(r.snapshot?.tNew, 5);
    assert.equal(r.snapshot?.dealers.length, 6, 'the six holders deal');
    assert.equal(r.snapshot?.recipients.length, 7, 'all seven receive');
    assertHonestAgree(r, range(7));
    const shares = await assertVersionSound(run, r, range(7));
    assert.equal(reconstruct(shares.slice(2, 7)), reconstruct(sharesOf(g, run).slice(0, 4)), 'same x before and after');
    assert.notEqual(g2Hex(reconstruct(shares.slice(0, 4))), run.mpk, 'four shares no longer suffice');
    assert.equal(checkedAppKey(run, shares.slice(2), 5, 'app-t'), checkedAppKey(run, sharesOf(g, run), 4, 'app-t'));
  });

  it('without the raised churn cap only one newcomer enters per session', async () => {
    const run = await new Scenario({ seed: 'threshold-change-cap', n: 5 }).genesis().reshare({ add: 2 }).run();
    const r = run.rounds[1];
    assert.ok(r);
    assert.equal(r.snapshot?.recipients.length, 6, 'holders + 1 newcomer');
    assert.ok(!r.snapshot?.recipients.includes(run.sim.op(6).address), 'the second newcomer waits');
    assert.equal(r.outcome, 'completed');
  });

  it('governance cannot set a threshold outside max(2, floor(n/2)+1) ≤ t ≤ n', async () => {
    const run = await new Scenario({ seed: 'threshold-bounds', n: 7 }).run();
    for (const t of [1, 2, 3, 8]) {
      await assert.rejects(run.sim.gov.setThresholdOverride(t), (e: unknown) => e instanceof LedgerError && e.code === 'ThresholdOutOfBounds', `t=${t}`);
    }
    for (const t of [4, 7, 0]) await run.sim.gov.setThresholdOverride(t);
  });
});
