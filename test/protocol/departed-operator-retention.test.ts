// Regression (found by `npm run sim`, see docs/testing.md): an operator that leaves (or is
// ejected) receives no later version, and its loop derived the retention facts only from the
// sessions of versions it held — so it kept its last shares, still `active`, forever. SPEC 4:
// a version is deleted once a later version was the source of a completed reshare; that holds
// for an operator that left as for any other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../src/sim/scenario.ts';

describe('retention after leaving', () => {
  for (const how of ['remove', 'eject'] as const) {
    it(`an operator that ${how === 'remove' ? 'deregistered' : 'was ejected'} deletes its old shares once a later version sourced a completed reshare`, async () => {
      const run = await new Scenario({ seed: `departed/${how}`, n: 4 })
        .genesis()
        .reshare(how === 'remove' ? { remove: [3] } : { eject: [3] })
        .reshare()
        .reshare()
        .run();
      const [, left, v3, v4] = run.rounds;
      assert.ok(left && v3 && v4);
      assert.deepEqual(run.rounds.map((r) => r.outcome), ['completed', 'completed', 'completed', 'completed']);
      assert.ok(!left.snapshot?.recipients.includes(run.sim.op(3).address), 'op3 receives nothing once it left');
      assert.equal(v4.snapshot?.sourceVersion, v3.session, 'version 3 was the source of a completed reshare');
      // A few idle ticks for the finality pass (the in-memory ledger is final at once).
      await run.sim.runFor(5);
      assert.deepEqual(run.sim.op(3).store.listVersions().map((v) => `${v.id}:${v.status}`), [], 'the operator that left holds no share');
      for (const i of [0, 1, 2]) assert.deepEqual(run.sim.op(i).store.listVersions().map((v) => v.id), [3, 4], `op${i} keeps versions 3 and 4`);
    });
  }
});
