/**
 * @module
 * The key-release exchange both `requestAppKey` (`POST /app/sign`) and `getSecrets`
 * (`POST /secrets`) run (SPEC 2, 5; formats in src/crypto/key-release.ts):
 *
 *  1. Cheap checks on the chain first, so a request that every operator would refuse is not
 *     sent: the app exists, it enables the attestation method, an `ecdsa` signer is its owner.
 *  2. A fresh X25519 response key and a fresh 32-byte nonce, always from the OS CSPRNG; one
 *     attestation over them and the route (`/app/sign` or `/secrets`); `requestHash` of the body.
 *  3. The body goes to every holder of the target version at once, each with a deadline.
 *  4. Each answer is checked: it names the operator asked, opens with the response key
 *     under `requestHash` (so a replayed answer to another request does not open), is the
 *     right kind for the route, is for this app, and carries a signature that verifies under
 *     the operator's on-chain signing key over (domain, app id, version, partial, requestHash).
 *     The signatures of all answers are checked together (`./operator-signatures.ts`: BN254
 *     ones in one multi-pairing; one by one only when that fails), every one of them.
 *  5. Partials are combined from ONE version: the one requested, else the version most
 *     authenticated answers used (ties: the newer). Answers of other versions are named
 *     (`other-version`), never mixed in: shares of two versions lie on different polynomials.
 *  6. That version's public polynomial A (checked against its on-chain hash, A_0 = MPK)
 *     checks every partial, and the app key d combined by Lagrange at 0 from the first t of
 *     them against the MPK, in one two-pairing check without computing any PK_j
 *     (`verifyAndCombinePartials` in src/crypto/threshold.ts); bisection names the bad
 *     partials only when it fails.
 *
 * Every operator that did not contribute a valid partial ends up in `faults` with its reason;
 * with fewer than t valid partials the action throws `NotEnoughPartialsError` listing them all.
 */
import type { G1, G2 } from '../crypto/bls12381/types.ts';
import { makeDomain } from '../crypto/domain.ts';
import {
  KEY_RELEASE_ROUTES,
  appIdentity,
  KeyReleaseFormatError,
  eatNonceHex,
  generateResponseKeyPair,
  openAnswer,
  answerSignedPayload,
  receiptMismatch,
  requestHash,
  type AnswerKind,
  type KeyReleaseAnswer,
  type ReleaseEnv,
} from '../crypto/key-release.ts';
import { operatorX } from '../crypto/operator-x.ts';
import { systemRng } from '../crypto/rng.ts';
import { verifyAndCombinePartials } from '../crypto/threshold.ts';
import type { Address, AppRecord, Hex, LedgerReader, OperatorRecord, VersionRecord } from '../protocol/ledger.ts';
import { ownerKeyAttestation, type Attestation, type AttestationProvider } from './attestation.ts';
import type { KmsClient } from './client.ts';
import {
  AppFrozenError,
  AppKeyVerificationError,
  AttestationMethodError,
  InvalidParameterError,
  NoMasterKeyError,
  NotAppOwnerError,
  NotEnoughPartialsError,
  UnknownAppError,
  UnknownVersionError,
  type OperatorFault,
} from './errors.ts';
import { requestOperator, showSocket } from './http.ts';
import { loadVersionKey } from './actions/getPublicKey.ts';
import { verifyOperatorSignatures, type OperatorSignatureToVerify } from './operator-signatures.ts';
import { aAppId, bytesToHex, isHex, lc, scalarHex, sameAddress } from './utils.ts';

/** How the request proves it may have the key: the owner's key, or any attestation provider. */
export type KeyReleaseAuth =
  | {
      /** The app owner's secp256k1 private key (signs an `ecdsa` attestation; never sent). */
      readonly ownerKey: Hex;
      readonly attestation?: undefined;
    }
  | {
      readonly attestation: AttestationProvider;
      readonly ownerKey?: undefined;
    };

export type KeyReleaseParameters = {
  /** The app's bytes32 id. */
  readonly appId: Hex | string;
  /** Key version to combine (default: whatever the operators use now; the answer says which). */
  readonly version?: number;
  /**
   * Or: the chain time whose then-active version the operators should use. The request goes
   * to the holders of the active version (the ones that can still sign with older ones).
   */
  readonly time?: number;
  /** Deadline per operator in ms (default: the client's `timeoutMs`). */
  readonly timeoutMs?: number;
} & KeyReleaseAuth;

