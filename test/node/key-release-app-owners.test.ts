// Key release under the app owner's control (issue 16), through buildApi(...).inject() on a
// MemoryLedger: a frozen app is refused — identical retries of answered requests included —
// and served again after unfreeze; after a transfer the previous owner's signatures (fresh or
// replayed) are refused and the new owner gets the same key; after a rotation only the new
// epoch's partial is served (a replayed request too); a contract-wallet owner is asked
// (EIP-1271) and only its "yes" releases the key, whatever else it does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import pino from 'pino';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, parseHex, toHex, type Hex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { appIdentity, keyRequestTypedData } from '../../src/crypto/key-release.ts';
import { generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { ecdsaRecoverAddressFromDigest } from '../../src/crypto/operator-sig-ecdsa.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { verifyPartial } from '../../src/crypto/threshold.ts';
import { deal, publicShare } from '../../src/crypto/vss.ts';
import { buildApi } from '../../src/node/http/app.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import type { AppView, ContractSignatureAnswer } from '../../src/node/release/app-reads.ts';
import { createAppRelease } from '../../src/node/release/handler.ts';
import type { Address, Release } from '../../src/protocol/ledger.ts';
import type { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import { ecdsaKeyRequest, ledgerWithOperator, newRequester, openReleaseAnswer, refusalCountIn, type Requester } from './release-fixtures.ts';

const rng = seededRng('node/key-release-app-owners.test');
const CHAIN_ID = 31337n;
const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address;
const DOMAIN = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });
const NOW_S = 1_800_000_000;
const newAccount = (): PrivateKeyAccount => privateKeyToAccount(toHex(generateOperatorSecretKey('ecdsa', rng)));
const addr = (a: PrivateKeyAccount): Address => a.address.toLowerCase() as Address;

/** A 2-of-3 wallet as the test contract decides (contracts/test/MultiSigWallet1271.sol), in TS. */
function twoOfThree(owners: readonly Address[], digest: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 130) return false;
  const who = [sig.subarray(0, 65), sig.subarray(65)].map((s) => {
    try {
      return toHex(ecdsaRecoverAddressFromDigest(digest, s));
    } catch {
      return null;
    }
  });
  return who[0] !== who[1] && who.every((a) => a !== null && owners.includes(a));
}

interface World {
  readonly ledger: MemoryLedger;
  readonly owner: PrivateKeyAccount;
  readonly app: Hex;
  readonly publicShare: ReturnType<typeof publicShare>;
  /** Answers of the "contract" at each address: the wallet rule, or a scripted answer. */
  readonly wallets: Map<Address, (digest: Uint8Array, sig: Uint8Array) => ContractSignatureAnswer>;
  /** How many times the handler asked a wallet. */
  walletCalls: number;
  post(body: KeyReleaseRequest, path?: '/app/sign' | '/secrets'): Promise<{ status: number; body: string; json: Record<string, unknown> }>;
  refusals(reason: string): Promise<number>;
}

