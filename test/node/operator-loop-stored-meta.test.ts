// Stored data is outside input (issue 13 item 1: "nothing else casts stored JSON"): the
// loop's list of open rounds is checked when read. A malformed value must neither crash a
// tick nor make the node forget a round (its secrets would stay): every stored round state is
// taken as open instead, and the rounds still close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../src/sim/scenario.ts';

describe('operator loop: stored meta', () => {
  for (const bad of ['not json', '{"a":1}', '[1,-2]', '["1"]', '[1.5]']) {
    it(`a malformed list of open rounds (${bad}) is not cast: no tick fails, the next reshare completes, every round closes`, async () => {
      const run = await new Scenario({ seed: `stored-meta/${bad}`, n: 3 })
        .genesis()
        .reshare()
        .before((sim) => sim.op(0).store.setMeta('openRounds', bad))
        .reshare()
        .run();
      assert.deepEqual(run.rounds.map((r) => r.outcome), ['completed', 'completed', 'completed']);
      assert.deepEqual(run.sim.transcript.filter((e) => e.kind === 'error'), []);
      assert.equal(run.rounds[2]?.nodes[0]?.recipient, 'active');
      await run.sim.runFor(3);
      const open = run.sim.op(0).store.getMeta('openRounds');
      assert.ok(open !== null && Array.isArray(JSON.parse(open)), `rewritten as a list: ${open}`);
      assert.ok(run.sim.op(0).log.some((l) => l.includes('the stored list of open rounds is malformed')), 'said once in the node log');
    });
  }
});