/** One partial signature received from an operator of the combined version. */
export interface ReceivedPartial {
  readonly operator: Address;
  /** The operator's x-coordinate, 32-byte hex. */
  readonly x: Hex;
  /** σ_j, 48-byte compressed G1 hex. */
  readonly partial: Hex;
  /** Whether e(σ_j, G2) == e(Q(id), PK_j). */
  readonly valid: boolean;
}

export interface KeyReleaseOutcome {
  readonly appId: Hex;
  readonly app: AppRecord;
  /** The app-key epoch of `appKey` (the app's epoch on-chain when the request was made). */
  readonly epoch: number;
  /** d = x·Q(appId), 48-byte G1 hex. Secret. */
  readonly appKey: Hex;
  readonly version: number;
  readonly threshold: number;
  readonly partials: ReceivedPartial[];
  readonly faults: OperatorFault[];
  /** For `/secrets`: the env each contributing operator sent, by operator. */
  readonly envs: ReadonlyMap<Address, ReleaseEnv>;
  /** The app key as a point (for decrypting without decoding it again). Secret. */
  readonly appKeyPoint: G1;
}

interface Authenticated {
  readonly operator: Address;
  readonly socket: string;
  readonly answer: KeyReleaseAnswer;
}

/** An answer that opened and passed every check before its signature's. */
interface Opened extends Authenticated {
  readonly record: OperatorRecord;
  /** The version the unsealed envelope was labelled with. */
  readonly label: number;
}


function aOptionalPositive(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidParameterError(what, 'a positive integer');
  return v;
}

function providerOf(params: KeyReleaseParameters): AttestationProvider {
  if (params.ownerKey !== undefined && params.attestation !== undefined) {
    throw new InvalidParameterError('ownerKey / attestation', 'one of them, not both');
  }
  if (params.ownerKey !== undefined) return ownerKeyAttestation(params.ownerKey);
  const a = params.attestation;
  if (typeof a !== 'object' || a === null || typeof a.attest !== 'function') {
    throw new InvalidParameterError('ownerKey / attestation', 'the app owner\'s key (ownerKey) or an attestation provider (attestation)');
  }
  return a;
}

/**
 * Runs the exchange of the module header against `kind`'s route. When no version was asked
 * for and the operators were caught mid-switchover (some answered with the new version, some
 * with the old one, too few of either), it asks once more for the OLDER of the versions seen:
 * nodes keep a version after they move on, so every holder can still sign with it, whereas the
 * new one only works once enough of them have activated it.
 */
export async function releaseKey(client: KmsClient, params: KeyReleaseParameters, kind: AnswerKind, action: string): Promise<KeyReleaseOutcome> {
  try {
    return await releaseKeyOnce(client, params, kind, action);
  } catch (e) {
    // A rotation landed between reading the app and the operators' reads: read it again, once.
    if (e instanceof NotEnoughPartialsError && e.faults.some((f) => f.kind === 'other-epoch')) return releaseKeyOnce(client, params, kind, action);
    const pinned = typeof params === 'object' && params !== null && (params.version !== undefined || params.time !== undefined);
    if (pinned || !(e instanceof NotEnoughPartialsError)) throw e;
    const seen = e.faults.filter((f) => f.kind === 'other-version' && f.version !== undefined).map((f) => f.version as number);
    if (seen.length === 0) throw e;
    const older = Math.min(...seen, ...(e.version !== undefined ? [e.version] : []));
    return releaseKeyOnce(client, { ...params, version: older }, kind, action);
  }
}

