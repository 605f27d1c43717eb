/**
 * @module
 * The key-release handler (SPEC 5, issue 6): `POST /app/sign` and `POST /secrets` answer a
 * partial signature σ_j = s_j·Q(appIdentity(appId)) — plus, for /secrets, the app's latest
 * release env — signed by this operator and sealed to the caller's response key
 * (`src/crypto/key-release.ts` has the bytes). Only a caller authorized by an attestation
 * method the app enabled on-chain gets an answer.
 *
 * Checks, cheapest first; the first that fails refuses with its own code (and metrics reason):
 *
 *   0. request shape beyond the schema: responseKey of small order, time = 0   400 bad-request
 *   1. the app exists on-chain, read at the newest block (app-reads.ts)         404 unknown-app
 *      the owner has not frozen it (read at the same block: from the next       403 app-frozen
 *      block on, no replay-cache hit either)
 *   2. the app enabled the method                                               403 method-not-enabled
 *      jwt configured on this node                                              403 attestation-unavailable
 *      a release exists (jwt: to compare the image; /secrets: to return it)     404 no-release
 *   3. attestation time within ±window (ecdsa: signed time; jwt: iat, exp, nbf) 403 attestation-expired
 *      (jwt: the token decodes, alg RS256/ES256)                                403 bad-attestation
 *   4. replay cache on (route, requestHash, owner, epoch): an identical retry gets the same
 *      answer (same bytes) while the app's owner and key epoch are unchanged; a different
 *      request reusing (nonce, responseKey) is checked and answered on its own (its answer is
 *      sealed to the key its attestation binds; see caches.ts)
 *   5. ecdsa: EIP-712 signature over (route, request) is canonical, recovers …   403 attestation-bad-signature
 *             … to the app's on-chain owner                                     403 not-app-owner
 *             or, when it does not and the owner has code: EIP-1271            403 not-app-owner
 *             isValidSignature(digest, signature) = 0x1626ba7e at the block
 *             read (bounded in gas and time: app-reads.ts)
 *      jwt:   JWKS keys fetched within their maximum age                        503 attestation-unavailable
 *             JWS verifies under a JWKS key                                     403 attestation-bad-signature
 *             iss = configured issuer                                           403 wrong-issuer
 *             aud ∋ this deployment's audience                                  403 wrong-audience
 *             the claim policy (claim-policy.ts; default: Confidential Space     403 debug-enclave,
 *             production — dbgstat, swname, secboot, hwmodel; plus the           wrong-tee-software,
 *             operator's --jwt-require-claim rules)                              secure-boot-off,
 *                                                                                wrong-tee-hardware,
 *                                                                                wrong-claim
 *             eat_nonce = eatNonce(domain, route, appId, responseKey, nonce,    403 wrong-eat-nonce
 *                                  version | time)
 *             submods.container.image_digest = latest release's                 403 wrong-image-digest
 *             launch_policy = latest release's                                  403 wrong-launch-policy
 *   6. key version: `version` (held, not pending) | `time` (versionAt) | active  404/409 unknown-version, 503 not-ready
 *   7. partial sign for the app's current key epoch, σ_j = s_j·Q(appIdentity(appId, epoch))
 *      (timed; cached per key version and identity, so mostly a lookup), operator signature,
 *      seal, record in the replay cache. The answer names the epoch (`epoch`). With a receipt
 *      log (issue 16): the release receipt (receipt.ts) is built, signed — the answer's one    503 internal
 *      signature — and appended to the log before the answer is sealed; a log that refuses the
 *      entry releases nothing.
 *
 * Time: the freshness window is checked against this node's wall clock, not chain time.
 * Attestation times are wall-clock times by construction (the owner's clock for ecdsa, the
 * attestation service's for a JWT's iat/exp/nbf), and chain time at the node's read tag lags
 * wall time by the finality lag (`safe` is ~6 min behind on Ethereum mainnet, `finalized`
 * ~13 min), more than the ±5 min window itself. On a local chain (block time 1 s) the two
 * agree. The clock is injectable (`config.clock`) for tests.
 *
 * Nothing secret reaches an error: messages name the failed check and public on-chain facts
 * (owner, expected audience), never a partial, a share, an env or a token's content.
 */
