// The RPC pool (src/chain/rpc-pool.ts) against anvil, each provider a fault-injecting proxy
// (test/chain/rpc-fault-proxy.ts): failover in listed order, backoff and recovery, the head a
// quorum reports, reads compared between providers, and a view that refuses to act once its
// providers disagree. Every fault is injected for real; the chain is the judge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startAnvil } from '../../src/chain/anvil.ts';
import { ChainLedger, createChainLedger } from '../../src/chain/chain-ledger.ts';
import { ChainViewError, RpcPool, type PoolEvent } from '../../src/chain/rpc-pool.ts';
import { BACKOFF_BASE_MS } from '../../src/chain/rpc-provider.ts';
import { answerKey, candidateHeights, chooseHead, type HeadReport } from '../../src/chain/rpc-quorum.ts';
import type { TxEvent } from '../../src/chain/tx-sender.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { deployLedger, sharedChain, type Chain } from './anvil-harness.ts';
import { startRpcFaultProxy, type RpcFaultProxy } from './rpc-fault-proxy.ts';

const CONFIG = { interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0, governanceDelay: 0 };

let chain: Chain;
let registry: Address;
let owner: Address;
const proxies: RpcFaultProxy[] = [];

async function proxy(): Promise<RpcFaultProxy> {
  const p = await startRpcFaultProxy(chain.anvil.rpcUrl);
  proxies.push(p);
  return p;
}

async function three(): Promise<[RpcFaultProxy, RpcFaultProxy, RpcFaultProxy]> {
  return [await proxy(), await proxy(), await proxy()];
}

/** A ledger over `pool` with every anvil key; tx events collected. */
function pooled(pool: RpcPool, txEvents: TxEvent[] = []): ChainLedger {
  return new ChainLedger({
    rpcUrl: 'http://unused.invalid', pool, registry, chainId: chain.anvil.chainId, keys: chain.keys, pollingIntervalMs: 20,
    onTxEvent: (e) => txEvents.push(e),
  });
}

const ethCalls = (p: RpcFaultProxy) => p.calls.get('eth_call') ?? 0;

async function mineEmpty(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await chain.client.request({ method: 'evm_mine', params: [] } as never);
}

