/**
 * @module
 * The key-release world of the `app-sign` suite, built the way `test/node/key-release.test.ts`
 * builds it: a MemoryLedger with this operator registered (real signing key of the chosen
 * type) and one app (methods ecdsa + jwt, one release) owned by a fresh secp256k1 account, and
 * a MemoryKeyStore holding one real active version (a Feldman deal, t = 20 of n = 30, this
 * operator among the holders). Also the request factory: a fresh X25519 response key, a fresh
 * 16-byte nonce and the owner's EIP-712 KeyRequest signature, so every request is distinct and
 * validly attested (the replay cache never serves one).
 *
 * Deterministic per seed (ledger, keys, owner), so the server child and the load generator
 * agree on the world by rebuilding it from the same seed, without any key crossing a pipe.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bls } from '../src/crypto/bls12381/index.ts';
import { makeDomain, toHex, type Hex } from '../src/crypto/domain.ts';
import * as fr from '../src/crypto/fr.ts';
import { generateResponseKeyPair, keyRequestTypedData, type KeyReleaseRoute } from '../src/crypto/key-release.ts';
import { createOperatorSigner, generateOperatorSecretKey, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { operatorX } from '../src/crypto/operator-x.ts';
import { seededRng, systemRng, type Rng } from '../src/crypto/rng.ts';
import { deal } from '../src/crypto/vss.ts';
import type { KeyReleaseRequest } from '../src/node/http/schemas.ts';
import { MemoryKeyStore } from '../src/node/memory-key-store.ts';
import { createNodeMetrics, type NodeMetrics } from '../src/node/metrics.ts';
import type { ReleaseParts } from '../src/node/release/handler.ts';
import type { Address, Release } from '../src/protocol/ledger.ts';
import { MemoryLedger } from '../src/protocol/memory-ledger.ts';

export const CHAIN_ID = 31337n;
export const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address;
export const DOMAIN = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });
const T = 20;
const N = 30;

export interface ReleaseWorld {
  /** What `createAppRelease` needs. */
  readonly parts: ReleaseParts & { readonly metrics: NodeMetrics };
  readonly metrics: NodeMetrics;
  readonly owner: PrivateKeyAccount;
  readonly appId: Hex;
  readonly activeVersion: number;
}

const addr = (a: PrivateKeyAccount): Address => a.address.toLowerCase() as Address;

/** The world for `seed`; the same seed and key type give the same ledger, keys and app. */
export async function releaseWorld(seed: string, sigKeyType: OperatorKeyType): Promise<ReleaseWorld> {
  const rng = seededRng(`bench/app-sign/${seed}`);
  const newAccount = (): PrivateKeyAccount => privateKeyToAccount(toHex(generateOperatorSecretKey('ecdsa', rng)));
  const gov = newAccount();
  const startTime = Math.floor(Date.now() / 1000) - 3600;
  const ledger = new MemoryLedger({
    chainId: CHAIN_ID, registry: REGISTRY, owner: addr(gov), interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0, startTime,
  });
  const me = addr(newAccount());
  const sigKey = generateOperatorSecretKey(sigKeyType, rng);
  const signer = createOperatorSigner(sigKeyType, sigKey, DOMAIN);
  await ledger.writer(addr(gov)).allowOperator(me, true);
  await ledger.writer(me).register({
    socket: 'http://127.0.0.1:7001',
    sigKeyType,
    sigPublicKey: toHex(signer.publicKey),
    proofOfPossession: toHex(signer.proofOfPossession(me)),
    sessionKey: toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', rng), true)),
  });

  const holders = [me, ...Array.from({ length: N - 1 }, () => addr(newAccount()))];
  const xs = holders.map((a) => operatorX(a));
  const d = deal(rng, T, xs, fr.random(rng));
  const poly = new Uint8Array(96 * d.commitments.length);
  d.commitments.forEach((c, k) => poly.set(bls.g2.encode(c), 96 * k));
  const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: me });
  store.bindMpk(toHex(poly.subarray(0, 96)));
  const activeVersion = 1;
  store.putVersion({
    id: activeVersion, status: 'active', share: d.shares[0] as bigint, publicPoly: toHex(poly), publicPolyHash: toHex(keccak_256(poly)),
    threshold: T, holders, confirmedAt: startTime, activatedAt: startTime + 10,
  });

  const owner = newAccount();
  const w = ledger.writer(addr(owner));
  const appId = await w.createApp(toHex(rng(32)), ['ecdsa', 'jwt']);
  const release: Release = { imageDigest: toHex(rng(32)), launchPolicy: '0x0102ab', encryptedEnv: toHex(rng(1024)), publicEnv: 'LOG_LEVEL=info\nREGION=eu' };
  await w.publishRelease(appId, release);

  const metrics = createNodeMetrics();
  return { parts: { ledger, store, me, domain: DOMAIN, sigKeyType, sigKey, metrics }, metrics, owner, appId, activeVersion };
}

/** A request to `route` with a fresh response key and nonce, signed by the app owner at `timeS`. */
export async function attestedRequest(owner: PrivateKeyAccount, appId: Hex, timeS: number, route: KeyReleaseRoute = '/app/sign', rng: Rng = systemRng): Promise<KeyReleaseRequest> {
  const responseKey = toHex(generateResponseKeyPair(rng).publicKey);
  const nonce = toHex(rng(16));
  const signature = await owner.signTypedData(keyRequestTypedData({ chainId: CHAIN_ID, registry: REGISTRY, route, appId, responseKey, nonce, time: timeS }));
  return { appId, responseKey, nonce, attestation: { method: 'ecdsa', signature, time: timeS } };
}

/** `n` distinct requests to `route`, attested and all dated now. */
export async function attestedRequests(owner: PrivateKeyAccount, appId: Hex, n: number, route: KeyReleaseRoute = '/app/sign'): Promise<KeyReleaseRequest[]> {
  const timeS = Math.floor(Date.now() / 1000);
  const out: KeyReleaseRequest[] = [];
  for (let i = 0; i < n; i++) out.push(await attestedRequest(owner, appId, timeS, route));
  return out;
}
