// Shared by the two random-seed suites (split in two files so the CI slice runs on both
// cores): small deployments, a handful of rounds, every fault kind, invariants after every
// block (`src/sim/fault-invariants.ts`). A failing seed prints the command that replays it.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { replayCommand } from '../../src/sim/cli.ts';
import { FAULT_KINDS, runFaults } from '../../src/sim/fault-run.ts';

export const SEED_RUN = { rounds: 2, interval: 20 } as const;

export function seedSuite(from: number, to: number): void {
  for (let seed = from; seed <= to; seed++) {
    const nodes = 3 + (seed % 2);
    it(`seed ${seed}, ${nodes} nodes: every invariant holds under random faults and a reshare completes once they stop`, async () => {
      const r = await runFaults({ seed, nodes, faults: FAULT_KINDS, ...SEED_RUN });
      const replay = replayCommand({ seed, nodes, faults: 'all', inject: null, ...SEED_RUN });
      assert.deepEqual(r.invariants.violations, [], `replay with: ${replay}`);
      assert.equal(r.invariants.held, true);
      assert.ok(r.rounds.completed >= 2, `the genesis and the reshare after the faults completed (${JSON.stringify(r.rounds)}); replay with: ${replay}`);
    });
  }
}