async function world(): Promise<World> {
  const me = addr(newAccount());
  const { ledger, sigKey } = await ledgerWithOperator({ chainId: CHAIN_ID, registry: REGISTRY, domain: DOMAIN, rng, startTime: NOW_S - 1000, gov: addr(newAccount()), me });
  const holders = [me, addr(newAccount()), addr(newAccount())];
  const xs = holders.map((a) => operatorX(a));
  const d = deal(rng, 2, xs, fr.random(rng));
  const poly = new Uint8Array(96 * d.commitments.length);
  d.commitments.forEach((c, k) => poly.set(bls.g2.encode(c), 96 * k));
  const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: me });
  store.bindMpk(toHex(poly.subarray(0, 96)));
  store.putVersion({
    id: 5, status: 'active', share: d.shares[0] as bigint, publicPoly: toHex(poly), publicPolyHash: toHex(keccak_256(poly)), threshold: 2, holders,
    confirmedAt: NOW_S - 500, activatedAt: NOW_S - 400,
  });
  const owner = newAccount();
  const app = await ledger.writer(addr(owner)).createApp(toHex(rng(32)), ['ecdsa']);
  const release: Release = { imageDigest: toHex(rng(32)), launchPolicy: '0x01', encryptedEnv: toHex(rng(100)), publicEnv: 'A=1' };
  await ledger.writer(addr(owner)).publishRelease(app, release);

  const wallets = new Map<Address, (digest: Uint8Array, sig: Uint8Array) => ContractSignatureAnswer>();
  const metrics = createNodeMetrics();
  const w: World = {
    ledger, owner, app, publicShare: publicShare(d.commitments, xs[0] as bigint), wallets, walletCalls: 0,
    async post(body, path = '/app/sign') {
      const res = await api.inject({ method: 'POST', url: path, payload: body });
      return { status: res.statusCode, body: res.body, json: res.json() as Record<string, unknown> };
    },
    async refusals(reason) {
      return refusalCountIn((await metrics.render()).body, reason);
    },
  };
  // The ledger as a node sees it, plus the EIP-1271 answers of the addresses that are "contracts".
  const source = {
    chainId: ledger.chainId,
    registry: ledger.registry,
    getApp: (id: Hex) => ledger.getApp(id),
    getRelease: (id: Hex, i: number) => ledger.getRelease(id, i),
    contractSignature: (async (owner, digest, sig) => {
      const wallet = wallets.get(owner.toLowerCase() as Address);
      if (wallet === undefined) return 'no-code';
      w.walletCalls++;
      return wallet(digest, sig);
    }) satisfies AppView['contractSignature'],
  };
  const api = buildApi({
    logger: pino({ level: 'silent' }),
    rateLimit: { perClientPerSecond: 1000, burst: 100_000 },
    pubkey: () => null,
    health: () => ({ ok: true }),
    metrics,
    appRelease: createAppRelease({ ledger: source, store, me, domain: DOMAIN, sigKeyType: 'ecdsa', sigKey, metrics }, { clock: () => NOW_S * 1000 }),
  });
  return w;
}

function signed(appId: Hex, r: Requester, signer: PrivateKeyAccount, route: '/app/sign' | '/secrets' = '/app/sign'): Promise<KeyReleaseRequest> {
  return ecdsaKeyRequest({ chainId: CHAIN_ID, registry: REGISTRY, signer, appId, requester: r, time: NOW_S, route });
}

/** A request attested by several keys at once (their signatures concatenated): what a multisig owner sends. */
async function multiSigned(appId: Hex, r: Requester, signers: readonly PrivateKeyAccount[]): Promise<KeyReleaseRequest> {
  const typed = keyRequestTypedData({ chainId: CHAIN_ID, registry: REGISTRY, route: '/app/sign', appId, responseKey: r.responseKey, nonce: r.nonce, time: NOW_S });
  const sigs = await Promise.all(signers.map((s) => s.signTypedData(typed)));
  return { appId, responseKey: r.responseKey, nonce: r.nonce, attestation: { method: 'ecdsa', signature: `0x${sigs.map((s) => s.slice(2)).join('')}` as Hex, time: NOW_S } };
}

function errorCode(res: { json: Record<string, unknown> }): string | undefined {
  return (res.json.error as { code?: string } | undefined)?.code;
}

/** The partial of an accepted answer, checked against Q(appIdentity(app, epoch)) and PK_j. */
function partialOf(w: World, r: Requester, req: KeyReleaseRequest, res: { status: number; body: string; json: Record<string, unknown> }, epoch: number): Uint8Array {
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.epoch, epoch, 'the answer names the epoch');
  const a = openReleaseAnswer(r, req, res.json.sealed as string);
  assert.ok(verifyPartial(w.publicShare, appIdentity(w.app, epoch), a.partial), `the partial is for epoch ${epoch}`);
  return a.partial;
}

