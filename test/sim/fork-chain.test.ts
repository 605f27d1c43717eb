// The simulated chain (src/sim/fork-chain.ts): blocks, mempool, finality, reorgs, dropped
// transactions and per-node RPC views. Each test is named after the property it proves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256 } from 'viem';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import { LedgerError, type Address, type Hex, type LedgerErrorCode } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import { SIZES } from '../../src/protocol/session-rules.ts';
import type { ChainTx, ForkChain } from '../../src/sim/fork-chain.ts';
import { RpcFaultError, TransactionDroppedError } from '../../src/sim/rpc-faults.ts';
import { CHAIN_ID, dump, fillerDeal, INTERVAL, OWNER, REGISTRY, START, world } from './fork-chain-world.ts';

async function refuses(p: Promise<unknown>, code: LedgerErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LedgerError, `expected LedgerError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function byte(rng: Rng): number {
  return rng(1)[0] as number;
}

/** A real compressed secp256k1 point (the ledger checks the curve of session keys). */
function point(rng: Rng): Hex {
  return bytesToHex(generateSealKeyPair(rng).publicKey);
}

/**
 * Seeded random activity in blocks mode: operators open sessions, deal, ack and confirm
 * (filler bytes of the right sizes; many writes are refused by their estimate or revert at
 * inclusion), blocks are mined at random intervals in shuffled order, and reorgs of depth
 * 1..finality re-include a random subset in a random order. `afterStep` runs after each step.
 */
async function randomRun(seed: string, afterStep: (chain: ForkChain) => Promise<void> = async () => {}): Promise<{ chain: ForkChain; ops: Address[] }> {
  const { chain, ops } = await world({ n: 4, mode: 'blocks', seed, finalityDepth: 3 });
  const rng = seededRng(`${seed}/actions`);
  let t = chain.time;
  for (let step = 0; step < 120; step++) {
    const action = byte(rng) % 9;
    const w = chain.writer(ops[byte(rng) % ops.length] as Address);
    const latest = await chain.latestSessionId();
    const s = latest > 0 ? await chain.getSession(latest) : null;
    const send = (p: Promise<unknown>) => void p.catch(() => undefined);
    if (action === 0) send(w.openSession());
    else if (action === 1 && s) send(w.submitDeal(fillerDeal(s.snapshot, rng)));
    else if (action === 2 && s) send(w.submitAck({ session: latest, complaints: [] }));
    else if (action === 3 && s) {
      const poly = bytesToHex(rng(s.snapshot.tNew * SIZES.g2));
      send(w.submitConfirmation({ session: latest, publicPolyHash: keccak256(poly), publicPoly: poly, nextSessionKey: point(rng) }));
    } else if (action === 8 && chain.head.number > 4) {
      await chain.reorg({ depth: 1 + (byte(rng) % 3), reinclude: 'some', order: 'shuffle', blocks: 3 + (byte(rng) % 2) });
    } else {
      t += 1 + (byte(rng) % 4);
      await chain.mine({ time: t, order: 'shuffle' });
    }
    await afterStep(chain);
  }
  return { chain, ops };
}

/** The registry's state at block k, by replaying blocks 1..k on a fresh memory ledger, call by call. */
async function replayed(chain: ForkChain, k: number): Promise<MemoryLedger> {
  const l = new MemoryLedger({ chainId: CHAIN_ID, registry: REGISTRY, owner: OWNER, interval: INTERVAL, dealWindow: 10, ackWindow: 10, confirmWindow: 10, inclusionMargin: 5, startTime: START });
  for (let n = 1; n <= k; n++) {
    const b = chain.block(n);
    l.setTime(b.time);
    for (const tx of b.txs) {
      const w = l.writer(tx.from) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      await (w[tx.method] as (...a: unknown[]) => Promise<unknown>)(...tx.args).catch(() => undefined);
    }
  }
  return l;
}

function describeBlocks(chain: ForkChain): string {
  const out = [];
  for (let n = 0; n <= chain.head.number; n++) {
    const b = chain.block(n);
    out.push({ n, hash: b.hash, time: b.time, txs: b.txs.map((tx: ChainTx) => [tx.id, tx.from, tx.method, tx.args]) });
  }
  return JSON.stringify(out);
}

describe('fork chain: blocks and replay', () => {
  it('the state a view reads at any block is the replay of blocks 0..k on a fresh memory ledger, and one seed gives one chain', async () => {
    const { chain, ops } = await randomRun('replay');
    const accounts = [...ops, OWNER];
    assert.ok(chain.reorgs > 0, 'the run reorganised');
    assert.ok((await chain.latestSessionId()) > 0, 'the run opened sessions');
    const mined = chain.transactions().filter((r) => r.status === 'mined');
    assert.ok(mined.some((r) => r.outcome?.ok === false), 'some transactions reverted at inclusion');
    assert.ok(mined.some((r) => r.tx.method === 'submitDeal' && r.outcome?.ok === true), 'some deals were mined');
    const view = chain.ledgerFor(ops[0] as Address, { lag: chain.head.number });
    for (let k = 0; k <= chain.head.number; k++) {
      view.setLag(chain.head.number - k);
      assert.equal(await dump(view, accounts), await dump(await replayed(chain, k), accounts), `block ${k}`);
    }
    const again = await randomRun('replay');
    assert.equal(describeBlocks(again.chain), describeBlocks(chain), 'same seed, same blocks');
    assert.equal(await dump(again.chain, accounts), await dump(chain, accounts), 'same seed, same state');
    const other = await randomRun('replay, another seed');
    assert.notEqual(describeBlocks(other.chain), describeBlocks(chain));
  });

  it('automine makes one block per accepted write at the current time, and none for a refused one', async () => {
    const { chain, ops } = await world({ n: 3 });
    const h = chain.head.number;
    await chain.setTime(START + 7);
    assert.equal(chain.head.number, h + 1, 'setTime mined an empty block');
    assert.equal(await chain.now(), START + 7);
    const id = await chain.writer(ops[0] as Address).openSession();
    assert.equal(id, 1, 'the write returns its result');
    assert.equal(chain.head.number, h + 2);
    assert.deepEqual(chain.head.txs.map((tx) => tx.method), ['openSession']);
    assert.equal(chain.head.time, START + 7);
    await refuses(chain.writer(ops[1] as Address).openSession(), 'PreviousSessionOpen');
    assert.equal(chain.head.number, h + 2, 'a refused write mines nothing');
  });
});

describe('fork chain: mempool', () => {
  it('a write the head refuses is refused at once and never queued; one that reverts at inclusion rejects with its refusal', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks' });
    const [a, b, c] = ops as [Address, Address, Address];
    const opened = chain.writer(a).openSession();
    assert.equal(chain.mempool().length, 0, 'checked first (asynchronously)');
    await refuses(chain.writer(b).submitAck({ session: 1, complaints: [] }), 'UnknownSession');
    await chain.mine({ time: START + 1 });
    assert.equal(await opened, 1, 'resolved by its block, with its result');
    const snap = (await chain.getSession(1))?.snapshot;
    assert.ok(snap);
    await refuses(chain.writer(b).submitAck({ session: 1, complaints: [] }), 'WrongPhase');
    assert.equal(chain.mempool().length, 0, 'refused by the estimate: nothing queued');
    // c's deal passes at the head (deal phase), but its block comes after the deal window.
    const late = chain.writer(c).submitDeal(fillerDeal(snap, seededRng('late')));
    await new Promise((r) => setImmediate(r));
    assert.equal(chain.mempool().length, 1);
    const block = await chain.mine({ time: START + 1 + 10 });
    await refuses(late, 'WrongPhase');
    const rec = chain.transactions().find((r) => r.tx.method === 'submitDeal');
    assert.equal(rec?.status, 'mined');
    assert.equal(rec?.block, block.number);
    assert.equal(rec?.outcome?.ok, false, 'mined as a failed transaction');
    assert.equal((await chain.getSession(1))?.progress.dealCount, 0);
  });

  it('an estimate on latest refuses a write that needs a queued one; on pending it passes and the block runs both in order', async () => {
    for (const estimate of ['latest', 'pending'] as const) {
      const { chain, ops } = await world({ n: 3, mode: 'blocks', chain: { estimate } });
      const [a, b] = ops as [Address, Address];
      const opened = chain.writer(a).openSession();
      const snapshot = { id: 1, tNew: 2, recipients: ops } as unknown as Parameters<typeof fillerDeal>[0];
      const deal = chain.writer(b).submitDeal(fillerDeal(snapshot, seededRng(estimate)));
      if (estimate === 'latest') await refuses(deal, 'UnknownSession');
      else deal.catch(() => undefined);
      await chain.mine({ time: START + 1 });
      assert.equal(await opened, 1);
      if (estimate === 'pending') {
        await deal;
        assert.deepEqual(chain.head.txs.map((tx) => tx.method), ['openSession', 'submitDeal']);
        assert.equal((await chain.getSession(1))?.progress.dealCount, 1);
      } else {
        assert.deepEqual(chain.head.txs.map((tx) => tx.method), ['openSession']);
      }
    }
  });

  it('a dropped transaction is never mined and its sender\'s call rejects after the receipt timeout (at once by default)', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks', chain: { receiptTimeoutBlocks: 2 } });
    const [a, b] = ops as [Address, Address];
    await Promise.all([chain.writer(a).openSession(), chain.mine({ time: START + 1 })]);
    const snap = (await chain.getSession(1))?.snapshot;
    assert.ok(snap);
    const result: { settled: unknown } = { settled: 'not yet' };
    const settled = (): unknown => result.settled;
    const deal = chain.writer(a).submitDeal(fillerDeal(snap, seededRng('a')));
    deal.then(() => (result.settled = 'mined'), (e: unknown) => (result.settled = e));
    const other = chain.writer(b).submitDeal(fillerDeal(snap, seededRng('b')));
    await new Promise((r) => setImmediate(r));
    const dropped = await chain.drop(a);
    assert.deepEqual(dropped.map((tx) => [tx.from, tx.method]), [[a, 'submitDeal']]);
    assert.deepEqual(chain.mempool().map((tx) => tx.from), [b], 'only a\'s transaction left');
    await chain.mine({ time: START + 2 });
    await other;
    await new Promise((r) => setImmediate(r));
    assert.equal(settled(), 'not yet', 'one block later the receipt wait is still waiting');
    await chain.mine({ time: START + 3 });
    await new Promise((r) => setImmediate(r));
    assert.ok(settled() instanceof TransactionDroppedError, `rejected with TransactionDroppedError, got ${String(settled())}`);
    const subs = await chain.getSubmissions(1);
    assert.deepEqual(subs.map((s) => s.from), [b], 'a\'s deal never reached the chain');
    assert.equal(chain.transactions().find((r) => r.tx.from === a && r.tx.method === 'submitDeal')?.status, 'dropped');
    // By default the wait fails at once, as the chain ledger's does when its node forgets the transaction.
    const quick = await world({ n: 3, mode: 'blocks' });
    const opened = quick.chain.writer(quick.ops[0] as Address).openSession();
    await new Promise((r) => setImmediate(r));
    await quick.chain.drop(quick.ops[0] as Address);
    await assert.rejects(opened, TransactionDroppedError);
  });

  it('a block that reorders transactions keeps each sender\'s own order (nonces)', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks', chain: { estimate: 'pending' } });
    const [a, b] = ops as [Address, Address];
    // Two writes from a (its second only valid after its first: estimated on the pending state), one from b.
    const sent = [chain.writer(a).updateSocket('http://a1'), chain.writer(b).updateSocket('http://b1'), chain.writer(a).updateSocket('http://a2')];
    await new Promise((r) => setImmediate(r));
    const block = await chain.mine({ time: START + 1, order: 'reverse' });
    await Promise.all(sent);
    assert.deepEqual(block.txs.map((tx) => [tx.from, tx.args[0]]), [[a, 'http://a1'], [b, 'http://b1'], [a, 'http://a2']], 'a’s writes stay in order around b’s');
    assert.equal((await chain.getOperator(a))?.socket, 'http://a2');
    // Leaving a sender's earlier transaction out leaves its later ones out too.
    const more = [chain.writer(a).updateSocket('http://a3'), chain.writer(a).updateSocket('http://a4')];
    more.forEach((p) => void p.catch(() => undefined));
    await new Promise((r) => setImmediate(r));
    const next = await chain.mine({ time: START + 2, include: (tx) => tx.args[0] === 'http://a4' });
    assert.equal(next.txs.length, 0);
    assert.equal(chain.mempool().length, 2);
  });
});

describe('fork chain: finality and reorgs', () => {
  it('a reorg that leaves a submission out takes it off the chain, and its sender\'s view notices', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks' });
    const [a, b] = ops as [Address, Address];
    const viewA = chain.ledgerFor(a);
    await Promise.all([chain.writer(a).openSession(), chain.mine({ time: START + 1 })]);
    const snap = (await chain.getSession(1))?.snapshot;
    assert.ok(snap);
    const deals = [viewA.writer(a).submitDeal(fillerDeal(snap, seededRng('a'))), chain.writer(b).submitDeal(fillerDeal(snap, seededRng('b')))];
    await chain.mine({ time: START + 2 });
    await Promise.all(deals); // both receipts arrived
    assert.equal((await viewA.getSession(1))?.progress.dealCount, 2);
    assert.equal(viewA.reorgs, 0);
    const report = await chain.reorg({ depth: 1, reinclude: (tx) => tx.from !== a, blocks: 2, time: [START + 2, START + 3] });
    assert.deepEqual(report.dropped.map((tx) => [tx.from, tx.method]), [[a, 'submitDeal']]);
    assert.equal(chain.head.number, report.fork + 2, 'the head grew');
    assert.equal(chain.reorgs, 1);
    // a's own view: its deal is gone, and it knows a reorg happened.
    const subs = await viewA.getSubmissions(1);
    assert.deepEqual(subs.map((s) => s.from), [b]);
    assert.equal(viewA.reorgs, 1);
    assert.equal((await viewA.getSession(1))?.progress.dealCount, 1);
    assert.equal(chain.transactions().find((r) => r.tx.from === a && r.tx.method === 'submitDeal')?.status, 'dropped');
    // It can deal again (the window is still open) and the chain takes it.
    const again = viewA.writer(a).submitDeal(fillerDeal(snap, seededRng('a again')));
    await chain.mine({ time: START + 4 });
    await again;
    assert.equal((await viewA.getSession(1))?.progress.dealCount, 2);
  });

  it('a reorg can send the left-out transactions back to the mempool, where the next block mines them', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks' });
    const [a] = ops as [Address];
    await Promise.all([chain.writer(a).openSession(), chain.mine({ time: START + 1 })]);
    const report = await chain.reorg({ depth: 1, reinclude: 'none', dropped: 'mempool' });
    assert.deepEqual(chain.mempool().map((tx) => tx.method), ['openSession']);
    assert.equal(await chain.latestSessionId(), 0);
    assert.equal(report.dropped.length, 1);
    await chain.mine({ time: START + 3 });
    assert.equal(await chain.latestSessionId(), 1);
    assert.equal((await chain.getSession(1))?.snapshot.openedAt, START + 3, 'executed again, at its new block');
  });

  it('a reorg deeper than the finality depth is refused and changes nothing', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks', finalityDepth: 2 });
    for (let t = START + 1; t <= START + 5; t++) await chain.mine({ time: t });
    const head = chain.head;
    const before = await dump(chain, ops);
    await assert.rejects(chain.reorg({ depth: 3 }), (e: unknown) => e instanceof RangeError && /final blocks never change/.test(e.message));
    assert.equal(chain.head, head);
    assert.equal(chain.reorgs, 0);
    assert.equal(await dump(chain, ops), before);
    const r = await chain.reorg({ depth: 2, reinclude: 'none' });
    assert.equal(r.fork, chain.finalBlock.number, 'the deepest allowed reorg forks at the final block');
  });

  it('once a block is final, its state never changes, whatever reorgs follow', async () => {
    const finalHashes = new Map<number, Hex>();
    const finalStates = new Map<number, string>();
    let checks = 0;
    await randomRun('finality', async (chain) => {
      const f = chain.finalBlock;
      assert.ok(f.number >= chain.head.number - 3);
      for (const [n, hash] of finalHashes) if (n <= f.number) assert.equal(chain.block(n).hash, hash, `final block ${n} was replaced`);
      for (let n = 0; n <= f.number; n++) if (!finalHashes.has(n)) finalHashes.set(n, chain.block(n).hash);
      const state = await dump(chain.finalView(), []);
      assert.equal(state, await dump(await replayed(chain, f.number), []), `the final view reads block ${f.number} (head − finality depth)`);
      const seen = finalStates.get(f.number);
      if (seen === undefined) finalStates.set(f.number, state);
      else {
        assert.equal(state, seen, `the final view of block ${f.number} changed`);
        checks++;
      }
    });
    assert.ok(checks > 20, `the final view was re-read at the same block after other steps (${checks})`);
    assert.ok(finalStates.size > 20);
  });
});

describe('fork chain: node views', () => {
  it('a view lagging k blocks reads the head k blocks late, and its final view lags with it', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks', finalityDepth: 2 });
    const [a] = ops as [Address];
    const lagging = chain.ledgerFor(a, { lag: 2 });
    const opened = chain.writer(a).openSession();
    await chain.mine({ time: START + 1 });
    await opened;
    assert.equal(await chain.latestSessionId(), 1);
    assert.equal(await lagging.latestSessionId(), 0, 'not yet');
    assert.equal(await lagging.now(), chain.block(chain.head.number - 2).time);
    await chain.mine({ time: START + 2 });
    assert.equal(await lagging.latestSessionId(), 0, 'one block later: still not');
    await chain.mine({ time: START + 3 });
    assert.equal(await lagging.latestSessionId(), 1, 'two blocks later: seen');
    assert.equal(await lagging.now(), START + 1);
    assert.equal(await lagging.finalView().now(), chain.block(chain.head.number - 4).time, 'final = its head − finality depth');
    assert.equal(await lagging.finalView().latestSessionId(), 0);
    assert.equal(await chain.finalView().latestSessionId(), 1, 'the chain\'s own final view already has it');
    // A larger lag makes the view go back (a stale endpoint behind a load balancer): not a reorg.
    lagging.setLag(3);
    assert.equal(await lagging.latestSessionId(), 0);
    assert.equal(lagging.reorgs, 0);
  });

  it('reads inside readsAtOneBlock see one block while the chain moves on, until a write through the view', async () => {
    const { chain, ops } = await world({ n: 3, mode: 'blocks' });
    const [a, b] = ops as [Address, Address];
    const view = chain.ledgerFor(a);
    const seen: number[] = [];
    await view.readsAtOneBlock(async () => {
      seen.push(await view.latestSessionId());
      const opened = chain.writer(b).openSession(); // another node's write
      await chain.mine({ time: START + 1 });
      await opened;
      seen.push(await view.latestSessionId(), await view.now());
      const socket = view.writer(a).updateSocket('http://a');
      await chain.mine({ time: START + 2 });
      await socket;
      seen.push(await view.latestSessionId(), await view.now());
    });
    assert.deepEqual(seen, [0, 0, START, 1, START + 2]);
  });

  it('a node\'s RPC faults are its own: its reads time out while the others read, and a lost receipt still mines the write', async () => {
    const { chain, ops } = await world({ n: 3 });
    const [a, b] = ops as [Address, Address];
    let failing = true;
    const faulty = chain.ledgerFor(a, { faults: (call) => (call.kind === 'read' && failing ? 'timeout' : call.kind === 'send' ? 'lost-receipt' : null) });
    const healthy = chain.ledgerFor(b);
    await assert.rejects(faulty.getGovernance(), (e: unknown) => e instanceof RpcFaultError && e.fault === 'timeout' && e.method === 'getGovernance');
    assert.equal((await healthy.getGovernance()).interval, INTERVAL);
    await assert.rejects(faulty.finalView().latestSessionId(), RpcFaultError);
    failing = false;
    await assert.rejects(faulty.writer(a).openSession(), (e: unknown) => e instanceof RpcFaultError && e.fault === 'lost-receipt');
    assert.equal(await faulty.latestSessionId(), 1, 'the write went through');
    // A send that times out never reaches the chain.
    faulty.setFaults((call) => (call.kind === 'send' ? 'timeout' : null));
    const head = chain.head.number;
    await assert.rejects(faulty.writer(a).updateSocket('http://never'), RpcFaultError);
    assert.equal(chain.head.number, head);
    assert.notEqual((await healthy.getOperator(a))?.socket, 'http://never');
  });
});
