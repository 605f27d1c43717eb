// Issue 17 (c): real kms-server processes, each with three RPC providers and --rpc-quorum 2,
// every provider a fault-injecting proxy in front of one anvil (test/chain/rpc-fault-proxy.ts):
//
//   - genesis with one misbehaving provider per node — it drops connections, answers 503, lags
//     three blocks behind, lies about eth_call — and a reshare with others — answers 3 s late,
//     lies about the head's hash, lies about eth_call, drops: every round completes, and each
//     node noticed its bad provider (log, /status);
//   - a reshare in which node 3 cannot get a consistent view (one provider lies, one drops):
//     it does not act — no submission in that session, /status chainView.ok false, the
//     metric at 0, /healthz 503 after 15 s, the cause said once, not at every tick — while
//     the others complete the round; its providers healed, it acts again in the next round;
//   - at the end, every transaction every node made is checked on the chain: mined and
//     successful, so each was valid at the block it landed in, and node 3 logged nothing it
//     sent between losing and regaining its view.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Hash } from 'viem';
import { startCluster, type Cluster } from './harness.ts';

const INTERVAL = 24;
const WINDOWS = { deal: 6, ack: 6, confirm: 6 } as const;

interface LogLine {
  readonly msg: string;
  readonly [k: string]: unknown;
}