async function releaseKeyOnce(client: KmsClient, params: KeyReleaseParameters, kind: AnswerKind, action: string): Promise<KeyReleaseOutcome> {
  if (typeof params !== 'object' || params === null) throw new InvalidParameterError('parameters', 'an object');
  const appId = aAppId(params.appId);
  const version = aOptionalPositive(params.version, 'version');
  const keyTime = aOptionalPositive(params.time, 'time');
  if (version !== undefined && keyTime !== undefined) throw new InvalidParameterError('version / time', 'one of them, not both');
  const timeoutMs = aOptionalPositive(params.timeoutMs, 'timeoutMs') ?? client.timeoutMs;
  const provider = providerOf(params);
  const ledger = await client.ledger(action);

  // 1. What the chain says, before anything is sent.
  const [app, mpk, operators, target] = await Promise.all([
    ledger.getApp(appId),
    ledger.getMpk(),
    ledger.getOperators(),
    version === undefined ? ledger.activeVersion() : ledger.getVersion(version),
  ]);
  if (app === null) throw new UnknownAppError(appId, ledger.registry);
  if (app.frozen) throw new AppFrozenError(appId, ledger.registry);
  if (!app.methods.includes(provider.method)) throw new AttestationMethodError(appId, provider.method, app.methods);
  if (provider.method === 'ecdsa' && provider.signer !== undefined && !sameAddress(provider.signer, app.owner)) {
    throw new NotAppOwnerError(appId, lc(app.owner), provider.signer);
  }
  if (mpk === null) throw new NoMasterKeyError(ledger.registry);
  if (target === null) throw version === undefined ? new NoMasterKeyError(ledger.registry) : new UnknownVersionError(version, ledger.registry);

  // 2. Fresh response key and nonce. Always the OS CSPRNG: an injected test rng must never
  // make a response key predictable.
  const { secretKey, publicKey } = generateResponseKeyPair(systemRng);
  const cancel = new AbortController();
  try {
    const responseKey = bytesToHex(publicKey);
    const nonce = bytesToHex(systemRng(32));
    const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
    const route = KEY_RELEASE_ROUTES[kind];
    const attestation: Attestation = await provider.attest({
      route, appId, responseKey, nonce, chainId: ledger.chainId, registry: lc(ledger.registry),
      eatNonce: eatNonceHex(domain, { route, appId, responseKey, nonce, version, keyTime }),
      ...(version !== undefined ? { version } : {}),
      ...(keyTime !== undefined ? { keyTime } : {}),
    });
    const body = { appId, responseKey, nonce, ...(version !== undefined ? { version } : {}), ...(keyTime !== undefined ? { time: keyTime } : {}), attestation };
    const reqHash = requestHash(body);

    // The target version's polynomial is fetched while the operators sign (it is almost
    // always the version they answer with: this saves a round trip), and cancelled when this
    // request ends, so that a failed request leaves nothing running.
    const prefetched = loadVersionKey(client, ledger, target.id, cancel.signal);
    prefetched.catch(() => undefined); // awaited below only if the target version is chosen

    // 3, 4. Every holder at once; each answer opened and checked, then all signatures together.
    const records = new Map(operators.map((o) => [o.address.toLowerCase(), o]));
    const faults: OperatorFault[] = [];
    const opened: Opened[] = [];
    await Promise.all(target.holders.map(async (holder) => {
      const operator = holder.toLowerCase() as Address;
      const record = records.get(operator);
      if (record === undefined) {
        faults.push({ operator, kind: 'unknown-operator', reason: 'is no longer registered (no socket and no signing key on-chain)' });
        return;
      }
      const res = await requestOperator({ operator, socket: record.socket, path: route, method: 'POST', body, timeoutMs, fetch: client.fetch });
      if (!res.ok) {
        faults.push(res.fault);
        return;
      }
      const checked = open(res.body, record, { appId, epoch: app.epoch, kind, reqHash, secretKey, publicKey });
      if ('fault' in checked) faults.push(checked.fault);
      else opened.push(checked);
    }));
    const authenticated: Authenticated[] = [];
    const signed = verifyOperatorSignatures(opened.map((o) => signatureToVerify(o, reqHash)), domain, client.rng);
    opened.forEach((o, i) => {
      const checked = signed[i] ? afterSignature(o, version) : { fault: fault(o, 'bad-signature', `sent an answer whose signature does not verify under its on-chain ${o.record.sigKeyType} signing key`) };
      if ('fault' in checked) faults.push(checked.fault);
      else authenticated.push(checked);
    });

    // 5. One version.
    const chosen = await chooseVersion(ledger, authenticated, target, version, faults);
    const ordered = orderLike(target.holders, authenticated.filter((a) => a.answer.version === chosen.record.id));

    // 6. Verify and combine.
    const key = chosen.record.id === target.id ? await prefetched : await loadVersionKey(client, ledger, chosen.record.id);
    client.warn(key.poly.faults, action);
    const holders = new Set(chosen.record.holders.map((a) => a.toLowerCase()));
    const candidates: { a: Authenticated; x: bigint }[] = [];
    for (const a of ordered) {
      if (!holders.has(a.operator)) {
        faults.push(fault(a, 'not-holder', `signed with version ${chosen.record.id} but holds no share of it`));
        continue;
      }
      candidates.push({ a, x: operatorX(a.operator) });
    }
    // Every partial and d = Σ λ_j·σ_j over the first t valid ones: e(σ_j, G2) == e(Q(id), PK_j)
    // and e(d, G2) == e(Q(id), MPK), batched. A_0 is the pinned MPK byte for byte (checkPublicPoly).
    const checked = verifyAndCombinePartials(
      key.poly.points,
      key.poly.points[0] as G2,
      appIdentity(appId, app.epoch),
      candidates.map((c) => ({ x: c.x, partial: c.a.answer.partial })),
      client.rng,
    );
    const bad = new Set(checked.bad);
    const partials: ReceivedPartial[] = candidates.map((c, i) => ({
      operator: c.a.operator, x: scalarHex(c.x), partial: bytesToHex(c.a.answer.partial), valid: !bad.has(i),
    }));
    candidates.forEach((c, i) => {
      if (bad.has(i)) faults.push(fault(c.a, 'invalid-partial', 'sent an invalid partial'));
    });
    const valid = candidates.filter((_c, i) => !bad.has(i));
    const t = chosen.record.threshold;
    const sortedFaults = orderFaults(target.holders, faults);
    if (checked.appKey === undefined || checked.appKeyPoint === undefined) {
      throw new NotEnoughPartialsError(appId, chosen.record.id, t, valid.length, sortedFaults);
    }
    const appKey = bytesToHex(checked.appKey);
    checked.appKey.fill(0);
    if (!checked.appKeyValid) throw new AppKeyVerificationError(appId, chosen.record.id);
    client.warn(sortedFaults, action);
    const envs = new Map<Address, ReleaseEnv>();
    for (const c of valid) if (c.a.answer.env) envs.set(c.a.operator, c.a.answer.env);
    return { appId, app, epoch: app.epoch, appKey, appKeyPoint: checked.appKeyPoint, version: chosen.record.id, threshold: t, partials, faults: sortedFaults, envs };
  } finally {
    cancel.abort();
    secretKey.fill(0);
  }
}

