// FullReshareProtocol and ReshareSecretConsistency (issue 3): two reshares keep the MPK and
// the secret; shares of different versions do not mix; app keys do not change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ZERO_HASH } from '../../src/protocol/ledger.ts';
import { parseRoundState } from '../../src/protocol/round-state-codec.ts';
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
    for (const op of run.sim.operators) assert.deepEqual(op.store.listVersions().map((v) => v.id), [2, 3]);
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
      const keys = op.store.listSessionKeys();
      for (const k of keys) secrets.add(Buffer.from(k.secretKey).toString('hex'));
      // Only the key now on-chain (published in the last confirmation) is still held.
      const onChain = (await run.sim.ledger.getOperator(op.address))?.sessionKey;
      assert.deepEqual(keys.map((k) => k.publicKey), [onChain]);
      for (const id of op.store.listRoundStates()) {
        // The stored value itself, not what the codec keeps of it.
        const raw = op.store.getRoundState(id) as { recipient?: Record<string, unknown> | null; dealer?: Record<string, unknown> | null };
        const st = parseRoundState(raw, id, ZERO_HASH);
        assert.ok(st);
        assert.ok(!('share' in (raw.recipient ?? {})), 'no share in a round state');
        assert.deepEqual(raw.recipient?.['shares'] ?? {}, {});
        // A dealer keeps its deal to resend it after a restart or a reorg: public data, exactly
        // what the ledger holds from it (no polynomial, nothing secret).
        const deal = raw.dealer?.['deal'];
        if (deal !== undefined) {
          const onLedger = (await run.sim.ledger.getSubmissions(id)).find((x) => x.type === 'deal' && x.from === op.address);
          assert.ok(onLedger && onLedger.type === 'deal');
          assert.deepEqual(deal, { session: id, commitments: onLedger.commitments, ephemeralKey: onLedger.ephemeralKey, sealedShares: onLedger.sealedShares });
        }
        const text = JSON.stringify(raw);
        for (const s of secrets) assert.ok(!text.includes(s), `a secret is in op${op.index}'s stored round ${id}`);
        assert.deepEqual(st.recipient?.shares ?? {}, {});
      }
    }
    const text = JSON.stringify(run.sim.transcript);
    for (const s of secrets) assert.ok(!text.includes(s), 'a secret leaked into the transcript');
  });
});
