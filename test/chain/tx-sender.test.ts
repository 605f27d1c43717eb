// The transaction sender (src/chain/tx-sender.ts) against anvil with its mining under the
// test's control: the fee cap keeps a transaction out while the base fee is above it, a
// transaction that is not mined is replaced at the same nonce with a bump (up to the cap), a
// dropped one is sent again at its nonce, nonces stay right after a reorg and a restart, and a
// refusal by the contract sends nothing.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicClient, http, parseGwei, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ContractRefusalError } from '../../src/chain/errors.ts';
import { bump, FeeCapError, priceFor, replaceAfterBlocks, replacementFees, TxNotMinedError, TxSender, type Fees, type TxEvent } from '../../src/chain/tx-sender.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { deployLedger, sharedChain, type Chain } from './anvil-harness.ts';
import { startRpcFaultProxy } from './rpc-fault-proxy.ts';

let chain: Chain;
let client: PublicClient;
const TO: Address = `0x${'42'.repeat(20)}`;
const rpc = (method: string, params: unknown[] = []) => client.request({ method, params } as never) as Promise<unknown>;
const mine = async (n = 1) => {
  for (let i = 0; i < n; i++) await rpc('evm_mine');
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A sender for anvil account `i`, its events collected. */
function sender(i: number, opts: { cap?: bigint | null; events?: TxEvent[]; waitBlocks?: number; via?: string } = {}): { s: TxSender; events: TxEvent[]; address: Address } {
  const events = opts.events ?? [];
  const account = privateKeyToAccount(chain.anvil.accounts[i] as Hex);
  const s = new TxSender({
    client: opts.via ? createPublicClient({ transport: http(opts.via), pollingInterval: 20 }) : client, account, chainId: chain.anvil.chainId, maxFeePerGas: opts.cap ?? null, replaceAfterBlocks: 3, pollingIntervalMs: 20,
    ...(opts.waitBlocks !== undefined ? { waitBlocks: opts.waitBlocks } : {}),
    onEvent: (e) => events.push(e),
  });
  return { s, events, address: account.address.toLowerCase() as Address };
}

const transfer = (data: Hex = '0x') => ({ to: TO, data, gas: 30_000n, functionName: 'transfer' });

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const sentEvents = (events: TxEvent[]) => events.filter((e): e is Extract<TxEvent, { kind: 'sent' }> => e.kind === 'sent');

before(async () => {
  chain = await sharedChain();
  client = createPublicClient({ transport: http(chain.anvil.rpcUrl), pollingInterval: 20 });
});

describe('fees (pure)', () => {
  const fees = (max: bigint, tip: bigint): Fees => ({ maxFeePerGas: max, maxPriorityFeePerGas: tip });

  it('max fee = 2 × base fee + tip, capped; a base fee above the cap prices nothing', () => {
    assert.deepEqual(priceFor({ baseFee: 10n, tip: 2n, block: 1n }, null), fees(22n, 2n));
    assert.deepEqual(priceFor({ baseFee: 10n, tip: 2n, block: 1n }, 15n), fees(15n, 2n));
    assert.deepEqual(priceFor({ baseFee: 10n, tip: 8n, block: 1n }, 15n), fees(15n, 5n), 'the tip shrinks to fit under the cap');
    assert.equal(priceFor({ baseFee: 16n, tip: 1n, block: 1n }, 15n), null);
  });

  it('a replacement offers at least +12.5 % on both fees and at least today\'s price, or nothing above the cap', () => {
    assert.equal(bump(1000n), 1125n);
    assert.equal(bump(1001n), 1127n, 'rounded up');
    assert.equal(bump(0n), 1n);
    assert.deepEqual(replacementFees(fees(1000n, 100n), null, null), fees(1125n, 113n));
    assert.deepEqual(replacementFees(fees(1000n, 100n), fees(5000n, 50n), null), fees(5000n, 113n));
    assert.deepEqual(replacementFees(fees(1000n, 100n), null, 1125n), fees(1125n, 113n));
    assert.equal(replacementFees(fees(1000n, 100n), null, 1124n), null);
  });

  it('a transaction waits 3 blocks, and at least 3 s, before its bump', () => {
    assert.deepEqual([12, 2, 1, 0.25, null].map(replaceAfterBlocks), [3, 3, 3, 12, 3]);
  });
});

describe('sending on anvil', () => {
  it('fee cap: while the base fee is above --max-fee-gwei nothing is sent and the error says so; once it falls the transaction lands under the cap', async () => {
    const { s, events, address } = sender(11, { cap: parseGwei('50') });
    await rpc('anvil_setNextBlockBaseFeePerGas', [`0x${parseGwei('100').toString(16)}`]);
    await mine(); // next base fee: 87.5 gwei
    const nonce = await client.getTransactionCount({ address });
    await assert.rejects(s.send(transfer()), (e: unknown) => {
      assert.ok(e instanceof FeeCapError);
      assert.equal(e.pending, false);
      assert.match(e.message, /^transfer waits: the base fee \(87\.5 gwei\) is above the fee cap \(50 gwei\); nothing was sent\./);
      return true;
    });
    assert.equal(await client.getTransactionCount({ address, blockTag: 'pending' }), nonce);
    assert.equal(sentEvents(events).length, 0);
    await mine(6); // 87.5 → 44.9 gwei
    const receipt = await s.send(transfer());
    assert.equal(receipt.status, 'success');
    const tx = await client.getTransaction({ hash: receipt.transactionHash });
    assert.ok(tx.maxFeePerGas !== undefined && tx.maxFeePerGas <= parseGwei('50'), 'never above the cap');
  });

  it('a transaction not mined within 3 blocks is replaced at its nonce with ≥ 12.5 % on both fees', async () => {
    // A provider whose pool holds the transaction but never lets it be mined, while blocks go by.
    const pool = await startRpcFaultProxy(chain.anvil.rpcUrl);
    pool.fault({ kind: 'hold-tx' });
    const { s, events, address } = sender(12, { via: pool.url });
    const nonce = await client.getTransactionCount({ address });
    try {
      const pending = s.send(transfer());
      const first = await until('the first send', () => sentEvents(events)[0]);
      await mine(2);
      await sleep(200);
      assert.equal(sentEvents(events).length, 1, 'two blocks: not yet');
      await mine(1);
      const second = await until('the replacement', () => sentEvents(events)[1]);
      assert.equal(second.reason, 'not-mined');
      assert.equal(second.nonce, first.nonce);
      assert.equal(first.nonce, BigInt(nonce));
      assert.notEqual(second.hash, first.hash);
      assert.ok(second.fees.maxFeePerGas >= bump(first.fees.maxFeePerGas));
      assert.ok(second.fees.maxPriorityFeePerGas >= bump(first.fees.maxPriorityFeePerGas));
      assert.equal(await pool.release(), 2);
      const receipt = await pending;
      assert.equal(receipt.transactionHash, second.hash);
      assert.equal(await client.getTransactionCount({ address }), nonce + 1);
    } finally {
      await pool.close();
    }
  });

  it('no room for a bump under the cap: it keeps waiting, the call ends not mined, and the next call waits for the same transaction', async () => {
    const pool = await startRpcFaultProxy(chain.anvil.rpcUrl);
    pool.fault({ kind: 'hold-tx' });
    const events: TxEvent[] = [];
    const probe = sender(13);
    const { fees } = await probe.s.price();
    assert.ok(fees);
    // A cap just above today's price: a +12.5 % bump does not fit under it.
    const { s, address } = sender(13, { cap: fees.maxFeePerGas + fees.maxFeePerGas / 20n, events, waitBlocks: 4, via: pool.url });
    try {
      const first = s.send(transfer());
      const sent = await until('the send', () => sentEvents(events)[0]);
      await mine(4);
      await assert.rejects(first, (e: unknown) => e instanceof TxNotMinedError && /stays pending \(nonce \d+\)/.test(e.message));
      assert.equal(sentEvents(events).length, 1, 'never replaced above the cap');
      const again = s.send(transfer());
      await sleep(100);
      assert.equal(await pool.release(), 1);
      const receipt = await again;
      assert.equal(receipt.transactionHash, sent.hash, 'the same transaction, not a second one');
      assert.equal(sentEvents(events).length, 1);
      assert.equal((await client.getTransaction({ hash: sent.hash })).from.toLowerCase(), address);
    } finally {
      await pool.close();
    }
  });

  it('a transaction the pool dropped is sent again at the same nonce', async () => {
    const { s, events, address } = sender(14);
    const nonce = await client.getTransactionCount({ address });
    await rpc('evm_setAutomine', [false]);
    try {
      const pending = s.send(transfer());
      const first = await until('the send', () => sentEvents(events)[0]);
      await rpc('anvil_dropTransaction', [first.hash]);
      assert.equal(await client.getTransactionCount({ address, blockTag: 'pending' }), nonce, 'gone from the pool');
      await mine(); // an empty block: the sender looks for its transaction
      const again = await until('the resend', () => sentEvents(events)[1]);
      assert.equal(again.reason, 'dropped');
      assert.equal(again.nonce, BigInt(nonce));
      assert.ok(events.some((e) => e.kind === 'dropped' && e.hash === first.hash));
      await mine();
      const receipt = await pending;
      assert.equal(receipt.status, 'success');
      assert.equal(await client.getTransactionCount({ address }), nonce + 1);
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
  });

  it('after a reorg took a mined transaction back, the next one takes the freed nonce (and says the chain went back)', async () => {
    const { s, events, address } = sender(15);
    const nonce = await client.getTransactionCount({ address });
    const r1 = await s.send(transfer('0x01'));
    assert.equal(r1.status, 'success');
    await rpc('anvil_reorg', [1, []]);
    assert.equal(await client.getTransactionCount({ address }), nonce, 'the reorg dropped it');
    const r2 = await s.send(transfer('0x02'));
    const tx = await client.getTransaction({ hash: r2.transactionHash });
    assert.equal(tx.nonce, nonce);
    const note = events.find((e) => e.kind === 'nonce');
    assert.ok(note && note.kind === 'nonce' && note.note === 'went-back' && note.expected === BigInt(nonce) + 1n && note.pending === BigInt(nonce));
  });

  it('a transaction left above a gap (a reorg took the one before it) gets the gap filled and is mined', async () => {
    // anvil evicts a transaction above a gap at its next block (the next test covers that);
    // other pools keep it queued: a provider whose pool holds what it is given plays one.
    const pool = await startRpcFaultProxy(chain.anvil.rpcUrl);
    const { s, events, address } = sender(18, { via: pool.url });
    const nonce = await client.getTransactionCount({ address });
    try {
      await s.send(transfer('0x01'));
      pool.fault({ kind: 'hold-tx' });
      const pending = s.send(transfer('0x02'));
      const second = await until('the second send', () => sentEvents(events)[1]);
      assert.equal(second.nonce, BigInt(nonce) + 1n);
      await rpc('anvil_reorg', [1, []]); // the first vanishes; the second waits above the gap
      assert.equal(await client.getTransactionCount({ address }), nonce);
      for (let i = 0; i < 4; i++) {
        await mine(); // blocks go by, one at a time, and the gap does not close
        await sleep(150);
      }
      const gap = await until('the gap filled', () => events.find((e) => e.kind === 'gap'));
      assert.ok(gap.kind === 'gap' && gap.from === BigInt(nonce) && gap.to === BigInt(nonce) + 1n);
      await until('the filler sent', () => sentEvents(events).find((e) => e.functionName === 'nonce filler'));
      assert.ok((await pool.release()) >= 2, 'the waiting transaction (perhaps bumped meanwhile) and the filler below it');
      pool.fault(null);
      const receipt = await pending;
      const atItsNonce = sentEvents(events).filter((e) => e.functionName === 'transfer' && e.nonce === BigInt(nonce) + 1n);
      assert.equal(receipt.transactionHash, atItsNonce.at(-1)?.hash, 'the waiting transaction itself is mined, at its nonce');
      assert.equal(await client.getTransactionCount({ address }), nonce + 2);
      const filler = sentEvents(events).find((e) => e.functionName === 'nonce filler');
      const tx = await client.getTransaction({ hash: filler?.hash as Hex });
      assert.deepEqual([tx.nonce, tx.to?.toLowerCase(), tx.input, tx.value], [nonce, address, '0x', 0n], 'an empty transfer to itself took the lost nonce');
    } finally {
      await pool.close();
    }
  });

  it('a transaction dropped together with the one before it is sent again at the lowest free nonce', async () => {
    const { s, events, address } = sender(19);
    const nonce = await client.getTransactionCount({ address });
    await s.send(transfer('0x01'));
    await rpc('evm_setAutomine', [false]);
    try {
      const pending = s.send(transfer('0x02'));
      const second = await until('the second send', () => sentEvents(events)[1]);
      await rpc('anvil_reorg', [1, []]);
      await rpc('anvil_dropTransaction', [second.hash]);
      await mine();
      const again = await until('the resend', () => sentEvents(events)[2]);
      assert.equal(again.reason, 'dropped');
      assert.equal(again.nonce, BigInt(nonce), 'moved down to the nonce the reorg freed');
      await mine();
      const receipt = await pending;
      assert.equal(receipt.transactionHash, again.hash);
      assert.equal(await client.getTransactionCount({ address }), nonce + 1);
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
  });

  it('after a restart, a new sender queues after what the previous run left pending', async () => {
    const before = sender(16);
    const nonce = await client.getTransactionCount({ address: before.address });
    await rpc('evm_setAutomine', [false]);
    try {
      const old = before.s.send(transfer('0x01'));
      await until('the old run\'s send', () => sentEvents(before.events)[0]);
      const after = sender(16); // the restarted node: nothing in memory
      const fresh = after.s.send(transfer('0x02'));
      const sent = await until('the new run\'s send', () => sentEvents(after.events)[0]);
      assert.equal(sent.nonce, BigInt(nonce) + 1n);
      const note = after.events.find((e) => e.kind === 'nonce');
      assert.ok(note && note.kind === 'nonce' && note.note === 'inherited' && note.latest === BigInt(nonce) && note.pending === BigInt(nonce) + 1n);
      await mine();
      const [a, b] = await Promise.all([old, fresh]);
      assert.equal(a.status, 'success');
      assert.equal(b.status, 'success');
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
  });

  it('a refusal by the contract sends nothing and is not retried', async () => {
    const txEvents: TxEvent[] = [];
    const ledger = await deployLedger(chain, { interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0, governanceDelay: 0 }, { onTxEvent: (e) => txEvents.push(e) });
    const stranger = chain.addresses[17] as Address;
    const nonce = await client.getTransactionCount({ address: stranger });
    await assert.rejects(ledger.writer(stranger).armGenesis(2), (e: unknown) => e instanceof ContractRefusalError && e.code === 'NotOwner');
    assert.equal(txEvents.length, 0);
    assert.equal(await client.getTransactionCount({ address: stranger, blockTag: 'pending' }), nonce);
  });
});