import { bls } from '../../crypto/bls12381/index.ts';
import * as fr from '../../crypto/fr.ts';
import { appIdPoint } from '../../crypto/threshold.ts';
import {
  appIdentity,
  eatNonceOfRequest,
  encodeAnswer,
  KEY_RELEASE_ROUTES,
  isLowOrderX25519,
  keyRequestDigest,
  partialPayload,
  recoverKeyRequestSigner,
  requestHash,
  sealResponse,
  type KeyReleaseAnswer,
} from '../../crypto/key-release.ts';
import { parseHex, toHex } from '../../crypto/domain.ts';
import { createOperatorSigner, type OperatorKeyType } from '../../crypto/operator-sig.ts';
import { encodeReceipt, partialHash, responseKeyHash } from '../../crypto/receipt.ts';
import { systemRng, type Rng } from '../../crypto/rng.ts';
import type { Address, AppRecord, LedgerReader, Release } from '../../protocol/ledger.ts';
import {
  authorizeApp,
  authorizeContractSigner,
  authorizeEcdsaSigner,
  checkAttestationTime,
  checkIssuerAudience,
  checkRequestBinding,
  checkTokenTimes,
  pickVersion as pickVersionRule,
  type ReleaseRefusal,
  type Verdict,
} from '../../protocol/release-authorization.ts';
import { ApiError, type ApiErrorCode } from '../http/errors.ts';
import type { AppReleaseHandler, KeyReleaseContext } from '../http/routes/release.ts';
import type { EcdsaAttestation, JwtAttestation, KeyReleaseRequest, SignResponse } from '../http/schemas.ts';
import type { KeyStore, StoredVersion } from '../key-store.ts';
import type { ReceiptLog } from '../receipt-log.ts';
import type { NodeMetrics, RefusalReason } from '../metrics.ts';
import { appReaderFor, type AppSource, type AppView } from './app-reads.ts';
import { LedgerCache, ReplayCache, type ReplayKind } from './caches.ts';
import { checkClaims, CONFIDENTIAL_SPACE_POLICY, type ClaimPolicy } from './claim-policy.ts';
import { decodeJwt, formatDuration, JwksError, JwksStaleError, JwtFormatError, verifyJws, type DecodedJwt, type JwksProvider, type VerifierKey } from './jwt.ts';

/** What the handler needs from the node (`NodeParts` satisfies it). */
export interface ReleaseParts {
  readonly ledger: Pick<LedgerReader, 'chainId' | 'registry'> & AppSource;
  readonly store: Pick<KeyStore, 'getVersion' | 'activeVersion' | 'versionAt'>;
  /** This operator's address. */
  readonly me: Address;
  /** The 65-byte signing domain (chain id, registry). */
  readonly domain: Uint8Array;
  readonly sigKeyType: OperatorKeyType;
  readonly sigKey: Uint8Array;
  readonly metrics: Pick<NodeMetrics, 'observePartialSign' | 'watchJwksAge'>;
  /** Why this node holds no servable version although the chain has one (a stale key store), or null. */
  readonly staleReason?: () => string | null;
  /**
   * The receipt log (receipt-log.ts): each answer then carries a signed receipt, appended here
   * before the answer is sent. Absent or null: answers without receipts (format 0x01; the
   * benchmark's baseline).
   */
  readonly receipts?: ReceiptLog | null;
}

export interface JwtMethodConfig {
  /** Where the token signing keys come from (`jwksFromFile`, `jwksFromUrl`, `staticJwks`). */
  readonly jwks: JwksProvider;
  /** The exact `iss` accepted (Confidential Space: https://confidentialcomputing.googleapis.com). */
  readonly issuer: string;
  /** The `aud` this deployment requires; default `defaultAudience(chainId, registry)`. */
  readonly audience?: string | undefined;
  /** Clock skew allowed on exp and nbf, seconds (default 60). */
  readonly skewSeconds?: number;
  /** Claims that must hold (default `CONFIDENTIAL_SPACE_POLICY`: no debug images; see claim-policy.ts). */
  readonly claimPolicy?: ClaimPolicy;
}

