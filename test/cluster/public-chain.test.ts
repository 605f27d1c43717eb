// An emulated Sepolia (issue 17, "Done when" (a)): anvil with chain id 11155111, 1 s blocks and
// its `finalized` tag 16 blocks behind the head, and four kms-server processes on their
// **default flags** (no read-tag or finality flag: they take Sepolia's chain profile from the
// chain id the RPC reports). Before v3 the nodes read everything — chain time included — at
// the `safe` tag on such a chain while the contract enforces the windows at the latest block,
// so every deal and ack was refused `WrongPhase` and no round ever finished.
//
// Checked: genesis and three reshares complete; every node reports Sepolia's finality; the
// MPK never changes; old versions are deleted, but only once the final block shows a
// completed reshare sourced from a newer version (a retention monitor watches every node).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from '../../src/protocol/ledger.ts';
import { startCluster, type Cluster } from './harness.ts';
import { watchRetention, type RetentionMonitor } from './retention-monitor.ts';

const SEPOLIA = 11155111;
const FINALITY_BLOCKS = 16;
const INTERVAL = 24;
const WINDOWS = { deal: 6, ack: 6, confirm: 6 } as const;

describe('an emulated Sepolia (finality 16 blocks behind), nodes on their default flags', { timeout: 300_000 }, () => {
  let c: Cluster;
  let monitor: RetentionMonitor | null = null;

  before(async () => {
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 250, chainId: SEPOLIA, finalityBlocks: FINALITY_BLOCKS, name: 'sepolia' });
  });
  after(async () => {
    monitor?.stop();
    await c?.stop();
  });

  it('genesis and three reshares complete; retention waits for the finalized tag', async () => {
    assert.equal(c.anvil.chainId, SEPOLIA);
    for (const node of c.nodes) {
      const s = await c.status(node.index);
      assert.equal(s.finality, 'the finalized tag', `node ${node.index} took Sepolia's profile from the chain id`);
    }
    monitor = watchRetention(c);
    await c.waitForRoom(10);
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    const mpk = (await c.ledger.getMpk()) as Hex;
    assert.ok(mpk);
    let last = v1.id;
    for (let k = 0; k < 3; k++) {
      const v = await c.waitForVersion(last + 1, { timeoutMs: 4 * INTERVAL * 1000 });
      assert.ok(v.id > last);
      assert.equal((await c.ledger.getSession(v.id))?.snapshot.kind, 'reshare');
      assert.equal(await c.ledger.getMpk(), mpk, 'the MPK never changes');
      last = v.id;
    }
    // Wait until the last completion is final and retention has run on every node.
    await c.waitFor('retention after the third reshare', async () => {
      const final = await c.ledger.finalView().activeVersion();
      return final && final.id >= last && monitor!.deletions.length >= c.nodes.length ? true : undefined;
    }, { timeoutMs: 3 * INTERVAL * 1000 });
    assert.deepEqual(monitor.violations, [], 'no node deleted a version before the finalized tag showed its successor sourcing a completed reshare');
    for (const node of c.nodes) {
      const s = await c.status(node.index);
      assert.equal(s.activeVersion, last, `node ${node.index} serves the last version`);
      assert.ok(!s.versions?.some((v) => v.id === v1.id), `node ${node.index} deleted the genesis version once that was final`);
    }
  });
});
