// What only the chain ledger has: error text with meta lines, credential redaction, a
// submission log that is proven complete (a node that drops events is caught and retried),
// unknown keys, and the anvil helper's own failures and live mode.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicClient, http, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startAnvil } from '../../src/chain/anvil.ts';
import { ChainLedger, createChainLedger } from '../../src/chain/chain-ledger.ts';
import { AnvilError, ChainRequestError, ContractRefusalError, redactRpcUrl } from '../../src/chain/errors.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { LedgerError, type Address } from '../../src/protocol/ledger.ts';
import { SIZES } from '../../src/protocol/session-rules.ts';
import { deployLedger, latestTime, setNextTimestamp, sharedChain, type Chain } from './anvil-harness.ts';

const CONFIG = { interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0 };
const rng = seededRng('chain-ledger-errors');
const point = (): Hex => toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', rng), true));

async function registerAll(ledger: ChainLedger, owner: Address, ops: readonly Address[]): Promise<void> {
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  for (const a of ops) {
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), domain);
    await ledger.writer(owner).allowOperator(a, true);
    await ledger.writer(a).register({
      socket: 'https://op.example', sigKeyType: 'ecdsa', sigPublicKey: toHex(signer.publicKey),
      proofOfPossession: toHex(signer.proofOfPossession(a)), sessionKey: point(),
    });
  }
}

/**
 * A JSON-RPC proxy in front of anvil that counts the methods asked (single and batched) and
 * can hide the last log of the next `drop` eth_getLogs answers.
 */
function logDroppingProxy(target: string, opts: { refuseBatches?: boolean } = {}): Promise<{ url: string; server: Server; drop: (n: number) => void; dropped: () => number; calls: Map<string, number>; posts: () => number }> {
  let toDrop = 0;
  let count = 0;
  let posts = 0;
  const calls = new Map<string, number>();
  interface RpcMessage { method?: string; result?: unknown }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      posts++;
      const asked = JSON.parse(body) as RpcMessage | RpcMessage[];
      if (opts.refuseBatches && Array.isArray(asked)) {
        // What some gateways answer to a batch.
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch requests are not supported' } }));
        return;
      }
      const list = Array.isArray(asked) ? asked : [asked];
      for (const m of list) calls.set(m.method ?? '?', (calls.get(m.method ?? '?') ?? 0) + 1);
      void fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => {
        let text = await r.text();
        if (toDrop > 0 && list.some((m) => m.method === 'eth_getLogs')) {
          const parsed = JSON.parse(text) as RpcMessage | RpcMessage[];
          const answers = Array.isArray(parsed) ? parsed : [parsed];
          list.forEach((m, i) => {
            const result = answers[i]?.result;
            if (m.method === 'eth_getLogs' && toDrop > 0 && Array.isArray(result) && result.length > 0) {
              result.pop();
              toDrop--;
              count++;
            }
          });
          text = JSON.stringify(parsed);
        }
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(text);
      });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    drop: (n) => { toDrop = n; },
    dropped: () => count,
    calls,
    posts: () => posts,
  })));
}