export interface AppReleaseConfig {
  /** null or absent: the `jwt` method is refused with `attestation-unavailable`. */
  readonly jwt?: JwtMethodConfig | null;
  /** Attestation freshness, seconds either side of now (default 300). */
  readonly windowSeconds?: number;
  /** Wall clock in milliseconds (default Date.now); see the module header for why not chain time. */
  readonly clock?: () => number;
  readonly replay?: { readonly maxEntries?: number; readonly maxAnswerBytes?: number };
  /** Randomness for sealing (default the OS CSPRNG). */
  readonly rng?: Rng;
}

/** `eigenx-kms:<chainId>:<registry, lowercase>`: the JWT audience naming one deployment. */
export function defaultAudience(chainId: bigint, registry: string): string {
  return `eigenx-kms:${chainId}:${registry.toLowerCase()}`;
}

/** Codes that are also metric reasons: every attestation refusal is counted under its own name. */
type Refusal = ApiErrorCode & RefusalReason;

function refuse(status: number, code: Refusal, message: string): ApiError {
  return new ApiError(status, code, message, { refusal: code });
}

/**
 * How a refusal of the authorization rules (`src/protocol/release-authorization.ts`) is
 * answered: HTTP status, error code, metrics reason. The rules decide; this maps.
 */
const REFUSAL_HTTP: Readonly<Record<ReleaseRefusal, { readonly status: number; readonly code: Refusal }>> = {
  'unknown-app': { status: 404, code: 'unknown-app' },
  // The app exists and the request may be fine: the owner's decision forbids it for now.
  'app-frozen': { status: 403, code: 'app-frozen' },
  'method-not-enabled': { status: 403, code: 'method-not-enabled' },
  'attestation-unavailable': { status: 403, code: 'attestation-unavailable' },
  'no-release': { status: 404, code: 'no-release' },
  'attestation-expired': { status: 403, code: 'attestation-expired' },
  'bad-attestation': { status: 403, code: 'bad-attestation' },
  'attestation-bad-signature': { status: 403, code: 'attestation-bad-signature' },
  'not-app-owner': { status: 403, code: 'not-app-owner' },
  'wrong-issuer': { status: 403, code: 'wrong-issuer' },
  'wrong-audience': { status: 403, code: 'wrong-audience' },
  'wrong-eat-nonce': { status: 403, code: 'wrong-eat-nonce' },
  'wrong-image-digest': { status: 403, code: 'wrong-image-digest' },
  'wrong-launch-policy': { status: 403, code: 'wrong-launch-policy' },
  'unknown-version': { status: 404, code: 'unknown-version' },
  // Held but not servable yet: a conflict with the request, not an absence.
  'version-not-active': { status: 409, code: 'unknown-version' },
  'not-ready': { status: 503, code: 'not-ready' },
};

/** The verdict's value, or the refusal as its HTTP error. */
function must<T>(v: Verdict<T>): T {
  if (v.ok) return v.value;
  const h = REFUSAL_HTTP[v.refusal];
  throw refuse(h.status, h.code, v.message);
}

const DEFAULT_WINDOW_S = 300;
const DEFAULT_SKEW_S = 60;

/** Partials kept, per (key version, app identity): s_j·Q(id) is deterministic, ~250 bytes each. */
const MAX_PARTIALS = 10_000;

type KeyRequestParams = Parameters<typeof recoverKeyRequestSigner>[0];

/** A bounded insertion-ordered map: `get` refreshes an entry, `set` evicts the oldest beyond `max`. */
class Lru<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly max: number) {}
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.max) {
      const oldest = this.#map.keys().next();
      if (oldest.done === true) break;
      this.#map.delete(oldest.value);
    }
  }
}

