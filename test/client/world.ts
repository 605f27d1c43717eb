/**
 * A small KMS world for client tests (not a test file itself): a registry (the in-memory
 * ledger, or the contract on anvil), n operators registered with real signing keys and
 * proofs of possession, a genesis version whose shares come from a real Feldman deal
 * (`vss.deal`) confirmed on the ledger, an app owned by a known key, and one fake operator
 * node per operator: the real HTTP API (`buildApi`: schemas, error bodies) on loopback, with a
 * key-release handler that answers in the real wire format of `src/crypto/key-release.ts`
 * (partial σ_j = s_j·Q(id), operator-signed payload, sealed to the response key).
 *
 * Each node has a `behavior` a test sets to make it misbehave in one precise way:
 *
 * | behavior         | what the node does                                                  |
 * |------------------|---------------------------------------------------------------------|
 * | honest           | answers correctly                                                   |
 * | corrupt-partial  | signs (s_j + 1)·Q(id) — correctly signed, fails the pairing check     |
 * | bad-signature    | signs its answer with a key that is not its on-chain signing key     |
 * | unsigned         | sends an all-zero signature                                          |
 * | hang             | never answers (until the client gives up or the world closes)        |
 * | refuse           | answers 403 with an error body                                       |
 * | wrong-poly       | serves a public polynomial that does not match the chain             |
 * | replay           | re-sends the first answer it ever sealed, to every later request     |
 * | garbage          | sends random bytes as the sealed answer                              |
 * | impersonate      | claims to be another operator                                        |
 * | stale-env        | /secrets: seals the env of another release than the latest           |
 * | down             | its server is closed (`world.stop(i)`; connection refused)           |
| production       | answers through the real handler, `createAppRelease` (src/node/release)|
| production-raw   | the same, with the route's own `ctx.signal` (see the note below)       |
 *
 * The real server checks the ecdsa attestation too (EIP-712 signer = app owner, ±5 min), so a
 * client that signs the wrong typed data is refused here as it would be in production.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { getAddress, keccak256, stringToHex, type Hex as ViemHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import pino from 'pino';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { G2 } from '../../src/crypto/bls12381/types.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { encryptToApp } from '../../src/crypto/ibe.ts';
import {
  KEY_RELEASE_ROUTES,
  encodeAnswer,
  partialPayload,
  recoverKeyRequestSigner,
  requestHash,
  sealResponse,
  type ReleaseEnv,
} from '../../src/crypto/key-release.ts';
import { createOperatorSigner, generateOperatorSecretKey, type OperatorKeyType, type OperatorSigner } from '../../src/crypto/operator-sig.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import { appIdPoint, partialSign } from '../../src/crypto/threshold.ts';
import { deal } from '../../src/crypto/vss.ts';
import { buildApi, type KeyReleaseContext, type PubkeyInfo } from '../../src/node/http/app.ts';
import { ApiError, type ApiErrorCode } from '../../src/node/http/errors.ts';
import type { KeyReleaseRequest, SealedResponse } from '../../src/node/http/schemas.ts';
import type { StoredVersion } from '../../src/node/key-store.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import { createAppRelease } from '../../src/node/release/handler.ts';
import { MemoryReceiptLog } from '../../src/node/receipt-log.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import type { Address, Hex, Ledger } from '../../src/protocol/ledger.ts';
import { createKmsClient, type KmsClient, type KmsClientOptions } from '../../src/client/index.ts';
import type { Static } from '@sinclair/typebox';

export type Behavior =
  | 'honest'
  | 'corrupt-partial'
  | 'bad-signature'
  | 'unsigned'
  | 'hang'
  | 'refuse'
  | 'wrong-poly'
  | 'replay'
  | 'garbage'
  | 'impersonate'
  | 'stale-env'
  | 'down'
  | 'production'
  | 'production-raw';

/** Where the world lives: a ledger, accounts with their keys, and a way to move chain time. */
export interface Chainish {
  readonly ledger: Ledger;
  /** The registry's governance owner. */
  readonly owner: Address;
  /** Accounts usable with `ledger.writer()`, with their private keys. */
  readonly accounts: readonly { readonly address: Address; readonly key: Hex }[];
  /** Reads (and the next writes) see chain time `t` (> the current time). */
  advanceTo(t: number): Promise<void>;
  now(): Promise<number>;
  readonly interval: number;
  readonly windows: { readonly deal: number; readonly ack: number; readonly confirm: number };
}

