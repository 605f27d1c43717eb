// Reorgs on a real chain (issue 17, "Done when" (b)): anvil (1 s blocks, the `finalized` tag 8
// blocks behind the head) and four kms-server processes on their default flags. Reorgs of depth
// 1 to 5 (`anvil_reorg`: the last blocks are replaced by empty ones and their transactions
// vanish) are injected in each phase of a reshare — deal, ack, confirm, and right after the
// session completed — and the test checks what must hold whatever the chain does:
//
// - every session ends completed or cleanly failed (its outcome final on-chain), and the
//   network goes on resharing afterwards;
// - the MPK never changes;
// - at the end every node holds a share of the version the chain says is active, its partial
//   verifies against the public share from the on-chain polynomial, and t of them combine to an
//   app key that verifies against the MPK;
// - no node ever deleted a version whose successor's completion was not final (a monitor
//   watches every node's /status — the versions it keeps — and checks each deletion against
//   the chain's finalized block at that moment).
//
// Before v3 (nodes acted and deleted on `latest`), three depth-3 reorgs after a completion left
// the network failing every session "4/4 dealt, 0/4 acked" for good (issue 17).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex, Session } from '../../src/protocol/ledger.ts';
import { phaseAt } from '../../src/protocol/session-rules.ts';
import { startCluster, type Cluster } from './harness.ts';
import { appKey, keyVerifies, partialVerifies, publicPolyOf, shareOf, type Holder } from './keys.ts';
import { watchRetention, type RetentionMonitor } from './retention-monitor.ts';

const INTERVAL = 24;
const WINDOWS = { deal: 6, ack: 6, confirm: 6 } as const;
const FINALITY_BLOCKS = 8;

type Moment = 'deal' | 'ack' | 'confirm' | 'completed';
/** Where each reorg strikes, and how deep. */
const PLAN: readonly { readonly at: Moment; readonly depth: number }[] = [
  { at: 'deal', depth: 1 },
  { at: 'ack', depth: 2 },
  { at: 'confirm', depth: 3 },
  { at: 'completed', depth: 4 },
  { at: 'deal', depth: 5 },
  { at: 'completed', depth: 3 },
];

describe('reorgs in every phase of a reshare, on anvil with real nodes', { timeout: 420_000 }, () => {
  let c: Cluster;
  let mpk: Hex;
  let monitor: RetentionMonitor | null = null;

  before(async () => {
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 250, finalityBlocks: FINALITY_BLOCKS, name: 'reorgs' });
  });
  after(async () => {
    monitor?.stop();
    await c?.stop();
  });

  /** Waits for the moment in session `id` when the reorg should strike (a submission of that phase is in a block). */
  async function strikeWhen(id: number, at: Moment): Promise<Session> {
    return c.waitFor(`session ${id}: ${at}`, async () => {
      const s = await c.ledger.getSession(id);
      if (!s) return undefined;
      const p = s.progress;
      const phase = phaseAt(s, await c.chainTime());
      // Every party of a window usually lands in one block, which also closes it: strike as soon
      // as that block is there, so the reorg takes the phase's submissions (and the early close) back.
      if (at === 'deal') return p.dealCount >= 1 ? s : undefined;
      if (at === 'ack') return p.ackCount >= 1 ? s : undefined;
      if (at === 'confirm') return p.confirmCount >= 1 ? s : undefined;
      // Right after completion: one more block, so a shallow reorg may leave the completion in place.
      return p.outcome === 'completed' && phase === 'closed' ? s : undefined;
    }, { timeoutMs: 3 * INTERVAL * 1000, pollMs: 100 });
  }

  /** The outcome of the session the final block holds under `id`, once it is final. */
  async function finalOutcome(id: number): Promise<'completed' | 'failed'> {
    return c.waitFor(`session ${id}: a final outcome`, async () => {
      const s = await c.ledger.finalView().getSession(id);
      return s && s.progress.outcome !== 'pending' ? s.progress.outcome : undefined;
    }, { timeoutMs: 4 * INTERVAL * 1000, pollMs: 500 });
  }

  it('genesis, then reshares survive reorgs of depth 1–5 in the deal, ack and confirm phases and right after completion', async (t) => {
    await c.waitForRoom(10);
    await c.armGenesis();
    await c.waitForVersion(1);
    mpk = (await c.ledger.getMpk()) as Hex;
    assert.ok(mpk);
    monitor = watchRetention(c);

    const outcomes: string[] = [];
    let last = 1;
    for (const { at, depth } of PLAN) {
      const id = (await c.ledger.latestSessionId()) + 1;
      await c.waitForSession(id, { timeoutMs: 3 * INTERVAL * 1000 });
      const hit = await strikeWhen(id, at);
      await c.reorg(depth);
      const outcome = await finalOutcome(id);
      outcomes.push(`session ${id} (${hit.snapshot.kind}, reorg of ${depth} at ${at}): ${outcome}`);
      assert.equal(await c.ledger.getMpk(), mpk, `the MPK never changes (after the reorg in session ${id})`);
      last = id;
    }
    for (const o of outcomes) t.diagnostic(o);
    // The network goes on: a session after the last reorg completes and every node serves it.
    const v = await c.waitForVersion(last + 1, { timeoutMs: 4 * INTERVAL * 1000 });
    assert.ok(v.id > last, `a version after the reorgs (${outcomes.join('; ')})`);
    assert.equal(await c.ledger.getMpk(), mpk);
    // Reorgs right after a completion (or deeper than the session's age) must not all fail.
    assert.ok(outcomes.some((o) => o.endsWith('completed')), `some reorged sessions still completed: ${outcomes.join('; ')}`);
    assert.deepEqual(monitor.violations, [], 'no node deleted a version whose successor was not final');
    assert.ok(monitor.deletions.length > 0, 'retention ran (old versions were deleted once final)');

    // Every node holds a valid share of the active version; t of them give the app key.
    monitor.stop();
    const active = await c.ledger.activeVersion();
    assert.ok(active);
    await c.stopNodes(c.nodes.map((n) => n.index));
    const poly = publicPolyOf(active);
    const holders: Holder[] = [];
    for (const node of c.nodes) {
      if (!active.holders.includes(node.address)) continue;
      const h = shareOf(node.address, c.readStore(node.index), active.id);
      assert.ok(h, `node ${node.index} holds a share of the active version ${active.id}`);
      assert.ok(partialVerifies(poly, h), `node ${node.index}: its partial verifies against its public share in version ${active.id}`);
      holders.push(h);
    }
    assert.ok(holders.length >= active.threshold);
    assert.ok(keyVerifies(mpk, appKey(holders.slice(0, active.threshold))), 't partials of the active version give a key that verifies against the MPK');
  });
});
