// FullReshareProtocol and ReshareSecretConsistency (issue 3): two reshares keep the MPK and
// the secret; shares of different versions do not mix; app keys do not change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario, type ScenarioResult } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertVersionSound, appKey, checkedAppKey, g2Hex, range, reconstruct, sharesOf } from './helpers.ts';

let cached: Promise<ScenarioResult> | null = null;
/** One run shared by both suites: genesis, then two reshares of the same five operators. */
function twoReshares(): Promise<ScenarioResult> {
  cached ??= new Scenario({ seed: 'full-reshare', n: 5 }).genesis().reshare().reshare().run();
  return cached;
}

describe('FullReshareProtocol', () => {
  it('two reshares complete, each from the previous version, with the MPK unchanged', async () => {
    const run = await twoReshares();
    const [g, r1, r2] = run.rounds;
    assert.ok(g && r1 && r2);
    assert.deepEqual(run.rounds.map((r) => r.outcome), ['completed', 'completed', 'completed']);
    assert.equal(r1.snapshot?.kind, 'reshare');
    assert.equal(r1.snapshot?.sourceVersion, g.session);
    assert.equal(r2.snapshot?.sourceVersion, r1.session);
    assert.equal(r1.snapshot?.sourcePolyHash, g.completedPolyHash);
    assert.equal(r2.snapshot?.sourcePolyHash, r1.completedPolyHash);
    for (const r of [r1, r2]) {
      assertHonestAgree(r, range(5));
      assert.equal(r.chain?.qual.length, 5);
      await assertVersionSound(run, r, range(5));
    }
    // New polynomials, same constant term.
    assert.notEqual(r1.completedPolyHash, g.completedPolyHash);
    assert.notEqual(r2.completedPolyHash, r1.completedPolyHash);
    for (const r of [g, r1, r2]) {
      const v = await run.sim.ledger.getVersion(r.session as number);
      assert.equal(v?.publicPoly.slice(0, 194), run.mpk);
    }
    // Retention: version 1 was deleted once version 2 had been the source of a completed reshare.
    for (const op of run.sim.operators) assert.deepEqual(Object.keys(op.node.mem?.versions ?? {}).map(Number), [2, 3]);
  });
});

describe('ReshareSecretConsistency', () => {
  it('new shares reconstruct the same secret; old shares mixed with new ones do not', async () => {
    const run = await twoReshares();
    const [g, r1, r2] = run.rounds;
    assert.ok(g && r1 && r2);
    const v1 = sharesOf(g, run);
    const v2 = sharesOf(r1, run);
    const v3 = sharesOf(r2, run);
    const x = reconstruct(v1.slice(0, 4));
    assert.equal(g2Hex(x), run.mpk);
    assert.equal(reconstruct(v2.slice(1, 5)), x, 'version 2 shares give the same x');
    assert.equal(reconstruct(v3.slice(0, 4)), x, 'version 3 shares give the same x');
    // Every share changed (fresh polynomials), and a mix of versions is garbage.
    for (let j = 0; j < 5; j++) {
      assert.notEqual(v1[j]?.share, v2[j]?.share);
      assert.notEqual(v2[j]?.share, v3[j]?.share);
    }
    const mixed = [v1[0], v1[1], v3[2], v3[3]].filter((s) => s !== undefined);
    assert.notEqual(g2Hex(reconstruct(mixed)), run.mpk, 'two old + two new shares do not reconstruct x');
    const mixed2 = [v2[0], v3[1], v3[2], v3[3]].filter((s) => s !== undefined);
    assert.notEqual(g2Hex(reconstruct(mixed2)), run.mpk, 'one stale share spoils a quorum');
  });

  it('an app key combined before the reshares equals the one combined after', async () => {
    const run = await twoReshares();
    const [g, , r2] = run.rounds;
    assert.ok(g && r2);
    const before = checkedAppKey(run, sharesOf(g, run), 4, 'app/consistency');
    const after = checkedAppKey(run, sharesOf(r2, run).slice(1), 4, 'app/consistency');
    assert.equal(after, before);
    assert.notEqual(appKey([...sharesOf(g, run).slice(0, 2), ...sharesOf(r2, run).slice(2, 4)], 'app/consistency'), before, 'mixed partials give a wrong key');
  });
});

describe('secrets at rest and in logs', () => {
  it('no share or session secret appears in the transcript; finished rounds are wiped; used session keys are deleted', async () => {
    const run = await twoReshares();
    const secrets = new Set<string>();
    for (const r of run.rounds) for (const n of r.nodes) if (n.version) secrets.add(n.version.share.slice(2));
    for (const op of run.sim.operators) {
      const mem = op.node.mem;
      assert.ok(mem);
      for (const s of Object.values(mem.sessionKeys)) secrets.add(s.slice(2));
      // Only the key now on-chain (published in the last confirmation) is still held.
      const onChain = (await run.sim.ledger.getOperator(op.address))?.sessionKey;
      assert.deepEqual(Object.keys(mem.sessionKeys), [onChain]);
      for (const st of Object.values(mem.rounds)) {
        assert.ok(!('share' in (st.recipient ?? {})), 'no share in a round state');
        assert.deepEqual(st.recipient?.shares ?? {}, {});
        assert.equal(st.dealer?.deal, undefined);
      }
    }
    const text = JSON.stringify(run.sim.transcript);
    for (const s of secrets) assert.ok(!text.includes(s), 'a secret leaked into the transcript');
  });
});
