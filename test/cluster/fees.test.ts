// Issue 17 (d): transactions on real kms-server processes with a fee cap (--max-fee-gwei 50),
// anvil's mining under the test's control:
//
//   - a base-fee spike above the cap while every node's deal waits in the pool: anvil evicts
//     the deals, each node says plainly that the cap keeps its deal out and how long the window
//     stays open, and once the base fee falls under the cap its deal lands at the same nonce
//     with a fee bump (never above the cap); the genesis completes;
//   - every node's pending deal dropped from the pool (`anvil_dropAllTransactions`): each node
//     notices, sends it again at the same nonce, and the reshare completes;
//   - an operator account too poor for a day of rounds: a metric, a degraded /healthz and one
//     log line naming the amount to top up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEther, parseGwei, type Hash } from 'viem';
import { bump } from '../../src/chain/tx-sender.ts';
import { startCluster, type Cluster } from './harness.ts';
import { anvilRpc, DEAL_SELECTOR, openSessionWithMiningStopped, pendingTxs, resumeMining, type PoolTx } from './paused-mining.ts';

const INTERVAL = 40;
const WINDOWS = { deal: 20, ack: 8, confirm: 8 } as const;
const CAP = parseGwei('50');

interface LogLine {
  readonly msg: string;
  readonly [k: string]: unknown;
}