function fault(a: { operator: Address; socket: string }, kind: OperatorFault['kind'], reason: string, version?: number): OperatorFault {
  return { operator: a.operator, socket: a.socket, kind, reason, ...(version !== undefined ? { version } : {}) };
}

interface CheckContext {
  readonly appId: Hex;
  /** The app-key epoch read from the registry before sending. */
  readonly epoch: number;
  readonly kind: AnswerKind;
  readonly reqHash: Uint8Array;
  readonly secretKey: Uint8Array;
  /** Its public half: opening with it skips re-deriving it (4.5 – 10× faster per answer). */
  readonly publicKey: Uint8Array;
}

/** Step 4 for one answer up to its signature: the opened answer, or the first check it failed. */
function open(body: unknown, record: OperatorRecord, ctx: CheckContext): Opened | { fault: OperatorFault } {
  const operator = record.address.toLowerCase() as Address;
  const who = { operator, socket: showSocket(record.socket) };
  const no = (kind: OperatorFault['kind'], reason: string) => ({ fault: fault(who, kind, reason) });
  const b = body as { operator?: unknown; version?: unknown; epoch?: unknown; sealed?: unknown } | null;
  if (typeof b !== 'object' || b === null || typeof b.operator !== 'string' || typeof b.version !== 'number' || !isHex(b.sealed)) {
    return no('bad-response', 'sent an answer without operator, version and sealed fields');
  }
  if (!sameAddress(b.operator, operator)) return no('wrong-operator', `answered as ${lc(b.operator).slice(0, 42)}: its socket serves another operator`);
  // The partial is checked against Q(appIdentity(appId, epoch)) of the registry's epoch anyway;
  // an answer that says it used another epoch is named for what it is (not "invalid").
  if (typeof b.epoch === 'number' && b.epoch !== ctx.epoch) {
    return no('other-epoch', `answered for app-key epoch ${b.epoch}, while the registry said ${ctx.epoch} (the app key was rotated meanwhile?)`);
  }
  let answer: KeyReleaseAnswer;
  try {
    answer = openAnswer(ctx.secretKey, ctx.reqHash, new Uint8Array(Buffer.from(b.sealed.slice(2), 'hex')), ctx.publicKey);
  } catch (e) {
    if (e instanceof KeyReleaseFormatError && e.code === 'bad-answer') return no('bad-response', `sealed an answer that does not parse (${e.message})`);
    if (e instanceof KeyReleaseFormatError) return no('bad-seal', 'sent a sealed answer that does not open with this request\'s response key');
    throw e;
  }
  if (answer.kind !== ctx.kind) return no('wrong-request', `sealed a ${answer.kind} answer to a ${ctx.kind} request`);
  if (bytesToHex(answer.appId) !== ctx.appId) return no('wrong-request', 'sealed an answer for another app');
  if (bytesToHex(answer.operator) !== operator) return no('wrong-operator', `sealed an answer signed as ${bytesToHex(answer.operator)}`);
  // A receipt-signed answer (format 0x02) vouches for its partial only through the receipt.
  const mismatch = receiptMismatch(answer, ctx.reqHash, ctx.publicKey);
  if (mismatch !== null) return no('bad-response', `sent a release receipt that does not describe its answer (${mismatch})`);
  return { operator, socket: who.socket, answer, record, label: b.version };
}

