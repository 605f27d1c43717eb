// A 30-operator DKG plus one reshare in the simulator (issue 3), timed. Every node is the
// production loop and does all of its own work (opening and batch-checking 30 shares, sealing
// 30); only the round outcome's memo and the mirrored submissions are shared across nodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../src/sim/scenario.ts';
import { g2Hex, range, reconstruct, sharesOf } from './helpers.ts';

describe('scale', () => {
  it('30 operators: DKG (t = 20) and a reshare complete; 20 shares give x·G2 == MPK, 19 do not', async () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const run = await new Scenario({ seed: 'scale-30', n: 30, cpuClock: () => performance.now() }).genesis().reshare().run();
    const cpu = process.cpuUsage(cpu0);
    const [g, r] = run.rounds;
    assert.ok(g && r);
    for (const round of [g, r]) {
      assert.equal(round.outcome, 'completed');
      assert.equal(round.snapshot?.tNew, 20);
      assert.equal(round.chain?.qual.length, 30);
      assert.ok(round.nodes.every((n) => n.recipient === 'active' && n.version?.publicPolyHash === round.completedPolyHash));
      const shares = sharesOf(round, run);
      assert.equal(g2Hex(reconstruct(shares.slice(5, 25))), run.mpk);
      assert.notEqual(g2Hex(reconstruct(shares.slice(5, 24))), run.mpk);
    }
    assert.equal(reconstruct(sharesOf(g, run).slice(0, 20)), reconstruct(sharesOf(r, run).slice(10, 30)));
    // Every node ran the production loop on its own: no transcript error, every store bound to the MPK.
    assert.deepEqual(run.sim.transcript.filter((e) => e.kind === 'error'), []);
    for (const op of run.sim.operators) assert.equal(op.store.mpk(), run.mpk);
    const perNode = (s: number) => range(30).map((i) => run.sim.op(i).cpu.get(s) ?? 0);
    const fmt = (xs: number[]) => `mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
    console.log(
      `# scale-30: wall ${((performance.now() - t0) / 1000).toFixed(1)} s, process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s; ` +
        `per-node CPU: DKG ${fmt(perNode(g.session as number))}; reshare ${fmt(perNode(r.session as number))}`,
    );
  });
});