describe('key release: app freeze (issue 16)', () => {
  it('a frozen app is refused from the next read on (app-frozen, counted), even the identical retry of a request answered before; unfrozen, it is served again', async () => {
    const w = await world();
    const r = newRequester(rng);
    const req = await signed(w.app, r, w.owner);
    const before = await w.post(req);
    partialOf(w, r, req, before, 0);
    const secretsReq = await signed(w.app, r, w.owner, '/secrets');
    assert.equal((await w.post(secretsReq, '/secrets')).status, 200);

    await w.ledger.writer(addr(w.owner)).setAppFrozen(w.app, true);
    const counted = await w.refusals('app-frozen');
    // The attack: replay a request the node answered (its answer sits in the replay cache).
    const retry = await w.post(req);
    assert.equal(retry.status, 403, retry.body);
    assert.equal(errorCode(retry), 'app-frozen');
    assert.match(retry.body, /froze key release/);
    assert.equal(errorCode(await w.post(secretsReq, '/secrets')), 'app-frozen');
    const fresh = newRequester(rng);
    assert.equal(errorCode(await w.post(await signed(w.app, fresh, w.owner))), 'app-frozen');
    assert.equal(await w.refusals('app-frozen'), counted + 3);

    await w.ledger.writer(addr(w.owner)).setAppFrozen(w.app, false);
    const again = await w.post(req);
    assert.equal(again.body, before.body, 'unfrozen: the identical retry gets its identical answer again');
    const r2 = newRequester(rng);
    const req2 = await signed(w.app, r2, w.owner);
    partialOf(w, r2, req2, await w.post(req2), 0);
  });
});

describe('key release: app transfer (issue 16)', () => {
  it('after acceptance the previous owner is refused, for fresh requests and for retries of answered ones; the new owner gets the same partial', async () => {
    const w = await world();
    const next = newAccount();
    const r = newRequester(rng);
    const old = await signed(w.app, r, w.owner);
    const first = await w.post(old);
    const partial = partialOf(w, r, old, first, 0);

    await w.ledger.writer(addr(w.owner)).transferApp(w.app, addr(next));
    // Proposed, not accepted: the owner keeps its rights, the proposed owner has none yet.
    const rp = newRequester(rng);
    assert.equal(errorCode(await w.post(await signed(w.app, rp, next))), 'not-app-owner');
    assert.equal((await w.post(await signed(w.app, newRequester(rng), w.owner))).status, 200);

    await w.ledger.writer(addr(next)).acceptApp(w.app);
    // The attack: the previous owner (or whoever stole its key) replays an answered request.
    assert.equal(errorCode(await w.post(old)), 'not-app-owner');
    assert.equal(errorCode(await w.post(await signed(w.app, newRequester(rng), w.owner))), 'not-app-owner');
    const rn = newRequester(rng);
    const mine = await signed(w.app, rn, next);
    assert.deepEqual(partialOf(w, rn, mine, await w.post(mine), 0), partial, 'same app key for the new owner');
  });
});

describe('key release: app-key epochs (issue 16)', () => {
  it('after a rotation only the new epoch\'s partial is served, also to the retry of a request answered at the old epoch', async () => {
    const w = await world();
    const r = newRequester(rng);
    const req = await signed(w.app, r, w.owner);
    const p0 = partialOf(w, r, req, await w.post(req), 0);
    await w.ledger.writer(addr(w.owner)).rotateAppKey(w.app, 1, { imageDigest: toHex(rng(32)), launchPolicy: '0x01', encryptedEnv: '0x', publicEnv: '' });
    // The attack: a replayed request of epoch 0 must not bring the old key back.
    const retry = await w.post(req);
    const p1 = partialOf(w, r, req, retry, 1);
    assert.notDeepEqual(p1, p0);
    assert.ok(!verifyPartial(w.publicShare, appIdentity(w.app, 0), p1), 'not the epoch-0 partial');
    const r2 = newRequester(rng);
    const req2 = await signed(w.app, r2, w.owner);
    assert.deepEqual(partialOf(w, r2, req2, await w.post(req2), 1), p1);
  });
});