export function createAppRelease(parts: ReleaseParts, config: AppReleaseConfig = {}): AppReleaseHandler {
  const clock = config.clock ?? Date.now;
  const windowS = config.windowSeconds ?? DEFAULT_WINDOW_S;
  if (!Number.isInteger(windowS) || windowS < 1) throw new RangeError(`windowSeconds: expected a positive integer, got ${windowS}`);
  const rng = config.rng ?? systemRng;
  const { ledger, store, me, domain } = parts;
  const receipts = parts.receipts ?? null;
  const chainId = ledger.chainId;
  const registry = ledger.registry.toLowerCase() as Address;
  const jwt = config.jwt ?? null;
  const audience = jwt === null ? null : (jwt.audience ?? defaultAudience(chainId, registry));
  const skewS = jwt?.skewSeconds ?? DEFAULT_SKEW_S;
  const claimPolicy = jwt?.claimPolicy ?? CONFIDENTIAL_SPACE_POLICY;
  const jwksAge = jwt?.jwks.ageMs?.bind(jwt.jwks);
  if (jwksAge !== undefined) parts.metrics.watchJwksAge(jwksAge);
  const signer = createOperatorSigner(parts.sigKeyType, parts.sigKey, domain);
  const operator = parseHex(me, 20, 'operator');
  // App records and releases at the newest block (app-reads.ts), memoized per block.
  const apps = appReaderFor(ledger);
  const cache = new LedgerCache();
  // 2 × window: see caches.ts (an attestation passes the time check for 2W at most); + skew for exp.
  const replay = new ReplayCache({ ttlMs: (2 * windowS + skewS) * 1000, clock, ...config.replay });

  const nowS = () => Math.floor(clock() / 1000);

  // σ_j = s_j·Q(id) per (key version, app identity): deterministic, so computed once per pair.
  // The key also carries the version's public-polynomial hash, so a different version under a
  // reused id could never be served a stale partial; the share itself is not kept here (a version
  // deleted from the store is refused before this point, and its entries age out).
  const partials = new Lru<string, Uint8Array>(MAX_PARTIALS);

  /** σ_j = s_j·Q(id), exactly `partialSign(share, identity)` (threshold.ts), cached. */
  function partialFor(version: StoredVersion, identity: string): Uint8Array {
    const key = `${version.id}/${version.publicPolyHash}/${identity}`;
    const hit = partials.get(key);
    if (hit !== undefined) return hit;
    const share = version.share;
    fr.aScalar(share, 'share');
    if (share === 0n) throw new RangeError('share: expected 0 < share < r');
    const partial = bls.g1.encode(bls.g1.mul(appIdPoint(identity), share));
    partials.set(key, partial);
    return partial;
  }

  async function chainRead<T>(what: string, read: () => Promise<T>, ctx: KeyReleaseContext): Promise<T> {
    try {
      return await read();
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message, what }, 'registry read failed');
      throw new ApiError(503, 'chain-unavailable', `reading the ${what} from the registry failed; try again`, { cause: err });
    }
  }

  /** Steps 1–2: the app, the method, and (when needed) its latest release. */
  async function appAndRelease(kind: ReplayKind, req: KeyReleaseRequest, ctx: KeyReleaseContext): Promise<{ view: AppView; app: AppRecord; release: Release | null; block: number }> {
    const view = await chainRead('latest block', () => apps.latest(), ctx);
    const app = await chainRead('app', () => cache.app(view, req.appId), ctx);
    const { needsRelease } = must(authorizeApp(app, req.attestation.method, { jwtConfigured: jwt !== null, wantsEnv: kind === 'secrets' }));
    if (app === null) throw new Error('unreachable: authorizeApp refuses a missing app');
    if (needsRelease) {
      const index = app.releaseCount - 1;
      const release = await chainRead('release', () => cache.release(view, app.id, index), ctx);
      if (release === null) throw new ApiError(503, 'chain-unavailable', 'the registry did not return the app\'s latest release; try again');
      return { view, app, release, block: view.blockNumber };
    }
    return { view, app, release: null, block: view.blockNumber };
  }

  /** Step 3 for jwt: decode and check the time claims (cheap, before the signature). */
  function jwtTimes(att: JwtAttestation, now: number): DecodedJwt {
    let token: DecodedJwt;
    try {
      token = decodeJwt(att.token);
    } catch (e) {
      if (e instanceof JwtFormatError) throw refuse(403, 'bad-attestation', e.message);
      throw e;
    }
    must(checkTokenTimes(token.claims, now, windowS, skewS));
    return token;
  }

  /** Step 5 for ecdsa: the owner's key, or (an owner with code) its EIP-1271 answer. */
  async function verifyEcdsa(kind: ReplayKind, req: KeyReleaseRequest & { attestation: EcdsaAttestation }, app: AppRecord, view: AppView, ctx: KeyReleaseContext): Promise<void> {
    // The typed data is rebuilt from this request: a signature over any other request (route,
    // app, response key, nonce, time, key version) recovers to some other address.
    const params: KeyRequestParams = {
      chainId, registry, route: KEY_RELEASE_ROUTES[kind], appId: req.appId, responseKey: req.responseKey, nonce: req.nonce, time: req.attestation.time,
      version: req.version, keyTime: req.time,
    };
    const sigBytes = parseHex(req.attestation.signature, undefined, 'attestation.signature');
    // Canonical signatures only (low s, v ∈ {27, 28}): the high-s twin or a v = 0/1 copy of
    // the owner's signature would otherwise be a second, different request with the same
    // nonce that anyone who saw the first could make.
    const recovered = sigBytes.length === 65 ? recoverKeyRequestSigner(params, sigBytes) : null;
    const byKey = authorizeEcdsaSigner(recovered, app.owner);
    if (byKey.ok) return;
    // Not the owner's key: if the owner is a contract, its own rule decides (EIP-1271); an
    // owner without code gets the ECDSA refusal. The wallet sees the same EIP-712 digest.
    const answer = await chainRead('owner wallet', () => view.contractSignature(app.owner, keyRequestDigest(params), sigBytes), ctx);
    if (answer === 'no-code') must(byKey);
    else must(authorizeContractSigner(answer, app.owner));
  }

  /** Step 5 for jwt. */
  async function verifyJwt(kind: ReplayKind, token: DecodedJwt, req: KeyReleaseRequest, release: Release, ctx: KeyReleaseContext): Promise<void> {
    if (jwt === null || audience === null) throw new Error('unreachable: jwt checked in step 2');
    let keys: readonly VerifierKey[];
    try {
      keys = await jwt.jwks.keysFor(token.kid, token.alg);
    } catch (e) {
      if (e instanceof JwksStaleError) {
        ctx.log.warn({ err: e.message }, 'JWKS too old: jwt attestations are refused until it can be fetched again');
        throw new ApiError(503, 'attestation-unavailable', `the token issuer's keys could not be refreshed for ${formatDuration(e.ageMs)} (this node trusts them for at most ${formatDuration(e.maxAgeMs)}): jwt attestations are refused until they can be fetched again`, { refusal: 'jwks-stale', cause: e });
      }
      if (!(e instanceof JwksError)) throw e;
      ctx.log.warn({ err: e.message }, 'JWKS unavailable');
      throw refuse(503, 'jwks-unavailable', 'the token signing keys (JWKS) could not be loaded; try again later');
    }
    if (!verifyJws(token, keys)) {
      throw refuse(403, 'attestation-bad-signature', `the token's signature does not verify under any ${token.alg} key of the configured JWKS`);
    }
    const c = token.claims;
    must(checkIssuerAudience(c, jwt.issuer, audience));
    // Where the workload runs: a production enclave, not a debug image of the same container.
    const violation = checkClaims(claimPolicy, c);
    if (violation !== null) throw refuse(403, violation.rule.code, violation.message);
    // The token binds this whole request: another route, nonce or key version is another token.
    must(checkRequestBinding(c, eatNonceOfRequest(domain, KEY_RELEASE_ROUTES[kind], req), release));
  }

  /** Step 6. */
  function pickVersion(req: KeyReleaseRequest): StoredVersion {
    const picked = pickVersionRule(req, { byId: (id) => store.getVersion(id), at: (t) => store.versionAt(t), active: () => store.activeVersion() });
    // A store older than the chain holds no active version on purpose: say why (stale-store.ts).
    const stale = !picked.ok && picked.refusal === 'not-ready' ? parts.staleReason?.() : undefined;
    if (stale) throw refuse(503, 'not-ready', stale);
    return must(picked);
  }

  async function release(kind: ReplayKind, req: KeyReleaseRequest, ctx: KeyReleaseContext): Promise<SignResponse> {
    // 0. What the schema cannot express.
    const responseKey = parseHex(req.responseKey, 32, 'responseKey');
    if (isLowOrderX25519(responseKey)) throw new ApiError(400, 'bad-request', 'body.responseKey: an X25519 key of small order is refused');
    if (req.time === 0) throw new ApiError(400, 'bad-request', 'body.time: must be >= 1 (no key version was active at time 0)');
    const rh = requestHash(req);
    const rhHex = toHex(rh);
    const now = nowS();

    // 1–2.
    const { view, app, release: latest, block } = await appAndRelease(kind, req, ctx);

    // 3.
    const att = req.attestation;
    let token: DecodedJwt | null = null;
    if (att.method === 'ecdsa') must(checkAttestationTime(att.time, 'attestation.time', now, windowS));
    else token = jwtTimes(att, now);

    // 4. An identical retry gets the same bytes; any other request is checked on its own. The
    // key also names the owner and the epoch: after a transfer or a rotation a retry is
    // checked afresh (the old owner's signature no longer passes; the old epoch is not served).
    const replayKey = `${ReplayCache.key(kind, rhHex)}:${app.owner.toLowerCase()}:${app.epoch}`;
    const seen = replay.lookup(replayKey);
    if (seen.status === 'hit') return seen.answer;

    // 5.
    if (att.method === 'ecdsa') await verifyEcdsa(kind, { ...req, attestation: att }, app, view, ctx);
    else await verifyJwt(kind, token as DecodedJwt, req, latest as Release, ctx);

    // 6–7.
    const version = pickVersion(req);
    if (ctx.signal.aborted) throw new ApiError(503, 'timeout', 'the request was abandoned');
    const identity = appIdentity(req.appId, app.epoch);
    const started = performance.now();
    const partial = partialFor(version, identity);
    parts.metrics.observePartialSign((performance.now() - started) / 1000);
    const appIdBytes = parseHex(req.appId, 32, 'appId');
    const payload = partialPayload({ appId: appIdBytes, version: version.id, partial, requestHash: rh });
    // With a receipt log: one signature, over the receipt, which commits to the partial
    // (receipt.ts). Built, signed and appended with no await in between, so concurrent
    // requests take consecutive positions; durable before the answer is sealed and sent.
    let signature: Uint8Array;
    let receipt: Uint8Array | undefined;
    if (receipts) {
      const head = receipts.head();
      receipt = encodeReceipt({
        operator: toHex(operator), position: head.count, prevHash: head.hash, appId: toHex(appIdBytes), epoch: app.epoch,
        version: version.id, route: KEY_RELEASE_ROUTES[kind], method: att.method, requestHash: rhHex,
        responseKeyHash: responseKeyHash(responseKey), block, time: now, partialHash: partialHash(payload),
      });
      signature = signer.sign(receipt);
      try {
        receipts.append(receipt, signature);
        // In the log before the answer leaves. `durable()` waits for stable storage only in the
        // log's `group`/`full` modes; the node's `background` mode syncs off the answer's path
        // and commits only synced heads on-chain (receipt-log.ts).
        await receipts.durable();
      } catch (err) {
        ctx.log.error({ err: (err as Error).message }, 'the receipt log refused an entry: the key is not released');
        throw new ApiError(503, 'internal', 'this node could not record the release receipt; try again or ask another operator', { cause: err });
      }
    } else {
      signature = signer.sign(payload);
    }
    const answer: KeyReleaseAnswer = {
      kind, appId: appIdBytes, operator, version: version.id, partial, signature, ...(receipt ? { receipt } : {}),
      ...(kind === 'secrets' && latest !== null
        ? { env: { releaseIndex: app.releaseCount - 1, encryptedEnv: parseHex(latest.encryptedEnv, undefined, 'encryptedEnv'), publicEnv: latest.publicEnv } }
        : {}),
    };
    const plain = encodeAnswer(answer);
    const sealed = sealResponse(responseKey, rh, plain, rng);
    plain.fill(0);
    const response: SignResponse = { operator: me, version: version.id, epoch: app.epoch, sealed: toHex(sealed) };
    const sent = replay.record(replayKey, response);
    ctx.released({ appId: appIdentity(req.appId), epoch: app.epoch, method: att.method, kind, version: version.id });
    return sent;
  }

  return {
    sign: (req, ctx) => release('sign', req, ctx),
    secrets: (req, ctx) => release('secrets', req, ctx),
  };
}

