// Operators joining, leaving and rotating (issue 3, SPEC 3 "leaving", SPEC 6 rotation playbook).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertVersionSound, g2Hex, range, reconstruct, sharesOf } from './helpers.ts';

describe('membership', () => {
  it('a new operator joins: it receives a share of the same secret and deals in the next round', async () => {
    const run = await new Scenario({ seed: 'join', n: 4 }).genesis().reshare({ add: 1 }).reshare().run();
    const [g, r1, r2] = run.rounds;
    assert.ok(g && r1 && r2);
    assert.ok(!r1.snapshot?.dealers.includes(run.sim.op(4).address), 'a newcomer does not deal in the round it joins');
    assert.ok(r1.snapshot?.recipients.includes(run.sim.op(4).address));
    const shares = await assertVersionSound(run, r1, range(5));
    assert.equal(reconstruct(shares.slice(1)), reconstruct(sharesOf(g, run)), 'the newcomer\'s share belongs to the same x');
    assert.ok(r2.chain?.qual.includes(run.sim.op(4).address), 'the newcomer deals in the next reshare');
    await assertVersionSound(run, r2, range(5));
  });

  it('an operator leaves: it deals once more, receives nothing, and its old share no longer combines', async () => {
    const run = await new Scenario({ seed: 'leave', n: 5 }).genesis().reshare({ remove: [4] }).run();
    const [g, r] = run.rounds;
    assert.ok(g && r);
    const leaver = run.sim.op(4).address;
    assert.ok(r.snapshot?.dealers.includes(leaver) && !r.snapshot.recipients.includes(leaver));
    assert.ok(r.chain?.qual.includes(leaver), 'the leaver dealt its share');
    assert.equal(r.snapshot?.tNew, 3, 'default t for the four remaining operators');
    const shares = await assertVersionSound(run, r, range(4));
    assert.equal(await run.sim.ledger.getOperator(leaver), null, 'removed from the registry once the reshare completed');
    // Its version-1 share with two version-2 shares (t_new = 3) is garbage.
    const old = sharesOf(g, run).find((s) => s.index === 4);
    assert.ok(old);
    assert.notEqual(g2Hex(reconstruct([old, ...shares.slice(0, 2)])), run.mpk);
    assert.equal(g2Hex(reconstruct(shares.slice(0, 3))), run.mpk);
  });

  it('rotation 3 → add 3 → remove the original 3 succeeds while the leavers still run and deal', async () => {
    // The churn cap admits max(1, floor(holders/3)) = 1 newcomer per session at 3, 4 and 5
    // holders, whatever governance sets: three reshares to grow to six.
    const run = await new Scenario({ seed: 'rotation', n: 3 })
      .genesis()
      .reshare({ churnCap: 3, add: 3 })
      .reshare()
      .reshare()
      .reshare({ remove: [0, 1, 2] })
      .run();
    const [, g1, g2, grow, rotate] = run.rounds;
    assert.ok(g1 && g2 && grow && rotate);
    assert.deepEqual([g1, g2, grow].map((r) => r.snapshot?.recipients.length), [4, 5, 6], 'one newcomer per session');
    assert.equal(grow.snapshot?.tNew, 4, 'six holders: t = 4');
    assert.equal(rotate.snapshot?.tOld, 4);
    assert.equal(rotate.snapshot?.tNew, 2, 'three new holders: t = 2');
    assert.equal(rotate.chain?.qual.length, 6, 'the three leavers dealt');
    await assertVersionSound(run, rotate, [3, 4, 5]);
    for (const i of [0, 1, 2]) assert.equal(await run.sim.ledger.getOperator(run.sim.op(i).address), null);
  });

  it('rotation with the leavers gone is refused (|QUAL| < t_old): the old version stays, the MPK is intact', async () => {
    const run = await new Scenario({ seed: 'rotation-gone', n: 3 })
      .genesis()
      .reshare({ add: 3 })
      .reshare()
      .reshare()
      .reshare({ eject: [0, 1, 2] }).stop(0).stop(1).stop(2)
      .run();
    const [, , , grow, rotate] = run.rounds;
    assert.ok(grow && rotate);
    assert.equal(grow.snapshot?.recipients.length, 6);
    assert.equal(rotate.outcome, 'failed');
    assert.equal(rotate.chain?.ok, false);
    assert.equal(rotate.chain?.qual.length, 3);
    assert.ok(rotate.chain && !rotate.chain.ok && rotate.chain.need === 4);
    assertHonestAgree(rotate, [3, 4, 5]);
    const active = await run.sim.ledger.activeVersion();
    assert.equal(active?.id, grow.session, 'the six-holder version stays active');
    assert.equal(active?.publicPoly.slice(0, 194), run.mpk);
    // The three survivors still hold their shares of the old version (3 < t = 4 of them).
    for (const i of [3, 4, 5]) assert.equal(run.sim.op(i).store.getVersion(grow.session as number)?.status, 'active');
  });

  it('rotation when the leavers cannot deal: governance removes them in steps, lowering t so each step keeps ≥ t_old dealers', async () => {
    // The maths: a version with 6 holders has t ≥ max(2, floor(6/2)+1) = 4, so 3 survivors can
    // never reshare it, and no override can go below 4 while 6 operators are members. What
    // works is to let the leavers go in steps, each step resharing to the remaining members
    // with a threshold no higher than the number of dealers that will still run next time:
    //   six: 6 holders, t = 4 (pinned by the override)   originals 0, 1 gone, ejected;
    //        override → 3 (bounds for 4 members: 3..4)   4 running dealers ≥ t_old 4
    //   four: holders {2, 3, 4, 5}, t = 3                original 2 gone, ejected;
    //        override → 0 (default 2 for 3 members)      3 running dealers ≥ t_old 3
    //   three: holders {3, 4, 5}, t = 2                  rotation done, same x.
    // Growing to six takes three reshares (one newcomer each at 3, 4 and 5 holders). Had the
    // override stayed at 4, the four-holder version would need all four of its holders and the
    // last step would be refused (checked below).
    const plan = (lower: boolean) =>
      new Scenario({ seed: 'rotation-steps', n: 3 })
        .genesis()
        .reshare({ add: 3, threshold: 4 })
        .reshare()
        .reshare()
        .reshare({ eject: [0, 1], threshold: lower ? 3 : 4 }).stop(0).stop(1)
        .reshare({ eject: [2], threshold: lower ? 0 : 3 }).stop(2);
    const run = await plan(true).run();
    const [g, , , six, four, three] = run.rounds;
    assert.ok(g && six && four && three);
    assert.deepEqual(run.rounds.map((r) => r.outcome), ['completed', 'completed', 'completed', 'completed', 'completed', 'completed']);
    assert.deepEqual([six.snapshot?.recipients.length, six.snapshot?.tNew], [6, 4]);
    assert.equal(four.snapshot?.tOld, 4);
    assert.equal(four.chain?.qual.length, 4);
    assert.equal(three.snapshot?.tOld, 3);
    assert.equal(three.chain?.qual.length, 3);
    const shares = await assertVersionSound(run, three, [3, 4, 5]);
    assert.equal(reconstruct(shares.slice(0, 2)), reconstruct(sharesOf(g, run).slice(0, 2)), 'same x after the rotation');

    const stuck = await plan(false).run();
    const last = stuck.rounds[5];
    assert.ok(last);
    // With t kept at 4 for the four holders, the last step opens (t_new = 3 is in bounds for
    // three members) but only three of the four dealers run: refused, the four-holder version stays active.
    assert.equal(stuck.rounds[4]?.snapshot?.tNew, 4);
    assert.equal(last.outcome, 'failed', 'three running dealers < t_old 4');
    assert.equal((await stuck.sim.ledger.activeVersion())?.id, stuck.rounds[4]?.session);
    assert.equal(stuck.mpk, (await stuck.sim.ledger.getVersion(stuck.rounds[4]?.session as number))?.publicPoly.slice(0, 194));
  });
});