describe('key release: contract-wallet owners (EIP-1271, issue 16)', () => {
  async function walletWorld(): Promise<{ w: World; keys: PrivateKeyAccount[]; wallet: Address }> {
    const w = await world();
    const keys = [newAccount(), newAccount(), newAccount()];
    const wallet = addr(newAccount()); // an address the test treats as having code
    const owners = keys.map(addr);
    w.wallets.set(wallet, (digest, sig) => (twoOfThree(owners, digest, sig) ? 'valid' : 'invalid'));
    await w.ledger.writer(addr(w.owner)).transferApp(w.app, wallet);
    await w.ledger.writer(wallet).acceptApp(w.app);
    return { w, keys, wallet };
  }

  it('2 of 3 owner signatures release the key; 1, the same one twice, or a non-owner\'s are refused (not-app-owner)', async () => {
    const { w, keys } = await walletWorld();
    const [k0, k1, k2] = keys as [PrivateKeyAccount, PrivateKeyAccount, PrivateKeyAccount];
    const r = newRequester(rng);
    const two = await multiSigned(w.app, r, [k2, k0]);
    partialOf(w, r, two, await w.post(two), 0);
    for (const [what, signers] of [['one owner', [k1]], ['one owner twice', [k1, k1]], ['an owner and a stranger', [k1, newAccount()]]] as const) {
      const res = await w.post(await multiSigned(w.app, newRequester(rng), signers));
      assert.equal(res.status, 403, `${what}: ${res.body}`);
      assert.equal(errorCode(res), 'not-app-owner', what);
      assert.match(res.body, /contract wallet/);
    }
  });

  it('whatever the wallet does — says no, fails, or is asked with 1024 bytes — is a refusal, never an error; more than 1024 bytes is a 400 before it is asked', async () => {
    const { w, wallet } = await walletWorld();
    for (const answer of ['invalid', 'failed'] as const) {
      w.wallets.set(wallet, () => answer);
      const res = await w.post(await multiSigned(w.app, newRequester(rng), [newAccount(), newAccount()]));
      assert.equal(res.status, 403, res.body);
      assert.equal(errorCode(res), 'not-app-owner');
    }
    const calls = w.walletCalls;
    const r = newRequester(rng);
    const big = { appId: w.app, responseKey: r.responseKey, nonce: r.nonce, attestation: { method: 'ecdsa' as const, signature: `0x${'ab'.repeat(1025)}` as Hex, time: NOW_S } };
    const res = await w.post(big);
    assert.equal(res.status, 400, res.body);
    assert.equal(w.walletCalls, calls, 'an oversized signature never reaches the wallet');
    const max = await w.post({ ...big, attestation: { ...big.attestation, signature: `0x${'ab'.repeat(1024)}` as Hex } });
    assert.equal(errorCode(max), 'not-app-owner');
  });

  it('an ordinary owner (no code) is never asked: a 130-byte signature is refused by ECDSA rules (attestation-bad-signature)', async () => {
    const w = await world();
    const calls = w.walletCalls;
    const res = await w.post(await multiSigned(w.app, newRequester(rng), [w.owner, w.owner]));
    assert.equal(errorCode(res), 'attestation-bad-signature');
    assert.equal(w.walletCalls, calls);
    // And its own 65-byte signature still works without any wallet call.
    const r = newRequester(rng);
    const req = await signed(w.app, r, w.owner);
    partialOf(w, r, req, await w.post(req), 0);
    assert.equal(parseHex(req.attestation.method === 'ecdsa' ? req.attestation.signature : '0x', undefined, 'sig').length, 65);
  });
});
