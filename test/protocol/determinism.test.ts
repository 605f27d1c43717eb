// One seed reproduces one run exactly (issue 3): the full transcript — every ledger write with
// the keccak of its encoding, every refusal, transition, crash and restart — hashes the same.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { badShares, falseComplaint } from '../../src/sim/byzantine.ts';
import { Scenario } from '../../src/sim/scenario.ts';

/** A plan that exercises most paths: cheaters, a crash with restart, a lagging node, a join. */
const plan = (seed: string) =>
  new Scenario({ seed, n: 5 })
    .genesis().byzantine(4, badShares({ to: [1] }))
    .reshare({ add: 1 }).crash(2, { at: 'after-ack', restartAfter: 10 }).lag(3, 7).byzantine(0, falseComplaint({ against: 1, proof: 'invalid' }));

describe('determinism', () => {
  it('the same seed gives the same transcript digest, twice in one process', async () => {
    const a = await plan('determinism').run();
    const b = await plan('determinism').run();
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.sim.transcript, b.sim.transcript);
    assert.deepEqual(a.rounds.map((r) => r.completedPolyHash), b.rounds.map((r) => r.completedPolyHash));
    assert.equal(a.mpk, b.mpk);
    assert.ok(a.rounds.every((r) => r.outcome === 'completed'));
    assert.ok(a.sim.transcript.some((e) => e.kind === 'crash') && a.sim.transcript.some((e) => e.kind === 'restart'));
  });

  it('another seed gives another run', async () => {
    const a = await plan('determinism').run();
    const c = await plan('determinism/other').run();
    assert.notEqual(c.digest, a.digest);
    assert.notEqual(c.mpk, a.mpk);
  });
});