const lc = (a: string): Address => a.toLowerCase() as Address;

/** The in-memory ledger with `accountCount` keyed accounts (default 12). */
export function memoryChain(seed = 'client-world', accountCount = 12): Chainish {
  const label = (s: string): Address => lc(getAddress(`0x${keccak256(stringToHex(`${seed}/${s}`)).slice(-40)}`));
  const owner = label('owner');
  const ledger = new MemoryLedger({
    chainId: 31337n, registry: label('registry'), owner, interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 5,
    startTime: 1_764_000_000,
  });
  const accounts = Array.from({ length: accountCount }, () => {
    const key = generatePrivateKey() as Hex;
    return { address: lc(privateKeyToAccount(key as ViemHex).address), key };
  });
  return {
    ledger, owner, accounts, interval: 60, windows: { deal: 15, ack: 15, confirm: 15 },
    advanceTo: async (t) => ledger.setTime(t),
    now: async () => ledger.time,
  };
}

export interface VersionTruth {
  readonly id: number;
  readonly threshold: number;
  readonly poly: readonly G2[];
  readonly shares: ReadonlyMap<Address, bigint>;
}

export interface FakeOperator {
  readonly index: number;
  readonly address: Address;
  readonly sigKeyType: OperatorKeyType;
  url: string;
  behavior: Behavior;
  /** The version this node signs with when the request names none (default: the newest). */
  activeVersion: number | undefined;
  /** Key-release requests it received. */
  releaseRequests: number;
  /** GET /pubkey requests it received. */
  pubkeyRequests: number;
}

export interface World {
  readonly chain: Chainish;
  readonly ledger: Ledger;
  readonly ops: FakeOperator[];
  /** The master secret x (only a test knows it). */
  readonly secret: bigint;
  readonly mpk: Hex;
  readonly versions: Map<number, VersionTruth>;
  readonly appOwner: { readonly address: Address; readonly key: Hex };
  /** An account that owns nothing. */
  readonly stranger: { readonly address: Address; readonly key: Hex };
  /** An app with the ecdsa method, owned by `appOwner`. */
  readonly appId: Hex;
  client(options?: KmsClientOptions): KmsClient;
  /** d = x·Q(appId), computed from the secret. */
  appKey(appId?: Hex): Hex;
  createApp(methods: readonly ('ecdsa' | 'jwt')[], owner?: { address: Address }): Promise<Hex>;
  publishRelease(appId: Hex, env: string | null, publicEnv?: string): Promise<void>;
  /** A reshare of the same secret to the same operators; returns the new version id. */
  reshare(): Promise<number>;
  /** Closes operator `index`'s server: its socket then refuses connections. */
  stop(index: number): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  readonly n: number;
  readonly chain?: Chainish;
  /** Signing key type per operator (default: alternating ecdsa, bn254). */
  readonly sigTypes?: readonly OperatorKeyType[];
  readonly seed?: string;
}

const randomSessionKey = () => toHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));

