// Attested key release (issue 6) through buildApi(...).inject(): a MemoryLedger with a
// registered operator and apps, a MemoryKeyStore holding real versions (a Feldman deal), and a
// test JWKS (RSA and P-256 keys made here). Every refusal of the acceptance list, per method,
// with its code and its metrics reason; the accepted answer opens with the response secret,
// its operator signature verifies against the on-chain key, its partial against PK_j; an
// identical retry gets the identical answer; no partial byte appears in any error or log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import pino from 'pino';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, parseHex, toHex, type Hex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { appIdentity, partialPayload, requestHash, type KeyReleaseAnswer, type KeyReleaseRequestFields, type KeyReleaseRoute } from '../../src/crypto/key-release.ts';
import { createOperatorSigner, generateOperatorSecretKey, verifyOperatorSignature, type OperatorKeyType } from '../../src/crypto/operator-sig.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { partialSign, verifyPartial } from '../../src/crypto/threshold.ts';
import { deal, publicShare } from '../../src/crypto/vss.ts';
import { buildApi } from '../../src/node/http/app.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import { createAppRelease, defaultAudience, type AppReleaseConfig } from '../../src/node/release/handler.ts';
import { jwksFromUrl, JwksError, parseJwks, staticJwks } from '../../src/node/release/jwt.ts';
import {
  checkClaims,
  ClaimPolicyError,
  CONFIDENTIAL_SPACE_POLICY,
  parseClaimPolicy,
  parseRequiredClaim,
  withRules,
} from '../../src/node/release/claim-policy.ts';
import { ReplayCache } from '../../src/node/release/caches.ts';
import { freshRead } from '../../src/node/release/app-reads.ts';
import type { Address, AttestationMethod, Release } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import {
  b64url,
  ecdsaKeyRequest,
  jwtKey,
  jwtKeyRequest,
  newRequester,
  openReleaseAnswer,
  refusalCountIn,
  flippedV,
  highSTwin,
  signJwt,
  teeClaims,
  withoutClaims,
  type Requester,
} from './release-fixtures.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const rng = seededRng('node/key-release.test');
const CHAIN_ID = 31337n;
const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address;
const DOMAIN = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });
const ISSUER = 'https://confidentialcomputing.googleapis.com';
const AUDIENCE = defaultAudience(CHAIN_ID, REGISTRY);
const T_V3 = 1_700_000_000; // version 3 activated
const T_V5 = 1_750_000_000; // version 5 activated (still active)
const NOW_S = 1_800_000_000;

const newAccount = (): PrivateKeyAccount => privateKeyToAccount(toHex(generateOperatorSecretKey('ecdsa', rng)));
const addr = (a: PrivateKeyAccount) => a.address.toLowerCase() as Address;
const h = (byte: string, n: number) => `0x${byte.repeat(n)}` as Hex;

interface VersionFixture {
  readonly id: number;
  readonly share: bigint;
  readonly publicShare: ReturnType<typeof publicShare>;
}

const RSA = jwtKey('rsa-1', 'RS256');
const EC = jwtKey('ec-1', 'ES256');
const ROGUE = jwtKey('rsa-1', 'RS256'); // same kid, not in the JWKS

interface World {
  readonly ledger: MemoryLedger;
  readonly me: Address;
  readonly sigKeyType: OperatorKeyType;
  readonly owner: PrivateKeyAccount;
  readonly stranger: PrivateKeyAccount;
  /** ecdsa + jwt, two releases. */
  readonly app: Hex;
  /** ecdsa + jwt, same latest release as `app` (so only the binding differs). */
  readonly twin: Hex;
  readonly ecdsaOnly: Hex;
  readonly jwtOnly: Hex;
  /** ecdsa only, no release. */
  readonly bare: Hex;
  readonly latest: Release;
  readonly versions: ReadonlyMap<number, VersionFixture>;
  readonly api: ReturnType<typeof buildApi>;
  readonly metrics: ReturnType<typeof createNodeMetrics>;
  readonly logs: string[];
  /** Every error body seen, for the leak check. */
  readonly errors: string[];
  setNow(seconds: number): void;
  post(path: '/app/sign' | '/secrets', body: KeyReleaseRequest): Promise<{ status: number; body: string; json: Record<string, unknown> }>;
}

