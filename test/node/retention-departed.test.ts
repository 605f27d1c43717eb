// Found by the soak (`npm run soak -- --minutes 1.25 --fault-every 5 --interval 20 --seed 13`,
// test/cluster/soak.test.ts): an operator that deregistered kept the shares of versions 1
// and 2 in its store for good, long after the chain had retired them (SPEC 4: a version is
// deleted once a later version has sourced a completed reshare, and that completion is final;
// "retention must leave nothing on disk that an old epoch's thief could combine").
//
// Why: the loop looked for completed reshares only among the sessions of the versions the
// node itself holds. A node that holds none of the later versions — it left, or it missed
// those sessions — never saw the facts that retire its old ones, and with a single version
// it did not look at all. Production OperatorLoops on the fork chain (test/sim/loop-cluster.ts,
// invariants checked after every block) replay the story: four operators, genesis and a
// reshare, then one deregisters; it deals once more in the next reshare (as a leaving
// operator), receives nothing, and the reshare after that sources from a version it never held.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopCluster } from '../sim/loop-cluster.ts';

describe('retention on a node that holds none of the newer versions', () => {
  it('a departed operator deletes every share once the chain shows a final completed reshare sourced from a newer version', async () => {
    const c = await LoopCluster.create({ seed: 'retention/departed' });
    const untilFinal = (id: number) => c.runUntil(`session ${id}: outcome final`, async () => {
      const s = await c.finalView.getSession(id);
      return s !== null && s.progress.outcome !== 'pending';
    }, 200);
    for (const id of [1, 2]) {
      await c.runUntil(`session ${id} opens`, async () => (await c.chain.latestSessionId()) >= id, 90);
      await untilFinal(id);
    }
    const leaver = c.nodes[3];
    assert.ok(leaver);
    assert.deepEqual(leaver.store.listVersions().map((v) => v.id), [1, 2], 'before leaving it holds genesis and the first reshare');
    // In block mode a write resolves once a block includes it.
    const left = leaver.view.writer(leaver.address).deregister();
    await c.second();
    await left;
    for (const id of [3, 4]) {
      await c.runUntil(`session ${id} opens`, async () => (await c.chain.latestSessionId()) >= id, 90);
      await untilFinal(id);
    }
    const s3 = await c.finalView.getSession(3);
    assert.ok(s3, 'session 3 is final');
    assert.ok(s3.snapshot.dealers.includes(leaver.address) && !s3.snapshot.recipients.includes(leaver.address), 'session 3: the leaver deals, receives nothing');
    assert.equal(s3.progress.outcome, 'completed');
    const s4 = await c.finalView.getSession(4);
    assert.ok(s4, 'session 4 is final');
    assert.equal(s4.progress.outcome, 'completed');
    assert.equal(s4.snapshot.sourceVersion, 3, 'session 4 sources from version 3, which the leaver never held');
    // Idle ticks: retention runs between rounds once the completion is final.
    for (let i = 0; i < 130; i++) await c.ticks();
    assert.deepEqual(leaver.store.listVersions().map((v) => v.id), [], 'the departed operator keeps no share of a retired version');
    for (const n of c.nodes.slice(0, 3)) assert.deepEqual(n.store.listVersions().map((v) => v.id), [3, 4], 'the members keep the newest version and its source');
    assert.deepEqual(c.nodes.flatMap((n) => n.tickErrors), []);
  });
});
