// The key-release handler over the registry on anvil (issue 12, finding 6): an app's methods
// and releases take effect at the next block. The node's ledger reads at `safe`, which anvil
// (--slots-in-an-epoch 4) keeps 4 blocks behind the head, as a public chain's finality lag
// would; the handler must read the app at the newest block regardless. Requests go through
// the real HTTP API (inject) and the real handler; no kms-server process is involved.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import pino from 'pino';
import { createPublicClient, createWalletClient, http, type PublicClient } from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { ChainLedger } from '../../src/chain/chain-ledger.ts';
import { deployRegistry } from '../../src/chain/deploy.ts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, toHex, type Hex } from '../../src/crypto/domain.ts';
import type { KeyReleaseRoute } from '../../src/crypto/key-release.ts';
import * as fr from '../../src/crypto/fr.ts';
import { generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { deal } from '../../src/crypto/vss.ts';
import { buildApi } from '../../src/node/http/app.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import { createAppRelease } from '../../src/node/release/handler.ts';
import type { Address, Release } from '../../src/protocol/ledger.ts';
import { ecdsaKeyRequest, newRequester, openReleaseAnswer } from './release-fixtures.ts';

const rng = seededRng('node/release-on-anvil.test');
const SAFE_LAG = 4;

describe('key release on anvil: app methods and releases take effect at the next block', () => {
  let anvil: AnvilInstance;
  let client: PublicClient;
  let ledger: ChainLedger;
  let owner: PrivateKeyAccount;
  let api: ReturnType<typeof buildApi>;

  before(async () => {
    anvil = await startAnvil({ accounts: 4, extraArgs: ['--slots-in-an-epoch', String(SAFE_LAG)] });
    client = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl), pollingInterval: 50 });
    const gov = privateKeyToAccount(anvil.accounts[0] as Hex);
    owner = privateKeyToAccount(anvil.accounts[1] as Hex);
    const wallet = createWalletClient({ account: gov, chain: foundry, transport: http(anvil.rpcUrl) });
    const { address } = await deployRegistry(wallet, client, { interval: 3600, dealWindow: 60, ackWindow: 60, confirmWindow: 60, inclusionMargin: 0, governanceDelay: 0 });
    const keys = Object.fromEntries(anvil.accounts.map((k) => [privateKeyToAccount(k).address.toLowerCase(), k]));
    // The node's ledger reads at `safe`: SAFE_LAG blocks behind the head.
    ledger = new ChainLedger({ rpcUrl: anvil.rpcUrl, registry: address, chainId: anvil.chainId, keys, pollingIntervalMs: 20, blockTag: 'safe' });

    // An operator with one active key version (a real Feldman deal; the chain does not need it).
    const me = privateKeyToAccount(anvil.accounts[2] as Hex).address.toLowerCase() as Address;
    const holders = [me, privateKeyToAccount(anvil.accounts[3] as Hex).address.toLowerCase() as Address];
    const d = deal(rng, 2, holders.map((a) => operatorX(a)), fr.random(rng));
    const poly = new Uint8Array(96 * d.commitments.length);
    d.commitments.forEach((c, k) => poly.set(bls.g2.encode(c), 96 * k));
    const store = new MemoryKeyStore({ chainId: ledger.chainId, registry: address, operator: me });
    store.bindMpk(toHex(poly.subarray(0, 96)));
    store.putVersion({
      id: 1, status: 'active', share: d.shares[0] as bigint, publicPoly: toHex(poly), publicPolyHash: toHex(keccak_256(poly)), threshold: 2, holders,
      confirmedAt: 1, activatedAt: 2,
    });
    const metrics = createNodeMetrics();
    const domain = makeDomain({ chainId: ledger.chainId, registry: address });
    api = buildApi({
      logger: pino({ level: 'silent' }),
      rateLimit: { perClientPerSecond: 1000, burst: 1000 },
      pubkey: () => null,
      health: () => ({ ok: true }),
      metrics,
      appRelease: createAppRelease({ ledger, store, me, domain, sigKeyType: 'ecdsa', sigKey: generateOperatorSecretKey('ecdsa', rng), metrics }),
    });
  });
  after(async () => {
    await api?.close();
    await anvil?.stop();
  });

  const request = async (appId: Hex, route: KeyReleaseRoute = '/app/sign'): Promise<{ req: KeyReleaseRequest; r: ReturnType<typeof newRequester> }> => {
    const r = newRequester(rng);
    const req = await ecdsaKeyRequest({ chainId: ledger.chainId, registry: ledger.registry, route, signer: owner, appId, requester: r, time: Math.floor(Date.now() / 1000) });
    return { req, r };
  };
  const post = async (path: '/app/sign' | '/secrets', req: KeyReleaseRequest) => {
    const res = await api.inject({ method: 'POST', url: path, payload: req });
    return { status: res.statusCode, json: res.json() as { error?: { code: string }; sealed?: string } };
  };
  const mine = async (n: number) => {
    for (let i = 0; i < n; i++) await client.request({ method: 'evm_mine', params: [] } as never);
  };
  const ownerWriter = () => ledger.writer(owner.address.toLowerCase() as Address);

  it('an owner disables ecdsa: the next block\'s request is refused method-not-enabled; re-enabled, answered again', async () => {
    const appId = await ownerWriter().createApp(toHex(rng(32)), ['ecdsa', 'jwt']);
    await mine(2 * SAFE_LAG); // even the lagging tag sees the app now
    const first = await request(appId);
    const ok = await post('/app/sign', first.req);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));

    await ownerWriter().setAttestationMethods(appId, ['jwt']); // mined in the next block
    const refused = await post('/app/sign', (await request(appId)).req);
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json.error?.code, 'method-not-enabled');
    // Still refused while `safe` catches up and after it has.
    await mine(2 * SAFE_LAG);
    assert.equal((await post('/app/sign', (await request(appId)).req)).json.error?.code, 'method-not-enabled');

    await ownerWriter().setAttestationMethods(appId, ['ecdsa']);
    const again = await request(appId);
    const res = await post('/app/sign', again.req);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(openReleaseAnswer(again.r, again.req, res.json.sealed as string).kind, 'sign');
  });

  it('an owner publishes a release: the next block\'s /secrets answer carries it', async () => {
    const appId = await ownerWriter().createApp(toHex(rng(32)), ['ecdsa']);
    const release = (n: number): Release => ({ imageDigest: toHex(rng(32)), launchPolicy: '0x01', encryptedEnv: toHex(rng(40)), publicEnv: `RELEASE=${n}` });
    await ownerWriter().publishRelease(appId, release(0));
    await mine(2 * SAFE_LAG);
    const a = await request(appId, '/secrets');
    const first = await post('/secrets', a.req);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(openReleaseAnswer(a.r, a.req, first.json.sealed as string).env?.publicEnv, 'RELEASE=0');

    await ownerWriter().publishRelease(appId, release(1));
    const b = await request(appId, '/secrets');
    const second = await post('/secrets', b.req);
    assert.equal(second.status, 200, JSON.stringify(second.json));
    const env = openReleaseAnswer(b.r, b.req, second.json.sealed as string).env;
    assert.equal(env?.releaseIndex, 1);
    assert.equal(env?.publicEnv, 'RELEASE=1');
  });
});
