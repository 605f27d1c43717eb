// FullDKGProtocol (issue 3): five simulated operators run the genesis DKG on the in-memory
// ledger; the result is checked by reconstruction, not by the nodes' own word.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertNoHonestShareRevealed, assertVersionSound, checkedAppKey, range } from './helpers.ts';

describe('FullDKGProtocol', () => {
  it('n=5: every node is active on one public polynomial; any t shares give x with x·G2 == MPK, t−1 do not', async () => {
    const run = await new Scenario({ seed: 'full-dkg', n: 5 }).genesis().run();
    const [g] = run.rounds;
    assert.ok(g);
    assert.equal(g.snapshot?.kind, 'dkg');
    assert.equal(g.snapshot?.tNew, 4, 'default t = ceil(2n/3)');
    assert.deepEqual(g.chain?.qual.length, 5, 'every dealer qualified');
    assertHonestAgree(g, range(5));
    await assertNoHonestShareRevealed(run, g, []);
    const shares = await assertVersionSound(run, g, range(5));
    // Two different quorums sign the same app key.
    assert.equal(checkedAppKey(run, shares, 4, 'app-1'), checkedAppKey(run, [...shares].reverse(), 4, 'app-1'));
    // The pinned MPK is the version's A_0 and the ledger's.
    assert.equal(await run.sim.ledger.getMpk(), run.mpk);
  });
});