before(async () => {
  chain = await sharedChain();
  const ledger = await deployLedger(chain, CONFIG);
  registry = ledger.registry;
  owner = chain.addresses[0] as Address;
  await mineEmpty(6); // a few blocks of history for the stale provider to lag behind
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

describe('RPC pool: head choice and answer keys (pure)', () => {
  const head = (provider: number, number: number, hash: string, ts = number): HeadReport => ({
    provider, head: { number: BigInt(number), hash, parentHash: `p${number}`, timestamp: BigInt(ts) },
  });

  it('a quorum picks the highest block it agrees on; a stale provider lags and a lying one forms its own group', () => {
    const c = chooseHead([head(0, 100, 'a'), head(1, 98, 'x'), head(2, 100, 'a'), head(3, 100, 'lie')], 2);
    assert.ok(c.ok);
    assert.equal(c.head.number, 100n);
    assert.equal(c.head.hash, 'a');
    assert.deepEqual(c.group, [0, 2]);
  });

  it('the same block with another timestamp is another block: a liar cannot join the group by hash alone', () => {
    const c = chooseHead([head(0, 100, 'a', 5), head(1, 100, 'a', 6)], 2);
    assert.equal(c.ok, false);
  });

  it('k = 1: the freshest head wins, the first listed among equals', () => {
    const c = chooseHead([head(0, 97, 'old'), head(1, 100, 'a'), head(2, 100, 'a')], 1);
    assert.ok(c.ok);
    assert.deepEqual([c.head.hash, c.group], ['a', [1, 2]]);
  });

  it('no agreement at the top: the heights two providers have reached, highest first, to ask the ones ahead about', () => {
    const reports = [head(0, 101, 'b'), head(1, 100, 'a'), head(2, 99, 'z')];
    assert.equal(chooseHead(reports, 2).ok, false);
    assert.deepEqual(candidateHeights(reports, 2), [100n, 99n]);
    // A liar at the top with one honest provider at the same height: the height below comes next.
    assert.deepEqual(candidateHeights([head(0, 40, 'lie'), head(1, 40, 'a'), head(2, 39, 'b')], 2), [40n, 39n]);
    assert.deepEqual(candidateHeights(reports.slice(0, 1), 2), []);
  });

  it('answers compare by what the node reads: extra fields and key order do not matter, a changed byte does', () => {
    const log = { address: '0xAB', topics: ['0x01'], data: '0x02', blockNumber: '0x1', blockHash: '0x3', transactionHash: '0x4', transactionIndex: '0x0', logIndex: '0x0' };
    assert.equal(answerKey('eth_getLogs', [{ ...log, blockTimestamp: '0x9' }]), answerKey('eth_getLogs', [{ ...log, removed: false, address: '0xab' }]));
    assert.notEqual(answerKey('eth_getLogs', [log]), answerKey('eth_getLogs', [{ ...log, data: '0x03' }]));
    assert.equal(answerKey('eth_call', '0x00ff'), answerKey('eth_call', '0x00FF'));
    assert.notEqual(answerKey('eth_call', '0x00ff'), answerKey('eth_call', '0x00fe'));
    assert.equal(answerKey('eth_estimateGas', '0x5208'), answerKey('eth_estimateGas', '0x5209'));
  });
});

describe('RPC pool: failover and backoff', () => {
  it('a provider that drops every connection is skipped: its reads go to the next one in listed order', async () => {
    const [a, b, c] = await three();
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url, c.url], { hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    a.fault({ kind: 'drop' });
    const gov = await ledger.getGovernance();
    assert.equal(gov.interval, CONFIG.interval);
    assert.ok(a.hits >= 1, 'the first provider was asked');
    assert.ok(ethCalls(b) >= 1, 'the second one answered');
    assert.equal(ethCalls(c), 0, 'the third was never needed');
    const down = events.filter((e) => e.kind === 'provider-down');
    assert.equal(down.length, 1, 'said once for the streak');
    assert.match(JSON.stringify(down[0]), /"provider":"0:127\.0\.0\.1:\d+"/);
    assert.equal(pool.status().providers[0]?.up, false);
  });

  it('backoff: a failing provider is not asked again until its backoff is over, doubles while it fails, and comes back when it answers', async () => {
    const [a, b] = [await proxy(), await proxy()];
    let now = 1_000_000;
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url], { now: () => now, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    a.fault({ kind: 'status', status: 502 });
    await ledger.getGovernance();
    assert.equal(a.requests, 1);
    for (let i = 0; i < 3; i++) await ledger.getGovernance();
    assert.equal(a.requests, 1, 'skipped while backing off');
    now += BACKOFF_BASE_MS;
    await ledger.getGovernance();
    assert.equal(a.requests, 2, 'tried again once its first backoff (1 s) was over');
    now += BACKOFF_BASE_MS * 1.5;
    await ledger.getGovernance();
    assert.equal(a.requests, 2, 'the second backoff is 2 s');
    a.fault(null);
    now += BACKOFF_BASE_MS;
    const before = ethCalls(b);
    await ledger.getGovernance();
    await ledger.getGovernance();
    assert.equal(a.requests, 6, 'healthy again: first in line (a block and a call per read)');
    assert.equal(ethCalls(b), before, 'the second provider is no longer needed');
    assert.deepEqual(events.map((e) => e.kind), ['provider-down', 'provider-up']);
    assert.equal(pool.status().providers[0]?.up, true);
  });

  it('a 5xx, a timeout and a dropped socket all fail over; a revert is the chain\'s answer and does not', async () => {
    const [a, b] = [await proxy(), await proxy()];
    const pool = new RpcPool([a.url, b.url], { timeoutMs: 300 });
    const ledger = pooled(pool);
    for (const f of [{ kind: 'status', status: 503 }, { kind: 'delay', ms: 1_000 }, { kind: 'drop' }] as const) {
      a.fault(f);
      const fresh = pooled(new RpcPool([a.url, b.url], { timeoutMs: 300 }));
      assert.equal((await fresh.getGovernance()).interval, CONFIG.interval, `failed over after ${f.kind}`);
    }
    a.fault(null);
    // A refusal (revert) from the first provider is final: the second is not asked.
    const stranger = chain.addresses[9] as Address;
    const bCalls = b.calls.get('eth_estimateGas') ?? 0;
    await assert.rejects(ledger.writer(stranger).armGenesis(2), /NotOwner/);
    assert.equal(b.calls.get('eth_estimateGas') ?? 0, bCalls);
    assert.equal(pool.status().providers[0]?.failures, 0);
  });

  it('credentials in provider URLs appear in no event, status or error', async () => {
    const b = await proxy();
    const secretUrl = 'http://alice:hunter2@127.0.0.1:9/v3/0123456789abcdef0123456789?key=topsecret';
    const events: PoolEvent[] = [];
    const pool = new RpcPool([secretUrl, b.url], { hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    await ledger.getGovernance();
    const alone = new RpcPool([secretUrl, 'http://bob:pw@127.0.0.1:9/v2/AbC_dEf-1234567890xyz']);
    const err = await pooled(alone).getGovernance().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof Error);
    const text = [JSON.stringify(events), JSON.stringify(pool.status()), JSON.stringify(alone.status()), err.message, String((err as { details?: string }).details), pool.describe()].join('\n');
    for (const secret of ['alice', 'hunter2', '0123456789abcdef0123456789', 'topsecret', 'bob', 'AbC_dEf-1234567890xyz']) {
      assert.ok(!text.includes(secret), `leaked ${secret}`);
    }
    assert.match(text, /0:127\.0\.0\.1:9/);
  });

  it('createChainLedger refuses providers that serve different chains', async () => {
    const other = await startAnvil({ chainId: 1337 });
    try {
      await assert.rejects(createChainLedger({ rpcUrl: chain.anvil.rpcUrl, rpcUrls: [chain.anvil.rpcUrl, other.rpcUrl], registry }), (e: unknown) => {
        assert.match((e as Error).message, /The RPC providers serve different chains\./);
        assert.match((e as Error).message, /Provider 0:127\.0\.0\.1:\d+: chain 31337/);
        assert.match((e as Error).message, /Provider 1:127\.0\.0\.1:\d+: chain 1337/);
        return true;
      });
    } finally {
      await other.stop();
    }
  });
});

describe('RPC pool: quorum views', () => {
  const latest = async () => (await chain.client.getBlock({ blockTag: 'latest' })).number;

  it('k = 1: a stale provider listed first is passed over for the freshest head', async () => {
    const [a, b] = [await proxy(), await proxy()];
    a.fault({ kind: 'stale', blocks: 3 });
    // Both heads must be in before the choice: a grace long enough for a loaded machine (the
    // default 100 ms can pass before the second answer arrives, and then only one head is seen).
    const pool = new RpcPool([a.url, b.url], { graceMs: 10_000 });
    const ledger = pooled(pool);
    const head = await latest();
    const seen = await ledger.readsAtOneBlock(async () => {
      await ledger.now();
      return pool.status().providers.map((p) => p.head);
    });
    assert.deepEqual(seen, [Number(head) - 3, Number(head)]);
    assert.equal(pool.status().providers[0]?.lagBlocks, 3);
    assert.ok(ethCalls(a) === 0, 'nothing was read from the stale provider');
  });

  it('k = 2 of 3: a stale provider lags, so the view pins the head the two fresh ones report', async () => {
    const [a, b, c] = await three();
    a.fault({ kind: 'stale', blocks: 4 });
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2 });
    const ledger = pooled(pool);
    const expected = await ledger.readsAtOneBlock(() => ledger.getGovernance());
    assert.equal(expected.interval, CONFIG.interval);
    assert.equal(ethCalls(a), 0);
    assert.equal(ethCalls(b), 1);
    assert.equal(ethCalls(c), 1);
    assert.equal(pool.status().ok, true);
  });

  it('k = 2 of 3: a provider that lies about eth_call is outvoted by the third and skipped', async () => {
    const [a, b, c] = await three();
    a.fault({ kind: 'lie-call' });
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    const honest = await pooled(new RpcPool([chain.anvil.rpcUrl])).getGovernance();
    assert.deepEqual(await ledger.readsAtOneBlock(() => ledger.getGovernance()), honest);
    const dis = events.find((e) => e.kind === 'disagreement');
    assert.ok(dis && dis.kind === 'disagreement');
    assert.match(dis.provider, /^0:/);
    assert.equal(dis.method, 'eth_call');
    assert.equal(pool.status().providers[0]?.up, false, 'the liar backs off');
    // The next view leaves it out from the start.
    const before = ethCalls(a);
    assert.deepEqual(await ledger.readsAtOneBlock(() => ledger.getGovernance()), honest);
    assert.equal(ethCalls(a), before);
  });

  it('k = 2 of 3: a provider that reports another hash for the head is left out of the group', async () => {
    const [a, b, c] = await three();
    a.fault({ kind: 'lie-head' });
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    const head = await chain.client.getBlock({ blockTag: 'latest' });
    const t = await ledger.readsAtOneBlock(() => ledger.now());
    assert.equal(t, Number(head.timestamp));
    assert.equal(ethCalls(a), 0);
    assert.ok(events.some((e) => e.kind === 'disagreement' && e.provider.startsWith('0:') && e.method === 'the head'));
  });

  it('a liar is said once per streak: its honest answers to other requests (the head) do not clear it', async () => {
    const [a, b, c] = await three();
    a.fault({ kind: 'lie-call' });
    let now = 2_000_000;
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2, now: () => now, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    for (let round = 0; round < 3; round++) {
      await ledger.readsAtOneBlock(() => ledger.getGovernance());
      now += 70_000; // past any backoff: it is asked again, answers the head honestly, lies again
    }
    assert.ok(ethCalls(a) >= 3, 'the liar was asked in every view');
    assert.equal(events.filter((e) => e.kind === 'disagreement').length, 1);
    assert.equal(events.filter((e) => e.kind === 'provider-up').length, 0, 'never "answers again" while it lies');
    a.fault(null);
    await ledger.readsAtOneBlock(() => ledger.getGovernance());
    assert.deepEqual(events.map((e) => e.kind), ['disagreement', 'provider-up'], 'it agrees with the quorum again: back');
  });

  it('before giving up on a head, the providers that are backing off are asked too', async () => {
    const [a, b, c] = await three();
    const now = 3_000_000;
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2, now: () => now });
    const ledger = pooled(pool);
    a.fault({ kind: 'status', status: 503 });
    await ledger.getGovernance(); // a fails once: it backs off
    assert.equal(pool.status().providers[0]?.up, false);
    a.fault(null); // healthy again, but still in its backoff
    b.fault({ kind: 'lie-head' }); // of the two up, one lies: no quorum without a
    const t = await ledger.readsAtOneBlock(() => ledger.now());
    assert.equal(t, Number((await chain.client.getBlock({ blockTag: 'latest' })).timestamp));
    assert.equal(pool.status().ok, true);
  });

  it('no answer reaches the quorum: the view refuses every later request, a transaction included, and says why once', async () => {
    const [a, b] = [await proxy(), await proxy()];
    a.fault({ kind: 'lie-call' });
    const events: PoolEvent[] = [];
    const txEvents: TxEvent[] = [];
    const pool = new RpcPool([a.url, b.url], { quorum: 2, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool, txEvents);
    const nonce = await chain.client.getTransactionCount({ address: owner });
    const refused: unknown[] = [];
    await ledger.readsAtOneBlock(async () => {
      await ledger.getGovernance().catch((e: unknown) => refused.push(e));
      // A read the liar would answer honestly is refused too: nothing more comes from this view.
      await ledger.client.getBlock({ blockNumber: 1n }).catch((e: unknown) => refused.push(e));
      // What a careless caller might do next: act anyway.
      await ledger.writer(owner).setChurnCap(2).catch((e: unknown) => refused.push(e));
    });
    assert.equal(refused.length, 3);
    for (const e of refused) {
      assert.ok(e instanceof ChainViewError, String(e));
      assert.equal(e.reason, 'disagreement');
    }
    assert.equal(await chain.client.getTransactionCount({ address: owner }), nonce, 'nothing was sent');
    assert.equal(txEvents.length, 0);
    assert.deepEqual(pool.status().ok, false);
    assert.equal(pool.status().reason, 'disagreement');
    // Again: the status does not repeat itself.
    await ledger.readsAtOneBlock(() => ledger.getGovernance()).catch(() => undefined);
    assert.equal(events.filter((e) => e.kind === 'view').length, 1);
    // The liar stops lying: the next view agrees, and the pool says so once.
    a.fault(null);
    await new Promise((r) => setTimeout(r, 2 * BACKOFF_BASE_MS + 100));
    await ledger.readsAtOneBlock(() => ledger.getGovernance());
    assert.equal(pool.status().ok, true);
    const views = events.filter((e) => e.kind === 'view');
    assert.equal(views.length, 2);
    assert.equal(views[1]?.ok, true);
  });

  it('k = 2 of 3 with one stale and one lying provider: one honest answer is not a quorum, the node does not act', async () => {
    const [a, b, c] = await three();
    a.fault({ kind: 'stale', blocks: 4 });
    b.fault({ kind: 'lie-call' });
    const txEvents: TxEvent[] = [];
    const pool = new RpcPool([a.url, b.url, c.url], { quorum: 2 });
    const ledger = pooled(pool, txEvents);
    const nonce = await chain.client.getTransactionCount({ address: owner });
    await assert.rejects(ledger.readsAtOneBlock(async () => {
      await ledger.getGovernance();
      await ledger.writer(owner).setChurnCap(2);
    }), (e: unknown) => e instanceof ChainViewError && e.reason === 'disagreement');
    assert.equal(await chain.client.getTransactionCount({ address: owner }), nonce);
    assert.equal(txEvents.length, 0);
  });

  it('k = 2: reads outside ticks (the HTTP API) are compared too, without touching the ticks\' verdict', async () => {
    const [a, b] = [await proxy(), await proxy()];
    a.fault({ kind: 'lie-call' });
    const events: PoolEvent[] = [];
    const pool = new RpcPool([a.url, b.url], { quorum: 2, hooks: { onEvent: (e) => events.push(e) } });
    const ledger = pooled(pool);
    await assert.rejects(ledger.getGovernance(), (e: unknown) => e instanceof ChainViewError && e.reason === 'disagreement');
    // The status (and its log line) follows the ticks: API reads between them would make it flap.
    assert.equal(pool.status().ok, true);
    assert.equal(events.filter((e) => e.kind === 'view').length, 0);
    // With k = 1 the same liar is believed (or its answer does not even decode): that is what
    // the quorum is for.
    const honest = await pooled(new RpcPool([b.url])).getGovernance();
    const trusting = pooled(new RpcPool([a.url, b.url]));
    assert.notDeepEqual(await trusting.getGovernance().catch((e: unknown) => e), honest);
  });
});