describe('chain ledger: errors and complete views', () => {
  let chain: Chain;
  before(async () => {
    chain = await sharedChain();
  });

  it('a refusal is a LedgerError named after the custom error, with contract/function/account/session meta lines', async () => {
    const ledger = await deployLedger(chain, CONFIG);
    const [owner, a0, a1] = chain.addresses as [Address, Address, Address];
    await assert.rejects(ledger.writer(a0).allowOperator(a1, true), (e: unknown) => {
      assert.ok(e instanceof ContractRefusalError && e instanceof LedgerError);
      assert.equal(e.code, 'NotOwner');
      assert.equal(e.message, [
        `NotOwner: allowOperator refused: NotOwner(${a0})`,
        '',
        `Contract: KmsRegistry at ${ledger.registry}`,
        'Function: allowOperator',
        `Account: ${a0}`,
        'Chain: 31337',
        'Block: pending',
      ].join('\n'));
      return true;
    });
    await registerAll(ledger, owner, [a0, a1]);
    await assert.rejects(ledger.writer(a0).submitDeal({ session: 7, commitments: '0x', ephemeralKey: '0x', sealedShares: [] }), (e: unknown) => {
      assert.ok(e instanceof ContractRefusalError);
      assert.equal(e.code, 'UnknownSession');
      assert.equal(e.shortMessage, 'submitDeal refused: UnknownSession(7)');
      assert.deepEqual(e.metaMessages, [
        `Contract: KmsRegistry at ${ledger.registry}`, 'Function: submitDeal', `Account: ${a0}`, 'Session: 7', 'Chain: 31337', 'Block: pending',
      ]);
      assert.deepEqual(e.args, [7n]);
      return true;
    });
  });

  it('window refusals explain the phase', async () => {
    const ledger = await deployLedger(chain, CONFIG);
    const [owner, a0, a1] = chain.addresses as [Address, Address, Address];
    await registerAll(ledger, owner, [a0, a1]);
    await ledger.writer(owner).armGenesis(2);
    const id = await ledger.writer(a0).openSession();
    await assert.rejects(ledger.writer(a0).submitAck({ session: id, complaints: [] }), (e: unknown) => {
      assert.ok(e instanceof ContractRefusalError);
      assert.equal(e.shortMessage, `submitAck refused: session ${id} is in phase deal, not ack`);
      return true;
    });
  });

  it('getSubmissions never returns a partial view: a node that hides an event is retried, then IncompleteView', async () => {
    const ledger = await deployLedger(chain, CONFIG);
    const [owner, a0, a1] = chain.addresses as [Address, Address, Address];
    await registerAll(ledger, owner, [a0, a1]);
    await ledger.writer(owner).armGenesis(2);
    let t = (Math.floor((await latestTime(chain.client)) / 1000) + 1) * 1000;
    await setNextTimestamp(chain.client, t);
    const id = await ledger.writer(a0).openSession();
    const snap = (await ledger.getSession(id))?.snapshot;
    assert.ok(snap);
    for (const d of snap.dealers) {
      await setNextTimestamp(chain.client, ++t);
      await ledger.writer(d).submitDeal({
        session: id, commitments: toHex(rng(snap.tNew * SIZES.g2)), ephemeralKey: point(),
        sealedShares: snap.recipients.map(() => toHex(rng(SIZES.sealedShare))),
      });
    }
    const honest = await ledger.getSubmissions(id);
    assert.equal(honest.length, 2);

    const proxy = await logDroppingProxy(chain.anvil.rpcUrl);
    after(() => proxy.server.close());
    const viaProxy = new ChainLedger({ rpcUrl: proxy.url, registry: ledger.registry, chainId: 31337, attempts: 3, retryDelayMs: 10 });
    proxy.drop(1); // one bad answer: the retry reads a complete log
    assert.deepEqual(await viaProxy.getSubmissions(id), honest);
    assert.equal(proxy.dropped(), 1);
    proxy.drop(10); // a node that keeps hiding an event
    await assert.rejects(viaProxy.getSubmissions(id), (e: unknown) => {
      assert.ok(e instanceof LedgerError);
      assert.equal(e.code, 'IncompleteView');
      assert.match(e.message, /read 1 submissions of session \d+, the contract counts 2/);
      assert.match(e.message, /Contract: KmsRegistry at 0x[0-9a-f]{40}/);
      return true;
    });
    assert.equal(proxy.dropped(), 4, 'three attempts, each on a fresh read');
  });

  it('readsAtOneBlock: every read inside sees one block, fetched once; a write moves it on; reads outside are live', async () => {
    const ledger = await deployLedger(chain, CONFIG);
    const [owner, a0, a1] = chain.addresses as [Address, Address, Address];
    await registerAll(ledger, owner, [a0, a1]);
    await ledger.writer(owner).armGenesis(2);
    const t = (Math.floor((await latestTime(chain.client)) / 1000) + 1) * 1000;
    const proxy = await logDroppingProxy(chain.anvil.rpcUrl);
    after(() => proxy.server.close());
    const pinned = new ChainLedger({ rpcUrl: proxy.url, registry: ledger.registry, chainId: 31337, keys: chain.keys });
    let release = () => {};
    const gate = new Promise<void>((r) => { release = r; });
    const blocks = () => proxy.calls.get('eth_getBlockByNumber') ?? 0;
    const inside = pinned.readsAtOneBlock(async () => {
      const before = await pinned.now();
      await gate; // meanwhile the chain moves on
      const fetched = blocks();
      const [now, latest, gov] = await Promise.all([pinned.now(), pinned.latestSessionId(), pinned.getGovernance()]);
      assert.equal(now, before);
      assert.equal(latest, 0, 'the session opened after the pinned block is not seen inside');
      assert.equal(gov.genesisMinOperators, 2);
      assert.equal(blocks(), fetched, 'no block fetched again for three more reads');
      // A write through this ledger drops the pin: the next read inside sees the chain now.
      await pinned.writer(a1).allowOperator(a1, true).catch(() => undefined); // refused (not owner): still a write attempt
      assert.equal(await pinned.latestSessionId(), 1);
      assert.ok((await pinned.now()) >= t);
    });
    // Another writer moves the chain on; the same ledger read outside the call is live.
    await setNextTimestamp(chain.client, t);
    await ledger.writer(a0).openSession();
    assert.equal(await pinned.latestSessionId(), 1);
    release();
    await inside;
    // The reads of one tick travel together: fewer HTTP requests than JSON-RPC calls.
    const posts = proxy.posts();
    await pinned.readsAtOneBlock(() => Promise.all([pinned.getGovernance(), pinned.latestSessionId(), pinned.getMpk()]));
    assert.equal(proxy.posts() - posts, 2, 'one request for the block, one batch for the three calls');
  });

  it('an endpoint that refuses JSON-RPC batches gets every call on its own, with the same answers', async () => {
    const ledger = await deployLedger(chain, CONFIG);
    const [owner, a0] = chain.addresses as [Address, Address];
    await ledger.writer(owner).allowOperator(a0, true);
    const strict = await logDroppingProxy(chain.anvil.rpcUrl, { refuseBatches: true });
    const lenient = await logDroppingProxy(chain.anvil.rpcUrl);
    after(() => {
      strict.server.close();
      lenient.server.close();
    });
    const viaStrict = await createChainLedger({ rpcUrl: strict.url, registry: ledger.registry, keys: chain.keys });
    const viaLenient = await createChainLedger({ rpcUrl: lenient.url, registry: ledger.registry });
    assert.equal(viaStrict.batching, false);
    assert.equal(viaLenient.batching, true);
    const read = (l: ChainLedger) => l.readsAtOneBlock(() => Promise.all([l.getGovernance(), l.isAllowed(a0), l.latestSessionId()]));
    assert.deepEqual(await read(viaStrict), await read(viaLenient));
    assert.equal((await read(viaStrict))[1], true);
    // Writes work too.
    await viaStrict.writer(owner).allowOperator(a0, false);
    assert.equal(await viaLenient.isAllowed(a0), false);
  });

  it('a writer needs the private key of its account', async () => {
    const ledger = new ChainLedger({ rpcUrl: chain.anvil.rpcUrl, registry: `0x${'11'.repeat(20)}`, chainId: 31337, keys: {} });
    assert.throws(() => ledger.writer(chain.addresses[0] as Address), (e: unknown) => e instanceof ChainRequestError && /No private key/.test(e.message));
    assert.throws(() => ledger.writer('0x1234' as Address), (e: unknown) => e instanceof LedgerError && e.code === 'BadParameter');
  });
});