async function world(opts: { sigKeyType?: OperatorKeyType; jwt?: boolean; config?: Partial<AppReleaseConfig> } = {}): Promise<World> {
  const sigKeyType = opts.sigKeyType ?? 'ecdsa';
  const gov = newAccount();
  const ledger = new MemoryLedger({
    chainId: CHAIN_ID, registry: REGISTRY, owner: addr(gov), interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0, startTime: T_V3 - 100,
  });
  // The operator, registered on-chain with a real signing key.
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

  // Key versions: 3 (retired), 5 (active), 6 (pending), all sharing one master secret.
  const holders = [me, addr(newAccount()), addr(newAccount())];
  const xs = holders.map((a) => operatorX(a));
  const secret = fr.random(rng);
  const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: me });
  const versions = new Map<number, VersionFixture>();
  const put = (id: number, status: 'pending' | 'active' | 'retired', activatedAt: number | null) => {
    const d = deal(rng, 2, xs, secret);
    const poly = new Uint8Array(96 * d.commitments.length);
    d.commitments.forEach((c, k) => poly.set(bls.g2.encode(c), 96 * k));
    if (store.mpk() === null) store.bindMpk(toHex(poly.subarray(0, 96)));
    const share = d.shares[0] as bigint;
    store.putVersion({
      id, status, share, publicPoly: toHex(poly), publicPolyHash: toHex(keccak_256(poly)), threshold: 2, holders,
      confirmedAt: (activatedAt ?? NOW_S) - 10, activatedAt,
    });
    versions.set(id, { id, share, publicShare: publicShare(d.commitments, xs[0] as bigint) });
  };
  put(3, 'retired', T_V3);
  put(5, 'active', T_V5);
  put(6, 'pending', null);

  // Apps.
  const owner = newAccount();
  const w = ledger.writer(addr(owner));
  const create = (methods: AttestationMethod[]) => w.createApp(toHex(rng(32)), methods);
  const app = await create(['ecdsa', 'jwt']);
  const twin = await create(['ecdsa', 'jwt']);
  const ecdsaOnly = await create(['ecdsa']);
  const jwtOnly = await create(['jwt']);
  const bare = await create(['ecdsa']);
  const old: Release = { imageDigest: h('d0', 32), launchPolicy: '0x01', encryptedEnv: toHex(rng(64)), publicEnv: 'OLD=1' };
  const latest: Release = { imageDigest: toHex(rng(32)), launchPolicy: '0x0102ab', encryptedEnv: toHex(rng(180)), publicEnv: 'LOG_LEVEL=info\nREGION=eu' };
  await w.publishRelease(app, old);
  await w.publishRelease(app, latest);
  for (const a of [twin, ecdsaOnly, jwtOnly]) await w.publishRelease(a, latest);

  const logs: string[] = [];
  const errors: string[] = [];
  const metrics = createNodeMetrics();
  let nowMs = NOW_S * 1000;
  const config: AppReleaseConfig = {
    clock: () => nowMs,
    jwt: opts.jwt === false ? null : { jwks: staticJwks({ keys: [RSA.jwk, EC.jwk] }, 'test JWKS'), issuer: ISSUER },
    ...opts.config,
  };
  const api = buildApi({
    logger: pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) }),
    rateLimit: { perClientPerSecond: 1000, burst: 100_000 },
    pubkey: () => null,
    health: () => ({ ok: true }),
    metrics,
    appRelease: createAppRelease({ ledger, store, me, domain: DOMAIN, sigKeyType, sigKey, metrics }, config),
  });
  return {
    ledger, me, sigKeyType, owner, stranger: newAccount(), app, twin, ecdsaOnly, jwtOnly, bare, latest, versions, api, metrics, logs, errors,
    setNow: (s) => {
      nowMs = s * 1000;
    },
    async post(path, body) {
      const res = await api.inject({ method: 'POST', url: path, payload: body });
      if (res.statusCode !== 200) errors.push(res.body);
      return { status: res.statusCode, body: res.body, json: res.json() as Record<string, unknown> };
    },
  };
}

function requester(): Requester {
  return newRequester(rng);
}

interface EcdsaOptions {
  readonly signer?: PrivateKeyAccount;
  /** The route signed for (default /app/sign). */
  readonly route?: KeyReleaseRoute;
  /** Sign for this app / response key / nonce instead of the request's. */
  readonly signedAppId?: Hex;
  readonly signedResponseKey?: Hex;
  readonly time?: number;
  readonly version?: number;
  readonly keyTime?: number;
}

function ecdsaRequest(w: World, appId: Hex, r: Requester, o: EcdsaOptions = {}): Promise<KeyReleaseRequest> {
  return ecdsaKeyRequest({ ...o, chainId: CHAIN_ID, registry: REGISTRY, signer: o.signer ?? w.owner, appId, requester: r, time: o.time ?? NOW_S });
}

/** Token claims for `r`'s request to `bind.route` (default /app/sign), with `over` replacing claims. */
function claims(w: World, appId: Hex, r: Requester, over: Record<string, unknown> = {}, bind: { route?: KeyReleaseRoute; version?: number } = {}): Record<string, unknown> {
  return teeClaims({ issuer: ISSUER, audience: AUDIENCE, domain: DOMAIN, appId, responseKey: r.responseKey, nonce: r.nonce, ...bind, release: w.latest, now: NOW_S, over });
}

const jwtRequest = (appId: Hex, r: Requester, token: string): KeyReleaseRequest => jwtKeyRequest(appId, r, token);

function open(r: Requester, req: KeyReleaseRequest, res: { json: Record<string, unknown> }): KeyReleaseAnswer {
  return openReleaseAnswer(r, req, res.json.sealed as string);
}

async function refusalCount(w: World, reason: string): Promise<number> {
  return refusalCountIn((await w.metrics.render()).body, reason);
}