/**
 * What an answer's operator signature covers: its receipt (format 0x02, checked against the
 * answer in `open`) or `partialPayload(answer, requestHash)`, under the operator's on-chain
 * key (as `verifyAnswerSignature`). A payload that cannot be built or a
 * malformed on-chain key is unverifiable, so not signed (an empty payload never verifies).
 */
function signatureToVerify(o: Opened, reqHash: Uint8Array): OperatorSignatureToVerify {
  let payload: Uint8Array;
  let publicKey: Uint8Array;
  try {
    payload = answerSignedPayload(o.answer, reqHash);
    publicKey = new Uint8Array(Buffer.from(o.record.sigPublicKey.slice(2), 'hex'));
  } catch {
    return { type: o.record.sigKeyType, publicKey: new Uint8Array(0), payload: new Uint8Array(0), signature: o.answer.signature };
  }
  return { type: o.record.sigKeyType, publicKey, payload, signature: o.answer.signature };
}

/** Step 4 after a valid signature: the version checks. */
function afterSignature(o: Opened, version: number | undefined): Authenticated | { fault: OperatorFault } {
  const { answer } = o;
  if (o.label !== answer.version) return { fault: fault(o, 'bad-response', `labelled its answer version ${o.label} but signed version ${answer.version}`) };
  if (version !== undefined && answer.version !== version) {
    return { fault: fault(o, 'wrong-version', `used key version ${answer.version}, not the requested ${version}`, answer.version) };
  }
  return { operator: o.operator, socket: o.socket, answer };
}

/**
 * Step 5: the requested version, else the one most authenticated answers used that exists
 * on-chain (ties: the newer). Answers of every other version become `other-version` faults.
 */
async function chooseVersion(
  ledger: LedgerReader,
  answers: readonly Authenticated[],
  target: VersionRecord,
  requested: number | undefined,
  faults: OperatorFault[],
): Promise<{ record: VersionRecord }> {
  let record: VersionRecord = target;
  if (requested === undefined && answers.length > 0) {
    const counts = new Map<number, number>();
    for (const a of answers) counts.set(a.answer.version, (counts.get(a.answer.version) ?? 0) + 1);
    const ranked = [...counts.entries()].sort((x, y) => y[1] - x[1] || y[0] - x[0]);
    for (const [v] of ranked) {
      const r = v === target.id ? target : await ledger.getVersion(v);
      if (r !== null) {
        record = r;
        break;
      }
      for (const a of answers) {
        if (a.answer.version === v) faults.push(fault(a, 'wrong-version', `signed with key version ${v}, which does not exist on-chain`, v));
      }
    }
  }
  for (const a of answers) {
    const v = a.answer.version;
    if (v !== record.id && !faults.some((f) => f.operator === a.operator)) {
      faults.push(fault(a, 'other-version', `answered with key version ${v} while the others used ${record.id}`, v));
    }
  }
  return { record };
}

/** Answers in the order of `holders` (the on-chain order): results do not depend on network timing. */
function orderLike<T extends { operator: Address }>(holders: readonly Address[], items: readonly T[]): T[] {
  const rank = new Map(holders.map((h, i) => [h.toLowerCase(), i]));
  return [...items].sort((a, b) => (rank.get(a.operator) ?? 1e9) - (rank.get(b.operator) ?? 1e9));
}

function orderFaults(holders: readonly Address[], faults: readonly OperatorFault[]): OperatorFault[] {
  return orderLike(holders, faults);
}