export async function buildWorld(opts: WorldOptions): Promise<World> {
  const chain = opts.chain ?? memoryChain(opts.seed);
  const ledger = chain.ledger;
  const rng: Rng = seededRng(`client-world/${opts.seed ?? 'default'}`);
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  const n = opts.n;
  if (chain.accounts.length < n + 2) throw new Error(`world: needs ${n + 2} accounts`);
  const opAccounts = chain.accounts.slice(0, n);
  const appOwner = chain.accounts[n] as { address: Address; key: Hex };
  const stranger = chain.accounts[n + 1] as { address: Address; key: Hex };
  const versions = new Map<number, VersionTruth>();
  const closing = new AbortController();
  const latest = () => Math.max(...versions.keys());

  const signers: OperatorSigner[] = [];
  const sigKeys: Uint8Array[] = [];
  const impostors: OperatorSigner[] = [];
  const ops: FakeOperator[] = opAccounts.map((a, i) => {
    const type = opts.sigTypes?.[i] ?? (i % 2 === 0 ? 'ecdsa' : 'bn254');
    sigKeys.push(generateOperatorSecretKey(type, rng));
    signers.push(createOperatorSigner(type, sigKeys[i] as Uint8Array, domain));
    impostors.push(createOperatorSigner(type, generateOperatorSecretKey(type, rng), domain));
    return { index: i, address: a.address, sigKeyType: type, url: '', behavior: 'honest', activeVersion: undefined, releaseRequests: 0, pubkeyRequests: 0 };
  });

  let mpk: Hex = '0x';
  let secret = 0n;

  // ------------------------------------------------------------------------------------------
  // The fake nodes

  const servers = ops.map((op, i) => {
    const signer = signers[i] as OperatorSigner;
    const replayed = new Map<string, Static<typeof SealedResponse>>();
    const pubkey = (version?: number): PubkeyInfo | null => {
      op.pubkeyRequests++;
      const id = version ?? op.activeVersion ?? (versions.size > 0 ? latest() : undefined);
      const v = id === undefined ? undefined : versions.get(id);
      if (!v) return null;
      let poly = v.poly.map((p) => toHex(bls.g2.encode(p)));
      if (op.behavior === 'wrong-poly') {
        // A different polynomial with the right constant term: only the hash check catches it.
        poly = [poly[0] as Hex, ...poly.slice(1).map(() => toHex(bls.g2.encode(bls.g2.mul(bls.g2.generator, fr.random(rng)))))];
      }
      const sockets = new Map(ops.map((o) => [o.address, o.url]));
      return { mpk, publicPoly: poly, version: v.id, threshold: v.threshold, operators: [...v.shares.keys()].map((a) => ({ address: a, socket: sockets.get(a) ?? '' })) };
    };

    // The node's real key-release handler over this world's shares, for the `production` behavior.
    const stored = (id: number | undefined): StoredVersion | null => {
      const v = id === undefined ? undefined : versions.get(id);
      const share = v?.shares.get(op.address);
      if (!v || share === undefined) return null;
      const polyHex = toHex(Buffer.concat(v.poly.map((p) => bls.g2.encode(p)))) as Hex;
      return {
        id: v.id, status: 'active', share, publicPoly: polyHex, publicPolyHash: keccak256(polyHex) as Hex, threshold: v.threshold,
        holders: [...v.shares.keys()], confirmedAt: 0, activatedAt: 1,
      };
    };
    const production = createAppRelease({
      ledger, me: op.address, domain, sigKeyType: op.sigKeyType, sigKey: sigKeys[i] as Uint8Array, metrics: createNodeMetrics(),
      // As every kms-server: answers carry a receipt (format 0x02, the signature is the receipt's).
      receipts: new MemoryReceiptLog(),
      store: {
        getVersion: (id) => stored(id),
        activeVersion: () => stored(op.activeVersion ?? latest()),
        versionAt: () => stored(op.activeVersion ?? latest()),
      },
    });

    const answer = async (kind: 'sign' | 'secrets', req: KeyReleaseRequest, ctx: KeyReleaseContext): Promise<Static<typeof SealedResponse>> => {
      op.releaseRequests++;
      if (op.behavior === 'production' || op.behavior === 'production-raw') {
        // Note: the route hands the handler fastify's `request.signal`, which aborts as soon as
        // a POST body has been read (IncomingMessage 'close'; fastify PR #6725), so the real
        // handler refuses every real request with 503 "abandoned". `production` gives it a
        // signal that never aborts, to test the wire format; `production-raw` keeps the route's.
        const c = op.behavior === 'production' ? { ...ctx, signal: new AbortController().signal } : ctx;
        return kind === 'sign' ? production.sign(req, c) : production.secrets(req, c);
      }
      if (op.behavior === 'hang') {
        // Not ctx.signal: fastify's request.signal aborts as soon as the body has been read
        // (IncomingMessage 'close'), so it cannot tell a client that went away.
        void ctx;
        await new Promise<void>((resolve) => closing.signal.addEventListener('abort', () => resolve()));
        throw new ApiError(503, 'timeout', 'gave up');
      }
      if (op.behavior === 'refuse') throw new ApiError(403, 'attestation-refused' as ApiErrorCode, 'ecdsa: this node refuses everything today');
      if (op.behavior === 'replay' && replayed.has(kind)) return replayed.get(kind) as Static<typeof SealedResponse>;
      // The attestation check of a real node (ecdsa only in these tests).
      const app = await ledger.getApp(req.appId);
      if (!app) throw new ApiError(404, 'unknown-app' as ApiErrorCode, 'no such app');
      const att = req.attestation;
      if (att.method !== 'ecdsa' || !app.methods.includes('ecdsa')) throw new ApiError(403, 'attestation-method' as ApiErrorCode, 'method not enabled');
      if (Math.abs(att.time - Date.now() / 1000) > 300) throw new ApiError(403, 'attestation-expired' as ApiErrorCode, 'ecdsa: time is not within 5 minutes');
      const signerAddr = recoverKeyRequestSigner({
        chainId: ledger.chainId, registry: ledger.registry, route: KEY_RELEASE_ROUTES[kind], appId: req.appId, responseKey: req.responseKey, nonce: req.nonce,
        time: att.time, version: req.version, keyTime: req.time,
      }, att.signature);
      if (signerAddr === null || signerAddr !== lc(app.owner)) throw new ApiError(403, 'attestation-refused' as ApiErrorCode, 'ecdsa: not signed by the app owner');

      const id = req.version ?? op.activeVersion ?? latest();
      const v = versions.get(id);
      const share = v?.shares.get(op.address);
      if (!v || share === undefined) throw new ApiError(404, 'unknown-version', `this node holds no key version ${id}`);
      const appId = lc(req.appId) as Hex;
      const partial = partialSign(op.behavior === 'corrupt-partial' ? fr.add(share, 1n) : share, appId);
      const reqHash = requestHash(req);
      const payload = partialPayload({ appId, version: id, partial, requestHash: reqHash });
      let signature = (op.behavior === 'bad-signature' ? (impostors[i] as OperatorSigner) : signer).sign(payload);
      if (op.behavior === 'unsigned') signature = new Uint8Array(signature.length);
      let env: ReleaseEnv | undefined;
      if (kind === 'secrets') {
        const index = app.releaseCount - 1 - (op.behavior === 'stale-env' ? 1 : 0);
        const r = index >= 0 ? await ledger.getRelease(appId, index) : null;
        if (!r) throw new ApiError(404, 'no-release' as ApiErrorCode, 'the app has no release');
        env = { releaseIndex: index, encryptedEnv: hexBytes(r.encryptedEnv), publicEnv: r.publicEnv };
      }
      const claimed = op.behavior === 'impersonate' ? (ops[(i + 1) % ops.length] as FakeOperator).address : op.address;
      const bytes = encodeAnswer({
        kind, appId: hexBytes(appId), operator: hexBytes(claimed), version: id, partial, signature, ...(env ? { env } : {}),
      });
      let sealed = sealResponse(hexBytes(req.responseKey), reqHash, bytes);
      if (op.behavior === 'garbage') sealed = rng(sealed.length);
      const out = { operator: claimed, version: id, sealed: toHex(sealed) };
      if (op.behavior === 'replay') replayed.set(kind, out);
      return out;
    };

    return buildApi({
      logger: pino({ level: 'silent' }),
      rateLimit: { perClientPerSecond: 10_000, burst: 10_000 },
      pubkey,
      health: () => ({ ok: true }),
      metrics: createNodeMetrics(),
      appRelease: { sign: (r, c) => answer('sign', r, c), secrets: (r, c) => answer('secrets', r, c) },
    });
  });
  // A failure below (a slow chain, a refused write) must not leave servers listening: the
  // test process would never exit.
  try {
    return await setUp();
  } catch (err) {
    closing.abort();
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }

  async function setUp(): Promise<World> {
    for (const [i, s] of servers.entries()) (ops[i] as FakeOperator).url = await s.listen({ host: '127.0.0.1', port: 0 });

    // ------------------------------------------------------------------------------------------
    // The registry: operators, genesis, an app

    const gov = ledger.writer(chain.owner);
    for (const [i, op] of ops.entries()) {
      await gov.allowOperator(op.address, true);
      const s = signers[i] as OperatorSigner;
      await ledger.writer(op.address).register({
        socket: op.url, sigKeyType: op.sigKeyType, sigPublicKey: toHex(s.publicKey), proofOfPossession: toHex(s.proofOfPossession(op.address)),
        sessionKey: randomSessionKey(),
      });
    }
    await gov.armGenesis(n);

    /** Opens a session at the next boundary, deals `constant` (random for genesis) and confirms it. */
    const runSession = async (constant: bigint | undefined): Promise<number> => {
      const now = await chain.now();
      await chain.advanceTo((Math.floor(now / chain.interval) + 1) * chain.interval + 1);
      const id = await ledger.writer(ops[0]?.address as Address).openSession();
      const snap = (await ledger.getSession(id))?.snapshot;
      if (!snap) throw new Error('world: session not found');
      const xs = snap.recipients.map((a) => operatorX(a));
      const x = constant ?? fr.random(rng);
      const d = deal(rng, snap.tNew, xs, x);
      const polyHex = toHex(Buffer.concat(d.commitments.map((c) => bls.g2.encode(c)))) as Hex;
      const hash = keccak256(polyHex) as Hex;
      await chain.advanceTo(snap.openedAt + chain.windows.deal + chain.windows.ack + 1);
      for (const r of snap.recipients) {
        await ledger.writer(r).submitConfirmation({ session: id, publicPolyHash: hash, publicPoly: polyHex, nextSessionKey: randomSessionKey() });
      }
      const v = await ledger.getVersion(id);
      if (!v) throw new Error(`world: session ${id} did not complete`);
      versions.set(id, { id, threshold: snap.tNew, poly: d.commitments, shares: new Map(snap.recipients.map((a, j) => [lc(a), d.shares[j] as bigint])) });
      if (constant === undefined) secret = x;
      return id;
    };
    await runSession(undefined);
    mpk = (await ledger.getMpk()) as Hex;

    const createApp = async (methods: readonly ('ecdsa' | 'jwt')[], owner: { address: Address } = appOwner): Promise<Hex> =>
      ledger.writer(owner.address).createApp(toHex(rng(32)), methods);
    const appId = await createApp(['ecdsa']);

    return {
      chain, ledger, ops, secret, mpk, versions, appOwner, stranger, appId,
      client: (options = {}) => createKmsClient({ ledger }, { timeoutMs: 2_000, ...options }),
      appKey: (id = appId) => toHex(bls.g1.encode(bls.g1.mul(appIdPoint(id), secret))),
      createApp,
      publishRelease: async (id, env, publicEnv = 'LOG_LEVEL=debug') => {
        const encryptedEnv = env === null ? '0x' : toHex(encryptToApp(hexBytes(mpk), id, new TextEncoder().encode(env)));
        await ledger.writer(appOwner.address).publishRelease(id, { imageDigest: toHex(rng(32)), launchPolicy: '0x01', encryptedEnv: encryptedEnv as Hex, publicEnv });
      },
      reshare: () => runSession(secret),
      stop: async (index) => {
        (ops[index] as FakeOperator).behavior = 'down';
        await servers[index]?.close();
      },
      close: async () => {
        closing.abort();
        await Promise.all(servers.map((s) => s.close()));
      },
    };
  }
}

function hexBytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.slice(2), 'hex'));
}