/** Asserts the refusal: status, code, and one more count under its metrics reason (default: the code); returns the message. */
async function refused(w: World, path: '/app/sign' | '/secrets', body: KeyReleaseRequest, status: number, code: string, reason = code): Promise<string> {
  const before = await refusalCount(w, reason);
  const res = await w.post(path, body);
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${res.body}`);
  const err = res.json.error as { code: string; message: string };
  assert.equal(err.code, code, res.body);
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.equal(await refusalCount(w, reason), before + 1, `refusal ${reason} not counted`);
  return err.message;
}

/** Checks an accepted answer completely; returns it. */
async function accepted(w: World, path: '/app/sign' | '/secrets', req: KeyReleaseRequest, r: Requester, expectVersion: number): Promise<KeyReleaseAnswer> {
  const res = await w.post(path, req);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.json.operator, w.me);
  assert.equal(res.json.version, expectVersion);
  const a = open(r, req, res);
  assert.equal(a.kind, path === '/app/sign' ? 'sign' : 'secrets');
  assert.equal(toHex(a.appId), req.appId.toLowerCase());
  assert.equal(toHex(a.operator), w.me);
  assert.equal(a.version, expectVersion);
  // The operator's signature, against the key registered on-chain.
  const rec = await w.ledger.getOperator(w.me);
  assert.ok(rec);
  const payload = partialPayload({ appId: a.appId, version: a.version, partial: a.partial, requestHash: requestHash(req as KeyReleaseRequestFields) });
  assert.ok(verifyOperatorSignature(rec.sigKeyType, parseHex(rec.sigPublicKey, undefined, 'key'), DOMAIN, payload, a.signature), 'operator signature');
  // The partial, against PK_j of the version it names.
  const v = w.versions.get(expectVersion);
  assert.ok(v);
  assert.ok(verifyPartial(v.publicShare, appIdentity(req.appId), a.partial), 'partial verifies against PK_j');
  return a;
}

/** Every partial this node could make for the test's apps, as lowercase hex without 0x. */
function allPartials(w: World): string[] {
  const out: string[] = [];
  for (const app of [w.app, w.twin, w.ecdsaOnly, w.jwtOnly, w.bare]) {
    for (const v of w.versions.values()) out.push(toHex(partialSign(v.share, appIdentity(app))).slice(2));
  }
  return out;
}

function assertNoLeak(w: World): void {
  const secrets = [...allPartials(w), ...[...w.versions.values()].map((v) => v.share.toString(16)), ...[...w.versions.values()].map((v) => v.share.toString())];
  for (const text of [...w.errors, ...w.logs]) {
    const lower = text.toLowerCase();
    for (const s of secrets) assert.ok(!lower.includes(s), 'a partial or share appears in an error body or a log line');
  }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('key release: ecdsa', () => {
  it('accepted: the answer opens, its signature verifies against the on-chain key, its partial against PK_j', async () => {
    const w = await world();
    const r = requester();
    const req = await ecdsaRequest(w, w.app, r);
    const a = await accepted(w, '/app/sign', req, r, 5);
    assert.equal(a.env, undefined);
    assert.match((await w.metrics.render()).body, /kms_partial_sign_seconds_count\S* 1/);
    assertNoLeak(w);
  });

  it('accepted with a bn254 operator key too', async () => {
    const w = await world({ sigKeyType: 'bn254' });
    const r = requester();
    await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r), r, 5);
  });

  it('/secrets: partial plus the latest release env', async () => {
    const w = await world();
    const r = requester();
    const a = await accepted(w, '/secrets', await ecdsaRequest(w, w.app, r, { route: '/secrets' }), r, 5);
    assert.ok(a.env);
    assert.equal(a.env.releaseIndex, 1);
    assert.equal(toHex(a.env.encryptedEnv), w.latest.encryptedEnv);
    assert.equal(a.env.publicEnv, w.latest.publicEnv);
  });

  it('/secrets for an app with no release: 404 no-release', async () => {
    const w = await world();
    await refused(w, '/secrets', await ecdsaRequest(w, w.bare, requester(), { route: '/secrets' }), 404, 'no-release');
    // /app/sign needs no release.
    const r = requester();
    await accepted(w, '/app/sign', await ecdsaRequest(w, w.bare, r), r, 5);
  });

  it('an identical retry gets the identical answer (also when sent concurrently)', async () => {
    const w = await world();
    const r = requester();
    const req = await ecdsaRequest(w, w.app, r);
    const first = await w.post('/app/sign', req);
    const again = await w.post('/app/sign', req);
    assert.equal(first.status, 200);
    assert.equal(again.body, first.body);
    const r2 = requester();
    const req2 = await ecdsaRequest(w, w.app, r2, { route: '/secrets' });
    const [x, y] = await Promise.all([w.post('/secrets', req2), w.post('/secrets', req2)]);
    assert.equal(x.status, 200, x.body);
    assert.equal(y.body, x.body);
  });

  it('refused: an attestation for another app', async () => {
    const w = await world();
    const r = requester();
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, r, { signedAppId: w.twin }), 403, 'not-app-owner');
  });

  it('refused: an attestation for another response key', async () => {
    const w = await world();
    const r = requester();
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, r, { signedResponseKey: requester().responseKey }), 403, 'not-app-owner');
  });

  it('a different, validly attested request with the same (nonce, responseKey) is answered too, each sealed to its own request; an identical retry gets the identical bytes', async () => {
    const w = await world();
    const r = requester();
    const req = await ecdsaRequest(w, w.app, r);
    const first = await w.post('/app/sign', req);
    assert.equal(first.status, 200, first.body);
    // Same (nonce, responseKey), different requests the owner signed: a later signing time, another key version.
    const later = await ecdsaRequest(w, w.app, r, { time: NOW_S + 1 });
    await accepted(w, '/app/sign', later, r, 5);
    await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r, { version: 3 }), r, 3);
    // The old signature with the nonce and a new response key is not the owner's request.
    await refused(w, '/app/sign', { ...req, responseKey: requester().responseKey }, 403, 'not-app-owner');
    // Retries get what they got the first time, byte for byte.
    assert.equal((await w.post('/app/sign', req)).body, first.body);
    const laterAgain = await w.post('/app/sign', later);
    assert.equal((await w.post('/app/sign', later)).body, laterAgain.body);
  });

  it('refused: an expired (or future-dated) attestation', async () => {
    const w = await world();
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { time: NOW_S - 301 }), 403, 'attestation-expired');
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { time: NOW_S + 301 }), 403, 'attestation-expired');
    const r = requester();
    await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r, { time: NOW_S - 300 }), r, 5);
  });

  it('refused: a key that is not the app owner\'s', async () => {
    const w = await world();
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { signer: w.stranger }), 403, 'not-app-owner');
  });

  it('refused: the high-s twin and the v = 0/1 copy of the owner\'s genuine signature, sent first by an observer; the genuine request is still answered', async () => {
    const w = await world();
    const r = requester();
    const genuine = await ecdsaRequest(w, w.app, r);
    const att = genuine.attestation as { method: 'ecdsa'; signature: Hex; time: number };
    for (const signature of [highSTwin(att.signature), flippedV(att.signature), flippedV(highSTwin(att.signature))]) {
      const message = await refused(w, '/app/sign', { ...genuine, attestation: { ...att, signature } }, 403, 'attestation-bad-signature');
      assert.match(message, /not a canonical secp256k1 signature \(r and s in range, low s, v = 27 or 28\)/);
    }
    await accepted(w, '/app/sign', genuine, r, 5);
  });

  it('the route is signed: a request the owner signed for /app/sign is refused on /secrets, and the reverse (not-app-owner)', async () => {
    const w = await world();
    const r = requester();
    const forSign = await ecdsaRequest(w, w.app, r);
    await refused(w, '/secrets', forSign, 403, 'not-app-owner');
    await accepted(w, '/app/sign', forSign, r, 5);
    const r2 = requester();
    const forSecrets = await ecdsaRequest(w, w.app, r2, { route: '/secrets' });
    await refused(w, '/app/sign', forSecrets, 403, 'not-app-owner');
    await accepted(w, '/secrets', forSecrets, r2, 5);
  });

  it('refused: a signature that is no signature', async () => {
    const w = await world();
    const req = await ecdsaRequest(w, w.app, requester());
    await refused(w, '/app/sign', { ...req, attestation: { method: 'ecdsa', signature: h('00', 65), time: NOW_S } }, 403, 'attestation-bad-signature');
  });

  it('refused: a method the app did not enable', async () => {
    const w = await world();
    await refused(w, '/app/sign', await ecdsaRequest(w, w.jwtOnly, requester()), 403, 'method-not-enabled');
  });

  it('refused: an app that does not exist', async () => {
    const w = await world();
    await refused(w, '/app/sign', await ecdsaRequest(w, h('ab', 32), requester()), 404, 'unknown-app');
  });

  it('refused as a bad request: a small-order response key, time 0', async () => {
    const w = await world();
    const r = { ...requester(), responseKey: h('00', 32) };
    const res = await w.post('/app/sign', await ecdsaRequest(w, w.app, r));
    assert.equal(res.status, 400);
    assert.equal((res.json.error as { code: string }).code, 'bad-request');
    const res0 = await w.post('/app/sign', { ...(await ecdsaRequest(w, w.app, requester())), time: 0 });
    assert.equal(res0.status, 400, res0.body);
  });
});

describe('key release: jwt', () => {
  it('accepted (RS256 and ES256): the answer opens and verifies', async () => {
    const w = await world();
    for (const key of [RSA, EC]) {
      const r = requester();
      const req = jwtRequest(w.app, r, signJwt(key, claims(w, w.app, r)));
      await accepted(w, '/app/sign', req, r, 5);
      const r2 = requester();
      const a = await accepted(w, '/secrets', jwtRequest(w.jwtOnly, r2, signJwt(key, claims(w, w.jwtOnly, r2, {}, { route: '/secrets' }))), r2, 5);
      assert.equal(a.env?.publicEnv, w.latest.publicEnv);
    }
    assertNoLeak(w);
  });

  it('an identical retry gets the identical answer', async () => {
    const w = await world();
    const r = requester();
    const req = jwtRequest(w.app, r, signJwt(EC, claims(w, w.app, r)));
    const a = await w.post('/app/sign', req);
    assert.equal(a.status, 200, a.body);
    assert.equal((await w.post('/app/sign', req)).body, a.body);
  });

  it('refused: a token for another app', async () => {
    const w = await world();
    const r = requester();
    // Same image and policy (twin has the same latest release): only eat_nonce differs.
    await refused(w, '/app/sign', jwtRequest(w.app, r, signJwt(RSA, claims(w, w.twin, r))), 403, 'wrong-eat-nonce');
  });

  it('refused: a token for another response key', async () => {
    const w = await world();
    const r = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, r, signJwt(RSA, claims(w, w.app, requester()))), 403, 'wrong-eat-nonce');
  });

  it('eat_nonce binds the whole request: copies of a request on the other route, with another nonce or another key version are refused (wrong-eat-nonce)', async () => {
    const w = await world();
    const r = requester();
    const genuine = jwtRequest(w.app, r, signJwt(RSA, claims(w, w.app, r)));
    await refused(w, '/secrets', genuine, 403, 'wrong-eat-nonce');
    await refused(w, '/app/sign', { ...genuine, nonce: requester().nonce }, 403, 'wrong-eat-nonce');
    await refused(w, '/app/sign', { ...genuine, version: 3 }, 403, 'wrong-eat-nonce');
    await refused(w, '/app/sign', { ...genuine, time: T_V3 + 1 }, 403, 'wrong-eat-nonce');
    await accepted(w, '/app/sign', genuine, r, 5);
    // Each of those requests gets its answer with a token made for it.
    const r2 = requester();
    await accepted(w, '/app/sign', jwtKeyRequest(w.app, r2, signJwt(RSA, claims(w, w.app, r2, {}, { version: 3 })), 3), r2, 3);
    const r3 = requester();
    await accepted(w, '/secrets', jwtRequest(w.app, r3, signJwt(RSA, claims(w, w.app, r3, {}, { route: '/secrets' }))), r3, 5);
  });

  it('another valid token for the same (nonce, responseKey) is answered too; with another response key it is refused (eat_nonce binds it)', async () => {
    const w = await world();
    const r = requester();
    const req = jwtRequest(w.app, r, signJwt(RSA, claims(w, w.app, r)));
    await accepted(w, '/app/sign', req, r, 5);
    await accepted(w, '/app/sign', jwtRequest(w.app, r, signJwt(EC, claims(w, w.app, r))), r, 5);
    await refused(w, '/app/sign', { ...req, responseKey: requester().responseKey }, 403, 'wrong-eat-nonce');
  });

  it('refused: an expired token (exp), a stale one (iat), one not valid yet (nbf)', async () => {
    const w = await world();
    const r = () => requester();
    const tok = (over: Record<string, unknown>) => {
      const q = r();
      return jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, over)));
    };
    await refused(w, '/app/sign', tok({ exp: NOW_S - 61 }), 403, 'attestation-expired');
    await refused(w, '/app/sign', tok({ iat: NOW_S - 301, nbf: NOW_S - 301 }), 403, 'attestation-expired');
    await refused(w, '/app/sign', tok({ nbf: NOW_S + 120 }), 403, 'attestation-expired');
    // The node's clock moving past exp expires a token that was fine.
    const q = r();
    const req = jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, { exp: NOW_S + 30 })));
    w.setNow(NOW_S + 200);
    await refused(w, '/app/sign', req, 403, 'attestation-expired');
  });

  it('refused: a wrong audience (also: issuer)', async () => {
    const w = await world();
    const q = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, { aud: 'eigenx-kms:1:0x5fbdb2315678afecb367f032d93f642f64180aa3' }))), 403, 'wrong-audience');
    const q2 = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q2, signJwt(RSA, claims(w, w.app, q2, { iss: 'https://evil.example' }))), 403, 'wrong-issuer');
    const q3 = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q3, signJwt(RSA, claims(w, w.app, q3, { aud: ['other', AUDIENCE] }))), q3, 5);
  });

  it('refused: a wrong image digest or launch policy (not the latest release)', async () => {
    const w = await world();
    const q = requester();
    // The app's older release's digest.
    await refused(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, { submods: { container: { image_digest: `sha256:${'d0'.repeat(32)}` } } }))), 403, 'wrong-image-digest');
    const q2 = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q2, signJwt(RSA, claims(w, w.app, q2, { submods: {} }))), 403, 'wrong-image-digest');
    const q3 = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q3, signJwt(RSA, claims(w, w.app, q3, { launch_policy: '0x01' }))), 403, 'wrong-launch-policy');
  });

  it('refused: a token signed by a key outside the JWKS, or altered after signing', async () => {
    const w = await world();
    const q = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q, signJwt(ROGUE, claims(w, w.app, q))), 403, 'attestation-bad-signature');
    const q2 = requester();
    const [hd, , sig] = signJwt(RSA, claims(w, w.app, q2)).split('.');
    const forged = `${hd}.${b64url(claims(w, w.app, q2, { aud: [AUDIENCE, 'x'] }))}.${sig}`;
    await refused(w, '/app/sign', jwtRequest(w.app, q2, forged), 403, 'attestation-bad-signature');
  });

  it('refused: alg none, HS256, or a payload that is not JSON', async () => {
    const w = await world();
    const q = requester();
    const c = b64url(claims(w, w.app, q));
    await refused(w, '/app/sign', jwtRequest(w.app, q, `${b64url({ alg: 'none' })}.${c}.`), 403, 'bad-attestation');
    await refused(w, '/app/sign', jwtRequest(w.app, q, `${b64url({ alg: 'HS256' })}.${c}.c2ln`), 403, 'bad-attestation');
    await refused(w, '/app/sign', jwtRequest(w.app, q, `${b64url({ alg: 'RS256' })}.bm90IGpzb24.c2ln`), 403, 'bad-attestation');
  });

  it('refused: a method the app did not enable; jwt on a node without a JWKS', async () => {
    const w = await world();
    const q = requester();
    await refused(w, '/app/sign', jwtRequest(w.ecdsaOnly, q, signJwt(RSA, claims(w, w.ecdsaOnly, q))), 403, 'method-not-enabled');
    const w2 = await world({ jwt: false });
    const q2 = requester();
    await refused(w2, '/app/sign', jwtRequest(w2.app, q2, signJwt(RSA, claims(w2, w2.app, q2))), 403, 'attestation-unavailable');
  });

  it('refused: an app that does not exist', async () => {
    const w = await world();
    const q = requester();
    await refused(w, '/app/sign', jwtRequest(h('ab', 32), q, signJwt(RSA, claims(w, h('ab', 32), q))), 404, 'unknown-app');
  });
});

describe('key release: jwt claim policy (the workload must run in a production enclave)', () => {
  /** A token for a fresh request with `claims` edited by `edit`. */
  function tokenRequest(w: World, edit: (c: Record<string, unknown>) => Record<string, unknown>, route: KeyReleaseRoute = '/app/sign'): KeyReleaseRequest {
    const q = requester();
    return jwtRequest(w.app, q, signJwt(RSA, edit(claims(w, w.app, q, {}, { route }))));
  }

  it('the attack: the app\'s public image on a debug Confidential Space image, with the attacker\'s own eat_nonce, is refused (debug-enclave)', async () => {
    const w = await world();
    // Everything about the token is right — issuer's signature, audience, eat_nonce of the
    // attacker's own request, the app's image digest and launch policy — except that the
    // enclave runs a debug image, whose memory its operator can read.
    const message = await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, dbgstat: 'enabled' })), 403, 'debug-enclave');
    assert.equal(message, 'the token\'s dbgstat claim is not "disabled-since-boot": the token does not come from a production enclave image (a debug image lets its operator read the workload\'s memory)');
    await refused(w, '/secrets', tokenRequest(w, (c) => ({ ...c, dbgstat: 'enabled' }), '/secrets'), 403, 'debug-enclave');
  });

  it('refused: dbgstat missing (debug-enclave)', async () => {
    const w = await world();
    const message = await refused(w, '/app/sign', tokenRequest(w, (c) => withoutClaims(c, 'dbgstat')), 403, 'debug-enclave');
    assert.match(message, /^the token's dbgstat claim is missing \(required: "disabled-since-boot"\)/);
  });

  it('refused: swname is not CONFIDENTIAL_SPACE (a plain GCE image) (wrong-tee-software)', async () => {
    const w = await world();
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, swname: 'GCE' })), 403, 'wrong-tee-software');
    await refused(w, '/app/sign', tokenRequest(w, (c) => withoutClaims(c, 'swname')), 403, 'wrong-tee-software');
  });

  it('refused: secboot false, missing, or the string "true" (secure-boot-off)', async () => {
    const w = await world();
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, secboot: false })), 403, 'secure-boot-off');
    await refused(w, '/app/sign', tokenRequest(w, (c) => withoutClaims(c, 'secboot')), 403, 'secure-boot-off');
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, secboot: 'true' })), 403, 'secure-boot-off');
  });

  it('refused: an hwmodel that is no confidential hardware (GCP_SHIELDED_VM, unknown, missing) (wrong-tee-hardware)', async () => {
    const w = await world();
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, hwmodel: 'GCP_SHIELDED_VM' })), 403, 'wrong-tee-hardware');
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, hwmodel: 'GCP_AMD_SEV_SNP_TEST' })), 403, 'wrong-tee-hardware');
    await refused(w, '/app/sign', tokenRequest(w, (c) => withoutClaims(c, 'hwmodel')), 403, 'wrong-tee-hardware');
    // Every documented confidential model is accepted.
    for (const hwmodel of ['GCP_AMD_SEV', 'GCP_AMD_SEV_ES', 'GCP_INTEL_TDX']) {
      const q = requester();
      await accepted(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, { hwmodel }))), q, 5);
    }
  });

  it('refused: a claim the operator requires (--jwt-require-claim), missing or wrong (wrong-claim); accepted when it holds', async () => {
    const required = [
      parseRequiredClaim('submods.confidential_space.support_attributes=STABLE', '--jwt-require-claim'),
      parseRequiredClaim('google_service_accounts=["app@p.iam.gserviceaccount.com"]', '--jwt-require-claim'),
    ];
    const w = await world({ config: { jwt: { jwks: staticJwks({ keys: [RSA.jwk] }), issuer: ISSUER, claimPolicy: withRules(CONFIDENTIAL_SPACE_POLICY, required) } } });
    const sa = { google_service_accounts: ['app@p.iam.gserviceaccount.com'] };
    const submods = (attrs: string[]) => (c: Record<string, unknown>) => ({ ...c, ...sa, submods: { ...(c.submods as object), confidential_space: { support_attributes: attrs } } });
    // Missing.
    const m1 = await refused(w, '/app/sign', tokenRequest(w, (c) => c), 403, 'wrong-claim');
    assert.match(m1, /^the token's google_service_accounts claim is missing \(required: \["app@p\.iam\.gserviceaccount\.com"\]\): this node's claim policy requires it$/);
    const m2 = await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...c, ...sa, submods: { container: (c.submods as { container: unknown }).container } })), 403, 'wrong-claim');
    assert.match(m2, /^the token's submods\.confidential_space\.support_attributes claim is missing/);
    // Wrong: an EXPERIMENTAL image, another service account.
    await refused(w, '/app/sign', tokenRequest(w, submods(['EXPERIMENTAL'])), 403, 'wrong-claim');
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...submods(['STABLE'])(c), google_service_accounts: ['evil@x.iam.gserviceaccount.com'] })), 403, 'wrong-claim');
    // The default rules still apply before them.
    await refused(w, '/app/sign', tokenRequest(w, (c) => ({ ...submods(['STABLE'])(c), dbgstat: 'enabled' })), 403, 'debug-enclave');
    const q = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, submods(['LATEST', 'STABLE'])(claims(w, w.app, q)))), q, 5);
  });

  it('a replacement policy (--jwt-claim-policy) for another issuer: its rules only, with their codes', async () => {
    const policy = parseClaimPolicy({
      description: 'a TDX attestation service',
      rules: [
        { claim: 'tdx.debuggable', equals: false, code: 'debug-enclave' },
        { claim: 'tdx.tcb_status', oneOf: ['UpToDate', 'SWHardeningNeeded'], code: 'wrong-tee-hardware' },
      ],
    }, 'policy.json');
    const w = await world({ config: { jwt: { jwks: staticJwks({ keys: [RSA.jwk] }), issuer: ISSUER, claimPolicy: policy } } });
    const tdx = (debuggable: unknown, status: string) => (c: Record<string, unknown>) => ({ ...withoutClaims(c, 'dbgstat', 'swname', 'secboot', 'hwmodel'), tdx: { debuggable, tcb_status: status } });
    await refused(w, '/app/sign', tokenRequest(w, tdx(true, 'UpToDate')), 403, 'debug-enclave');
    await refused(w, '/app/sign', tokenRequest(w, tdx(false, 'OutOfDate')), 403, 'wrong-tee-hardware');
    const q = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, tdx(false, 'UpToDate')(claims(w, w.app, q)))), q, 5);
  });

  it('policy files and flags are validated: every malformed one is refused with its source and the problem', () => {
    const bad: [unknown, RegExp][] = [
      [[], /expected \{"rules": \[ … \]\}/],
      [{ rules: [], extra: 1 }, /unexpected field "extra"/],
      [{ rules: [{ claim: 'a' }] }, /give exactly one of equals, oneOf/],
      [{ rules: [{ claim: 'a', equals: 1, oneOf: [1] }] }, /give exactly one of equals, oneOf/],
      [{ rules: [{ claim: 'a', oneOf: [] }] }, /oneOf must be a non-empty array/],
      [{ rules: [{ claim: '', equals: 1 }] }, /claim name must be a non-empty string/],
      [{ rules: [{ claim: 'a..b', equals: 1 }] }, /empty path segment/],
      [{ rules: [{ claim: 'a', equals: 1, code: 'nope' }] }, /code must be one of debug-enclave, wrong-tee-software, secure-boot-off, wrong-tee-hardware, wrong-claim/],
      [{ rules: [{ claim: 'a', equals: 1, why: 'x' }] }, /unexpected field "why"/],
      [{ rules: ['dbgstat'] }, /rules\[0\]: expected an object/],
    ];
    for (const [json, why] of bad) assert.throws(() => parseClaimPolicy(json, 'p.json'), (e: unknown) => e instanceof ClaimPolicyError && why.test(e.message) && e.message.startsWith('p.json'));
    for (const flag of ['secboot', '=true', 'secboot=', 'a..b=1']) assert.throws(() => parseRequiredClaim(flag, '--jwt-require-claim'), ClaimPolicyError);
    // Values: JSON when it parses, else the text.
    assert.deepEqual(parseRequiredClaim('secboot=true', 'f').equals, true);
    assert.deepEqual(parseRequiredClaim('n="7"', 'f').equals, '7');
    assert.deepEqual(parseRequiredClaim('hwmodel=GCP_INTEL_TDX', 'f').equals, 'GCP_INTEL_TDX');
    assert.deepEqual(parseRequiredClaim('a.b=x=y', 'f'), { claim: 'a.b', path: ['a', 'b'], equals: 'x=y', code: 'wrong-claim' });
    // A claim inherited from Object.prototype is not a claim.
    assert.equal(checkClaims(withRules({ source: 's', rules: [] }, [parseRequiredClaim('constructor.name=Object', 'f')]), {})?.rule.code, 'wrong-claim');
  });
});

describe('key release: key version selection', () => {
  it('by version id: retired and active are served, pending and unknown are refused', async () => {
    const w = await world();
    for (const v of [3, 5]) {
      const r = requester();
      await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r, { version: v }), r, v);
    }
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { version: 6 }), 409, 'unknown-version');
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { version: 99 }), 404, 'unknown-version');
  });

  it('by time: the version active then', async () => {
    const w = await world();
    for (const [t, v] of [[T_V3, 3], [T_V5 - 1, 3], [T_V5, 5], [NOW_S, 5]] as const) {
      const r = requester();
      await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r, { keyTime: t }), r, v);
    }
    await refused(w, '/app/sign', await ecdsaRequest(w, w.app, requester(), { keyTime: T_V3 - 1 }), 404, 'unknown-version');
  });

  it('the same version across requests gives the same partial (combinable across a reshare)', async () => {
    const w = await world();
    const r1 = requester();
    const r2 = requester();
    const a = await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r1, { version: 3 }), r1, 3);
    const b = await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r2, { keyTime: T_V3 + 10 }), r2, 3);
    assert.deepEqual(a.partial, b.partial);
    assertNoLeak(w);
  });
});

describe('key release: no secret in errors and logs', () => {
  it('after a mix of refusals and answers, no partial or share appears in any error body or log line', async () => {
    const w = await world();
    const r = requester();
    const req = await ecdsaRequest(w, w.app, r);
    await accepted(w, '/app/sign', req, r, 5);
    await w.post('/app/sign', await ecdsaRequest(w, w.app, r, { version: 3 }));
    await w.post('/app/sign', await ecdsaRequest(w, w.app, requester(), { time: NOW_S - 1000 }));
    await w.post('/app/sign', await ecdsaRequest(w, w.app, requester(), { signer: w.stranger }));
    await w.post('/app/sign', await ecdsaRequest(w, w.app, requester(), { version: 6 }));
    const q = requester();
    await w.post('/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q, { aud: 'x' }))));
    assert.ok(w.errors.length >= 4);
    assertNoLeak(w);
  });
});

describe('freshRead (the head read of a key release)', () => {
  it('a caller never gets a read that started before it called: callers during a read in flight share the next one', async () => {
    const started: ((v: number) => void)[] = [];
    const read = freshRead(() => new Promise<number>((resolve) => void started.push(resolve)));
    const a = read();
    const b = read(); // arrives while read 1 is in flight: read 1 may predate what b must see
    const c = read();
    assert.equal(started.length, 1);
    started[0]?.(1);
    assert.equal(await a, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(started.length, 2, 'one more read for b and c together');
    started[1]?.(2);
    assert.deepEqual([await b, await c], [2, 2]);
    // Idle again: the next caller starts a read at once.
    const d = read();
    assert.equal(started.length, 3);
    started[2]?.(3);
    assert.equal(await d, 3);
  });
});

describe('ReplayCache', () => {
  const ans = (n: number) => ({ operator: h('11', 20), version: 1, sealed: h('aa', n) });

  it('an identical request (route and request hash) gets the recorded answer; another route or hash is a miss, never a refusal', () => {
    let now = 0;
    const c = new ReplayCache({ ttlMs: 1000, clock: () => now });
    const k = ReplayCache.key('sign', h('01', 32));
    const a = ans(100);
    assert.equal(c.record(k, a), a);
    assert.deepEqual(c.lookup(k), { status: 'hit', answer: a });
    assert.equal(c.lookup(ReplayCache.key('secrets', h('01', 32))).status, 'miss');
    assert.equal(c.lookup(ReplayCache.key('sign', h('02', 32))).status, 'miss');
    // A concurrent identical request that finished second sends the first one's bytes.
    assert.equal(c.record(k, ans(100)), a);
    now = 1001;
    assert.equal(c.lookup(k).status, 'miss');
    assert.equal(c.size, 0);
  });

  it('memory stays bounded: at most maxEntries records, at most maxAnswerBytes of answers (older answers are then recomputed)', () => {
    const c = new ReplayCache({ ttlMs: 60_000, clock: () => 0, maxEntries: 100, maxAnswerBytes: 10 * 300 });
    const keys = Array.from({ length: 250 }, (_, i) => ReplayCache.key('sign', toHex(Uint8Array.from({ length: 32 }, (_v, j) => (j === 0 ? i % 256 : j === 1 ? i >> 8 : 7)))));
    for (const k of keys) c.record(k, ans(100));
    assert.equal(c.size, 100);
    assert.equal(c.lookup(keys[0] as string).status, 'miss', 'the oldest records were evicted');
    const kept = keys.slice(150).map((k) => c.lookup(k).status);
    assert.ok(kept.every((st) => st === 'hit' || st === 'recompute'));
    assert.ok(kept.filter((st) => st === 'hit').length <= 11, 'answers beyond the byte budget were dropped');
    assert.equal(c.lookup(keys[249] as string).status, 'hit', 'the newest answer is kept');
  });
});

describe('JWKS', () => {
  /** A fake issuer endpoint: serves `current`, or fails while `down`. */
  function endpoint() {
    const state = { current: { keys: [RSA.jwk] } as unknown, down: false, calls: 0 };
    const fetchFn = (async () => {
      state.calls++;
      if (state.down) throw new TypeError('fetch failed');
      return new Response(JSON.stringify(state.current), { status: 200 });
    }) as typeof fetch;
    return { state, fetchFn };
  }

  it('a URL source: fetched on first use, refetched on an unknown kid (rotation), old keys kept while the endpoint is down', async () => {
    let now = 0;
    const { state, fetchFn } = endpoint();
    const p = jwksFromUrl('https://issuer.example/jwks', { fetch: fetchFn, clock: () => now, minRefetchMs: 30_000, refreshMs: 600_000 });
    assert.equal((await p.keysFor('rsa-1', 'RS256')).length, 1);
    assert.equal(state.calls, 1);
    // Rotation: ec-1 appears; a token naming it triggers one refetch (not before 30 s).
    state.current = { keys: [RSA.jwk, EC.jwk] };
    assert.equal((await p.keysFor('ec-1', 'ES256')).length, 0);
    assert.equal(state.calls, 1);
    now = 31_000;
    assert.equal((await p.keysFor('ec-1', 'ES256')).length, 1);
    assert.equal(state.calls, 2);
    // The endpoint goes down after the refresh period: requests keep the keys, no waiting.
    state.down = true;
    now = 700_000;
    assert.equal((await p.keysFor('rsa-1', 'RS256')).length, 1);
  });

  it('a key the issuer removed is gone at the next successful refresh: its tokens are refused', async () => {
    let now = 0;
    const { state, fetchFn } = endpoint();
    state.current = { keys: [RSA.jwk, EC.jwk] };
    const p = jwksFromUrl('https://issuer.example/jwks', { fetch: fetchFn, clock: () => now, minRefetchMs: 30_000, refreshMs: 600_000 });
    const w = await world({ config: { jwt: { jwks: p, issuer: ISSUER } } });
    const q = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q))), q, 5);
    // The issuer withdraws the RSA key; the next scheduled refresh picks that up.
    state.current = { keys: [EC.jwk] };
    now = 600_001;
    assert.equal((await p.keysFor('ec-1', 'ES256')).length, 1); // due: starts the refresh in the background
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state.calls, 2);
    assert.deepEqual(await p.keysFor('rsa-1', 'RS256'), []);
    const q2 = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q2, signJwt(RSA, claims(w, w.app, q2))), 403, 'attestation-bad-signature');
    const q3 = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q3, signJwt(EC, claims(w, w.app, q3))), q3, 5);
  });

  it('keys not refreshed within --jwt-jwks-max-age are refused: 503 attestation-unavailable, counted as jwks-stale, age on /metrics', async () => {
    let now = 0;
    const { state, fetchFn } = endpoint();
    const maxAgeMs = 24 * 3600_000;
    const p = jwksFromUrl('https://issuer.example/jwks', { fetch: fetchFn, clock: () => now, minRefetchMs: 30_000, refreshMs: 600_000, maxAgeMs });
    const w = await world({ config: { jwt: { jwks: p, issuer: ISSUER } } });
    const q = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q))), q, 5);
    // The issuer's endpoint (or the path to it) fails from now on; the keys still serve until their maximum age.
    state.down = true;
    now = maxAgeMs;
    const q2 = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q2, signJwt(RSA, claims(w, w.app, q2))), q2, 5);
    now = maxAgeMs + 3600_000;
    const q3 = requester();
    const message = await refused(w, '/app/sign', jwtRequest(w.app, q3, signJwt(RSA, claims(w, w.app, q3))), 503, 'attestation-unavailable', 'jwks-stale');
    assert.equal(message, 'the token issuer\'s keys could not be refreshed for 25 h (this node trusts them for at most 24 h): jwt attestations are refused until they can be fetched again');
    assert.match((await w.metrics.render()).body, /^kms_jwt_keys_age_seconds 90000$/m);
    // Refusing made one fetch attempt, not one per request.
    const calls = state.calls;
    const q4 = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q4, signJwt(RSA, claims(w, w.app, q4))), 503, 'attestation-unavailable', 'jwks-stale');
    assert.equal(state.calls, calls);
    // ecdsa is not affected.
    const r = requester();
    await accepted(w, '/app/sign', await ecdsaRequest(w, w.app, r), r, 5);
    // The endpoint recovers: the next request (after the refetch pause) fetches and is answered.
    state.down = false;
    now += 30_001;
    const q5 = requester();
    await accepted(w, '/app/sign', jwtRequest(w.app, q5, signJwt(RSA, claims(w, w.app, q5))), q5, 5);
    assert.match((await w.metrics.render()).body, /^kms_jwt_keys_age_seconds 0$/m);
  });

  it('a URL source that never loaded: jwt requests are refused with 503 jwks-unavailable', async () => {
    const { state, fetchFn } = endpoint();
    state.down = true;
    const p = jwksFromUrl('https://issuer.example/jwks', { fetch: fetchFn });
    await assert.rejects(p.keysFor('rsa-1', 'RS256'), JwksError);
    const w = await world({ config: { jwt: { jwks: p, issuer: ISSUER } } });
    const q = requester();
    await refused(w, '/app/sign', jwtRequest(w.app, q, signJwt(RSA, claims(w, w.app, q))), 503, 'jwks-unavailable');
    assert.equal(state.calls, 1, 'a failed endpoint is not hammered by every request');
  });

  it('refuses private key material, short RSA keys, and a JWKS without a usable key', () => {
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    assert.throws(() => parseJwks({ keys: [priv] }, 'f'), /private/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    assert.throws(() => parseJwks({ keys: [short] }, 'f'), /shorter than 2048/);
    assert.throws(() => parseJwks({ keys: [{ ...EC.jwk, use: 'enc' }] }, 'f'), /no usable key/);
    assert.throws(() => parseJwks({ nope: 1 }, 'f'), /expected a JWKS/);
    assert.equal(parseJwks({ keys: [RSA.jwk, EC.jwk, { kty: 'OKP', crv: 'Ed25519', x: 'AA' }] }, 'f').length, 2);
  });
});
