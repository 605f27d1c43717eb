// Issue 17 (e): a kms-server process SIGKILLed while its submission waits in the pool. anvil's
// blocks are stopped while every node's deal of a reshare is pending; node 0 is killed and
// started again from its data directory while its deal still waits. After the restart it
// neither loses nor doubles its deal: the deal sent before the kill is the one that lands,
// every later transaction of node 0 takes the next nonce (no gap, no reuse, no revert), and
// the round completes with node 0 holding the new version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Hash } from 'viem';
import { startCluster, type Cluster } from './harness.ts';
import { DEAL_SELECTOR, openSessionWithMiningStopped, pendingTxs, resumeMining, type PoolTx } from './paused-mining.ts';

const INTERVAL = 40;
const WINDOWS = { deal: 20, ack: 8, confirm: 8 } as const;

interface LogLine {
  readonly msg: string;
  readonly [k: string]: unknown;
}

describe('restart with a submission pending', { timeout: 240_000 }, () => {
  let c: Cluster;
  const logOf = (i: number): LogLine[] =>
    readFileSync(c.nodes[i]!.logPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

  before(async () => {
    c = await startCluster({ n: 3, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'restart-pending' });
    await c.waitForRoom(30);
    await c.armGenesis();
    await c.waitForVersion(1, { timeoutMs: 90_000 });
  });

  after(async () => {
    await c?.stop();
  });

  it('a node killed while its deal is pending restarts, keeps that deal, uses the next nonces, and the round completes', async () => {
    const next = await c.waitForQuiet(30);
    const me = c.nodes[0]!.address;
    let deal: PoolTx;
    try {
      await openSessionWithMiningStopped(c, next);
      deal = await c.waitFor('node 0\'s deal in the pool', async () => (await pendingTxs(c)).find((t) => t.from.toLowerCase() === me && t.input.startsWith(DEAL_SELECTOR)), { timeoutMs: 20_000, pollMs: 100, nodes: [0] });
      await c.kill(0, 'SIGKILL');
      const restarted = await c.restart(0);
      assert.ok(restarted.started, 'node 0 starts again from its data directory');
      // Its first ticks after the restart, with the deal still waiting in the pool.
      await new Promise((r) => setTimeout(r, 3_000));
      const inPool = (await pendingTxs(c)).filter((t) => t.from.toLowerCase() === me);
      assert.deepEqual(inPool.map((t) => t.hash), [deal.hash], 'the restarted node did not send its deal a second time');
    } finally {
      await resumeMining(c);
    }
    await c.waitForVersion(next, { timeoutMs: 90_000 });
    assert.equal((await c.ledger.getSession(next))?.progress.outcome, 'completed');
    const receipt = await c.ledger.client.getTransactionReceipt({ hash: deal.hash });
    assert.equal(receipt.status, 'success', 'the deal sent before the kill landed');
    assert.ok((await c.ledger.getSubmissions(next)).some((s) => s.type === 'deal' && s.from === me));
    // Every transaction node 0 logged as mined after the restart: consecutive nonces after the deal's, all successful.
    const lines = logOf(0);
    const restartAt = lines.map((l) => l.msg).lastIndexOf('kms-server started');
    const after = lines.slice(restartAt).filter((l) => l.msg === 'transaction mined' || l.msg === 'transaction mined but reverted');
    assert.ok(after.length >= 2, 'its ack and confirmation');
    let expected = Number(BigInt(deal.nonce)) + 1;
    for (const l of after) {
      const tx = await c.ledger.client.getTransaction({ hash: l['hash'] as Hash });
      assert.equal(tx.nonce, expected++, `${String(l['function'])}: the next nonce`);
      assert.equal(l['success'], true, `${String(l['function'])} succeeded`);
    }
    assert.equal(await c.ledger.client.getTransactionCount({ address: me }), expected, 'nothing else was sent');
    const status = await c.status(0);
    assert.equal(status.activeVersion, next);
  });
});