describe('RPC faults: several providers and a quorum in front of real nodes', { timeout: 300_000 }, () => {
  let c: Cluster;

  const logOf = (i: number): LogLine[] =>
    readFileSync(c.nodes[i]!.logPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
  const clearFaults = () => {
    for (const n of c.nodes) for (let p = 0; p < 3; p++) c.rpc(n.index, p).fault(null);
  };
  const metric = async (i: number, name: string): Promise<number | null> => {
    const text = await c.metrics(i);
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };

  before(async () => {
    c = await startCluster({
      n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'rpc-faults', rpcProviders: 3,
      nodeEnv: { KMS_RPC_QUORUM: '2' },
    });
  });

  after(async () => {
    await c?.stop();
  });

  it('genesis completes with a provider per node that drops, answers 503, lags or lies about eth_call', async () => {
    c.rpc(0, 0).fault({ kind: 'drop' });
    c.rpc(1, 0).fault({ kind: 'status', status: 503 });
    c.rpc(2, 0).fault({ kind: 'stale', blocks: 3 });
    c.rpc(3, 0).fault({ kind: 'lie-call' });
    await c.waitForRoom(14);
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.id, 1);
    // Each node noticed its bad provider, and said so.
    assert.ok(logOf(0).some((l) => /^RPC provider 0:127\.0\.0\.1:\d+ failed/.test(l.msg)), 'node 0: the dropping provider');
    assert.ok(logOf(1).some((l) => /^RPC provider 0:\S+ failed \(HTTP 503\)/.test(l.msg)), 'node 1: the 503s');
    const lagging = (await c.status(2)).chainView?.providers[0];
    assert.ok(lagging && lagging.lagBlocks !== null && lagging.lagBlocks >= 2, `node 2 sees its stale provider lag: ${JSON.stringify(lagging)}`);
    assert.ok(logOf(3).some((l) => /^RPC provider 0:\S+ answered eth_call differently from/.test(l.msg)), 'node 3: the liar');
    for (const i of [0, 1, 2, 3]) assert.equal((await c.status(i)).chainView?.ok, true, `node ${i} has a consistent view`);
  });

  it('a reshare completes with providers that answer late, lie about the head, lie about eth_call, drop', async () => {
    const next = await c.waitForQuiet(10);
    clearFaults();
    c.rpc(0, 1).fault({ kind: 'delay', ms: 3_000 });
    c.rpc(1, 1).fault({ kind: 'lie-head' });
    c.rpc(2, 1).fault({ kind: 'lie-call' });
    c.rpc(3, 0).fault({ kind: 'drop' });
    await c.waitForVersion(next);
    assert.equal((await c.ledger.getSession(next))?.progress.outcome, 'completed', `session ${next} completed`);
    assert.ok(logOf(1).some((l) => /^RPC provider 1:\S+ answered the head differently/.test(l.msg)), 'node 1: the head liar');
    assert.ok(logOf(2).some((l) => /^RPC provider 1:\S+ answered eth_call differently/.test(l.msg)), 'node 2: the call liar');
    // Each liar was said once (its streak lasts while it keeps disagreeing), not at every tick.
    for (const [i, p] of [[1, 1], [2, 1]] as const) {
      const lines = logOf(i).filter((l) => new RegExp(`^RPC provider ${p}:\\S+ answered`).test(l.msg));
      assert.ok(lines.length <= 2, `node ${i}: ${lines.length} lines about its liar`);
    }
  });

  it('a node without a consistent view does not act, says why once, and acts again once its providers agree', async () => {
    const next = await c.waitForQuiet(10);
    clearFaults();
    // Node 3: one provider lies, one drops: the two that agree on the head disagree on every read.
    c.rpc(3, 0).fault({ kind: 'lie-call' });
    c.rpc(3, 1).fault({ kind: 'drop' });
    await c.waitFor('node 3 to lose its view', async () => ((await c.status(3)).chainView?.ok === false ? true : undefined), { timeoutMs: 30_000, pollMs: 250, nodes: [3] });
    const lost = (await c.status(3)).chainView;
    assert.ok(lost && lost.reason !== null, JSON.stringify(lost));
    assert.equal(await metric(3, 'kms_chain_view_ok'), 0);
    // The other three complete the round without it.
    await c.waitForVersion(next, { nodes: [0, 1, 2] });
    assert.equal((await c.ledger.getSession(next))?.progress.outcome, 'completed', `session ${next} completed`);
    const mine = (await c.ledger.getSubmissions(next)).filter((s) => s.from === c.nodes[3]!.address);
    assert.deepEqual(mine, [], 'node 3 submitted nothing in the session it could not see consistently');
    const health = await fetch(`${c.nodes[3]!.opsUrl}/healthz`);
    assert.equal(health.status, 503);
    assert.match(await health.text(), /no consistent view of the chain for \d+ s/);
    const said = logOf(3).filter((l) => l.msg.startsWith('no consistent view of the chain'));
    assert.ok(said.length >= 1 && said.length <= 4, `said once per cause, not per tick: ${said.length} lines`);
    assert.ok(logOf(3).filter((l) => l.msg === 'tick failed').length === 0, 'no per-tick error lines for it');
    // Its providers heal: it acts again, and takes part in the next round.
    clearFaults();
    await c.waitFor('node 3 to regain its view', async () => ((await c.status(3)).chainView?.ok === true ? true : undefined), { timeoutMs: 30_000, pollMs: 250, nodes: [3] });
    assert.equal(await metric(3, 'kms_chain_view_ok'), 1);
    await c.waitForVersion(next + 1, { timeoutMs: 120_000 });
    assert.equal((await c.ledger.getSession(next + 1))?.progress.outcome, 'completed', `session ${next + 1} completed`);
    assert.ok(logOf(3).some((l) => /^consistent view of the chain again after \d+ s/.test(l.msg)));
  });

  it('every transaction every node sent was mined and succeeded; nothing was sent without a consistent view', async () => {
    for (const n of c.nodes) {
      const lines = logOf(n.index);
      const mined = lines.filter((l) => l.msg === 'transaction mined' || l.msg === 'transaction mined but reverted');
      assert.ok(mined.length >= 3, `node ${n.index} sent its submissions`);
      for (const l of mined) {
        const r = await c.ledger.client.getTransactionReceipt({ hash: l['hash'] as Hash });
        assert.equal(r.from.toLowerCase(), n.address);
        assert.equal(r.status, l['success'] === true ? 'success' : 'reverted', 'the log tells the truth');
        // Opening a session is a race between nodes (the first one's wins, the others revert);
        // a node's own submissions and key rotations must all have been valid where they landed.
        if (l['function'] !== 'openSession') assert.equal(l['success'], true, `node ${n.index}: ${String(l['function'])} reverted`);
      }
      // The account's nonce: the harness's registration plus what the node logged as mined.
      assert.equal(await c.ledger.client.getTransactionCount({ address: n.address }), mined.length + 1, `node ${n.index}: no transaction it did not report`);
    }
    const log3 = logOf(3);
    const lostAt = log3.findIndex((l) => l.msg.startsWith('no consistent view of the chain'));
    const backAt = log3.findIndex((l) => l.msg.startsWith('consistent view of the chain again'));
    assert.ok(lostAt >= 0 && backAt > lostAt);
    const acted = log3.slice(lostAt, backAt).filter((l) => /^submitted |^transaction (sent|mined)|^opened session/.test(l.msg));
    assert.deepEqual(acted.map((l) => l.msg), [], 'node 3 acted while it had no consistent view');
  });
});