describe('fees and drops: a base-fee spike above the cap, dropped transactions, a poor account', { timeout: 300_000 }, () => {
  let c: Cluster;
  const rpc = (method: string, params: unknown[] = []) => anvilRpc(c, method, params);
  const logOf = (i: number): LogLine[] =>
    readFileSync(c.nodes[i]!.logPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
  /** Opens session `id` with the blocks stopped; returns once every node's deal waits in the pool. */
  const openWithDealsPending = async (id: number): Promise<PoolTx[]> => {
    await openSessionWithMiningStopped(c, id);
    return c.waitFor('every node\'s deal in the pool', async () => {
      const deals = (await pendingTxs(c)).filter((t) => t.input.startsWith(DEAL_SELECTOR));
      const froms = new Set(deals.map((t) => t.from.toLowerCase()));
      return c.nodes.every((nd) => froms.has(nd.address)) ? deals : undefined;
    }, { timeoutMs: 20_000, pollMs: 100 });
  };
  /** The node's submitDeal transactions the node logged as mined, last one last. */
  const minedDeals = (i: number): Hash[] => logOf(i).filter((l) => l.msg === 'transaction mined' && l['function'] === 'submitDeal').map((l) => l['hash'] as Hash);

  before(async () => {
    c = await startCluster({ n: 3, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'fees', nodeEnv: { KMS_MAX_FEE_GWEI: '50' } });
  });

  after(async () => {
    await c?.stop();
  });

  it('a base-fee spike above the cap keeps every deal out and says so; once it passes, each deal lands at its nonce with a bump under the cap', async () => {
    await c.waitForRoom(30);
    await c.armGenesis();
    // The genesis, unless the machine was slow enough for it to run already: then a reshare.
    const session = await c.waitForQuiet(25);
    let deals: PoolTx[];
    try {
      deals = await openWithDealsPending(session);
      await rpc('anvil_setNextBlockBaseFeePerGas', [`0x${parseGwei('100').toString(16)}`]);
    } finally {
      await resumeMining(c);
    }
    await c.waitForVersion(session, { timeoutMs: 90_000 });
    assert.equal((await c.ledger.getSession(session))?.progress.outcome, 'completed');
    for (const nd of c.nodes) {
      const lines = logOf(nd.index);
      const plain = lines.find((l) => new RegExp(`^submitting deal for session ${session} waits: base fee [\\d.]+ gwei is above --max-fee-gwei 50; the deal window closes in \\d+ s`).test(l.msg));
      assert.ok(plain, `node ${nd.index} said plainly that the cap keeps its deal out:\n${lines.filter((l) => /waits|dropped|cap/.test(l.msg)).map((l) => l.msg).join('\n')}`);
      const before = deals.find((t) => t.from.toLowerCase() === nd.address);
      assert.ok(before);
      const landed = await c.ledger.client.getTransaction({ hash: minedDeals(nd.index).at(-1) as Hash });
      assert.equal(landed.nonce, Number(BigInt(before.nonce)), `node ${nd.index}: the same nonce`);
      assert.ok(landed.maxFeePerGas !== undefined && landed.maxFeePerGas >= bump(BigInt(before.maxFeePerGas)), `node ${nd.index}: a bump (${landed.maxFeePerGas} ≥ 1.125 × ${BigInt(before.maxFeePerGas)})`);
      assert.ok(landed.maxFeePerGas <= CAP, `node ${nd.index}: never above the cap`);
      assert.ok(lines.some((l) => /^submitDeal was dropped from the pool/.test(l.msg)), `node ${nd.index}: the eviction noticed`);
    }
  });

  it('deals dropped from the pool are sent again at their nonces, and the reshare completes; a poor account shows in /healthz and metrics', async () => {
    const next = await c.waitForQuiet(30);
    // Node 0's account can pay a few rounds, not a day of them.
    await rpc('anvil_setBalance', [c.nodes[0]!.address, `0x${parseEther('0.05').toString(16)}`]);
    let deals: PoolTx[];
    try {
      deals = await openWithDealsPending(next);
      await rpc('anvil_dropAllTransactions');
      assert.deepEqual(await pendingTxs(c), []);
    } finally {
      await resumeMining(c);
    }
    await c.waitForVersion(next, { timeoutMs: 90_000 });
    assert.equal((await c.ledger.getSession(next))?.progress.outcome, 'completed');
    for (const nd of c.nodes) {
      const dropped = deals.find((t) => t.from.toLowerCase() === nd.address);
      assert.ok(dropped);
      const landed = await c.ledger.client.getTransaction({ hash: minedDeals(nd.index).at(-1) as Hash });
      assert.equal(landed.nonce, Number(BigInt(dropped.nonce)), `node ${nd.index}: sent again at the nonce that was dropped`);
      assert.ok(logOf(nd.index).filter((l) => /^submitDeal was dropped from the pool/.test(l.msg)).length >= 2);
    }
    // The balance check after the round: node 0 is short of a day of rounds and says by how much.
    await c.waitFor('node 0 to report its balance', async () => ((await fetch(`${c.nodes[0]!.opsUrl}/healthz`)).status === 503 ? true : undefined), { timeoutMs: 30_000, pollMs: 500, nodes: [0] });
    const health = await (await fetch(`${c.nodes[0]!.opsUrl}/healthz`)).json() as { error: { message: string } };
    assert.match(health.error.message, /the operator account pays for \d+ more rounds, fewer than \d+ \(a day of rounds\): top up [\d.]+ ETH/);
    const status = await c.status(0);
    assert.ok(status.balance && status.balance.topUpWei !== null && status.balance.roundsLeft < status.balance.roundsWanted);
    const metrics = await c.metrics(0);
    const left = Number(/^kms_operator_balance_rounds_left\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
    const wanted = Number(/^kms_operator_balance_rounds_wanted\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(left < wanted, `${left} < ${wanted}`);
    const said = logOf(0).filter((l) => /^the operator account 0x[0-9a-f]{40} holds [\d.]+ ETH: about \d+ rounds at the current fee \(\d+ gas a round\); keep at least \d+ \(a day of rounds\): top up [\d.]+ ETH$/.test(l.msg));
    assert.equal(said.length, 1, 'said once');
    // The others are funded: healthy. Node 0 still serves apps: its public /healthz stays 200.
    assert.equal((await fetch(`${c.nodes[1]!.opsUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${c.nodes[0]!.url}/healthz`)).status, 200);
  });
});