describe('chain ledger: RPC credentials never reach a message', () => {
  it('redactRpcUrl strips basic auth, API-key path segments and query values', () => {
    assert.equal(redactRpcUrl('https://user:pass@rpc.example/v3/0123456789abcdef0123'), 'https://rpc.example/v3/***');
    assert.equal(redactRpcUrl('https://eth-mainnet.g.alchemy.com/v2/AbC_dEf-1234567890xyz'), 'https://eth-mainnet.g.alchemy.com/v2/***');
    assert.equal(redactRpcUrl('https://rpc.example/?apikey=s3cret&x=1'), 'https://rpc.example/?apikey=***&x=***');
    assert.equal(redactRpcUrl('http://127.0.0.1:8545'), 'http://127.0.0.1:8545/');
    assert.equal(redactRpcUrl('not a url with secret'), '<invalid url>');
  });

  it('an unreachable RPC fails with a redacted ChainRequestError', async () => {
    const url = 'http://alice:hunter2@127.0.0.1:9/v3/0123456789abcdef0123456789?key=topsecret';
    const ledger = new ChainLedger({ rpcUrl: url, registry: `0x${'11'.repeat(20)}`, chainId: 31337 });
    await assert.rejects(ledger.getGovernance(), (e: unknown) => {
      assert.ok(e instanceof ChainRequestError);
      const text = `${e.message}\n${e.details ?? ''}\n${e.metaMessages.join('\n')}`;
      for (const secret of ['alice', 'hunter2', '0123456789abcdef0123456789', 'topsecret']) assert.ok(!text.includes(secret), `leaked ${secret}: ${text}`);
      assert.match(text, /RPC: http:\/\/127\.0\.0\.1:9\/v3\/\*\*\*\?key=\*\*\*/);
      return true;
    });
  });
});

describe('anvil helper', () => {
  it('names a missing binary clearly', async () => {
    await assert.rejects(startAnvil({ binary: '/nonexistent/anvil' }), (e: unknown) => {
      assert.ok(e instanceof AnvilError);
      assert.equal(e.shortMessage, 'The anvil binary does not exist.');
      assert.deepEqual(e.metaMessages, ['Path: /nonexistent/anvil']);
      return true;
    });
  });

  it('live mode (--block-time 1) mines on its own and the ledger waits for receipts', async () => {
    const anvil = await startAnvil({ blockTime: 1, accounts: 3 });
    try {
      const client = createPublicClient({ transport: http(anvil.rpcUrl), pollingInterval: 100 });
      const addresses = anvil.accounts.map((k) => privateKeyToAccount(k).address.toLowerCase() as Address);
      const live: Chain = { anvil, client, addresses, keys: Object.fromEntries(addresses.map((a, i) => [a, anvil.accounts[i] as Hex])) };
      const b0 = await live.client.getBlockNumber();
      const ledger = await deployLedger(live, CONFIG);
      const [owner, a0] = live.addresses as [Address, Address];
      await ledger.writer(owner).allowOperator(a0, true);
      assert.equal(await ledger.isAllowed(a0), true);
      assert.ok((await live.client.getBlockNumber()) > b0);
    } finally {
      await anvil.stop();
    }
  });
});
