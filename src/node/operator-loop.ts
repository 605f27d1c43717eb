/**
 * @module
 * One operator's work, one tick at a time (SPEC 4). Each tick reads the ledger at one point
 * in chain time and:
 *
 * 1. binds the key store to the pinned MPK once there is one;
 * 2. at a new interval boundary, opens the session if nobody has (refusals such as
 *    `PreviousSessionOpen` or `GenesisNotArmed` are normal answers, not errors); the boundary
 *    is then marked processed, so it is handled once;
 * 3. for every session this node has unfinished business in (the latest one, and any older
 *    one whose outcome it has not yet seen), feeds the round machines through `stepRound`,
 *    then — in this order — persists the new round state together with any key material it
 *    produced (pending version, next session key) in one transaction, and only then submits
 *    the outbox. A failed persist submits nothing (the next tick retries from the old state);
 *    a failed submit is retried by the next tick, because `stepRound` resends whatever the
 *    ledger does not show yet;
 * 4. applies the retention rules.
 *
 * Nothing here reads a wall clock or talks to a peer: the only inputs are the ledger, the key
 * store and the rng handed in. `kms-server` calls `tick()` every 500 ms; the simulator calls
 * it on virtual time.
 */
import { keccak256 } from 'viem';
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import * as fr from '../crypto/fr.ts';
import type { Rng } from '../crypto/rng.ts';
import { generateSealKeyPair } from '../crypto/seal.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import { LedgerError, type Address, type Hex, type Ledger, type LedgerErrorCode, type LedgerWriter, type Session } from '../protocol/ledger.ts';
import { decodePoly } from '../protocol/round-outcome.ts';
import { initRound, roundFinished, stepRound, type RoundState } from '../protocol/round-driver.ts';
import { boundaryOf, phaseAt } from '../protocol/session-rules.ts';
import type { Outgoing } from '../protocol/transition.ts';
import type { KeyStore, StoredVersion } from './key-store.ts';
import { sessionKeysToDelete, versionsToDelete } from './retention.ts';

export interface LoopLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoopObserver {
  /** A machine changed state ("recipient: acked → confirmed"). */
  transition?(session: number, text: string): void;
  /** A session finished for this node with its recipient/dealer verdicts. */
  roundDone?(session: number, kind: 'dkg' | 'reshare', status: string): void;
  submitted?(session: number, kind: Outgoing['kind']): void;
}

export interface OperatorLoopOptions {
  readonly ledger: Ledger;
  /** The writer for this operator's transaction account. */
  readonly writer: LedgerWriter;
  readonly store: KeyStore;
  readonly me: Address;
  readonly domain: Uint8Array;
  /** `--threshold-override N` (SPEC 6), or null. */
  readonly consentThreshold: number | null;
  /** Fresh randomness for one session's machines (system rng in production, seeded in the simulator). */
  readonly rngFor: (session: number, purpose: string) => Rng;
  readonly log: LoopLogger;
  readonly observer?: LoopObserver;
}

export interface TickReport {
  readonly chainTime: number;
  readonly boundary: number;
  readonly opened: number | null;
  readonly sessions: readonly { readonly id: number; readonly kind: 'dkg' | 'reshare'; readonly phase: string; readonly dealer?: string; readonly recipient?: string }[];
}

/** Errors that mean "the ledger says not now", never a fault of this node. */
const NOT_NOW: ReadonlySet<LedgerErrorCode> = new Set(['BoundaryNotReached', 'PreviousSessionOpen', 'GenesisNotArmed', 'NotEnoughOperators', 'ThresholdOutOfBounds', 'NotRegistered']);
/** Submission refusals that mean the ledger already has it or the window moved on. */
const STALE_SUBMIT: ReadonlySet<LedgerErrorCode> = new Set(['AlreadySubmitted', 'WrongPhase']);

const META_BOUNDARY = 'lastProcessedBoundary';
const META_OPEN = 'openRounds';

export class OperatorLoop {
  readonly #o: OperatorLoopOptions;
  readonly #polyCache = new Map<Hex, readonly G2[]>();
  #lastNotNow = '';

  constructor(options: OperatorLoopOptions) {
    this.#o = options;
  }

  get lastProcessedBoundary(): number {
    return Number(this.#o.store.getMeta(META_BOUNDARY) ?? '-1');
  }

  async tick(): Promise<TickReport> {
    const { ledger, store } = this.#o;
    const chainTime = await ledger.now();
    const gov = await ledger.getGovernance();
    const mpkHex = await ledger.getMpk();
    if (mpkHex !== null && store.mpk() !== mpkHex) store.bindMpk(mpkHex);

    const boundary = boundaryOf(chainTime, gov.interval);
    let opened: number | null = null;
    if (boundary > this.lastProcessedBoundary) opened = await this.#maybeOpen(boundary);

    const latestId = await ledger.latestSessionId();
    const ids = new Set(this.#openRounds());
    if (latestId > 0) ids.add(latestId);
    const sessions: TickReport['sessions'][number][] = [];
    for (const id of [...ids].sort((a, b) => a - b)) {
      const report = await this.#stepSession(id, chainTime, mpkHex);
      if (report) sessions.push(report);
    }
    await this.#retention(latestId);
    return { chainTime, boundary, opened, sessions };
  }

  async #maybeOpen(boundary: number): Promise<number | null> {
    const { writer, store, log } = this.#o;
    try {
      const id = await writer.openSession();
      store.setMeta(META_BOUNDARY, String(boundary));
      log.info({ session: id, boundary }, 'opened session');
      return id;
    } catch (e) {
      if (e instanceof LedgerError && NOT_NOW.has(e.code)) {
        // A definitive answer for this boundary: someone else opened it, or governance says not yet.
        if (e.code === 'PreviousSessionOpen' || e.code === 'BoundaryNotReached') store.setMeta(META_BOUNDARY, String(boundary));
        const key = `${boundary}:${e.code}`;
        if (key !== this.#lastNotNow) log.info({ boundary, reason: e.code }, `no session opened: ${e.message}`);
        this.#lastNotNow = key;
        return null;
      }
      log.warn({ boundary, err: errText(e) }, 'openSession failed; retrying next tick');
      return null;
    }
  }

  #openRounds(): number[] {
    const raw = this.#o.store.getMeta(META_OPEN);
    return raw ? (JSON.parse(raw) as number[]) : [];
  }

  async #stepSession(id: number, chainTime: number, mpkHex: Hex | null): Promise<TickReport['sessions'][number] | null> {
    const { ledger, store, me, log } = this.#o;
    const session = await ledger.getSession(id);
    if (!session) return null;
    let state = store.getRoundState(id) as RoundState | null;
    if (state === null) {
      const fresh = initRound(session, me, this.#o.consentThreshold);
      if (!fresh.dealer && !fresh.recipient) return { id, kind: session.snapshot.kind, phase: phaseAt(session, chainTime) };
      if (fresh.recipient?.status === 'declined') log.warn({ session: id, reason: fresh.recipient.reason }, 'declining session (threshold consent)');
      state = fresh;
      store.transaction(() => {
        store.putRoundState(id, state);
        store.setMeta(META_OPEN, JSON.stringify([...new Set([...this.#openRounds(), id])]));
      });
    }
    const phase = phaseAt(session, chainTime);
    if (roundFinished(state)) {
      this.#closeRound(id);
      return summarize(id, session.snapshot.kind, phase, state);
    }
    const submissions = await ledger.getSubmissions(id);
    const snapshot = session.snapshot;
    const sourcePoly = snapshot.kind === 'reshare' ? await this.#sourcePoly(session) : null;
    const mpk = mpkHex ? bls.g2.decode(mustHex(mpkHex, 'mpk')) : null;
    const j = snapshot.recipients.indexOf(me);
    const sessionKey = j >= 0 ? store.getSessionKey(snapshot.recipientKeys[j] as Hex) : null;
    const source = snapshot.kind === 'reshare' ? store.getVersion(snapshot.sourceVersion) : null;
    const sourceShare = source && source.publicPolyHash === snapshot.sourcePolyHash ? source.share : null;

    const step = stepRound(
      state,
      { session, submissions, now: chainTime, sourcePoly, mpk },
      { sourceShare, sessionSecret: sessionKey?.secretKey ?? null },
      { rng: this.#o.rngFor(id, 'round'), domain: this.#o.domain, me, consentThreshold: this.#o.consentThreshold },
    );
    for (const t of step.transitions) {
      log.info({ session: id, phase }, t);
      this.#o.observer?.transition?.(id, t);
    }
    if (step.transitions.length > 0) {
      const activated = step.state.recipient?.status === 'active' && state.recipient?.status !== 'active';
      const completedAt = activated ? (await ledger.getVersion(id))?.completedAt ?? chainTime : chainTime;
      this.#persist(session, state, step.state, chainTime, completedAt);
    }
    await this.#submit(id, step.outbox);
    if (roundFinished(step.state)) {
      this.#closeRound(id);
      this.#o.observer?.roundDone?.(id, snapshot.kind, step.state.recipient?.status ?? step.state.dealer?.status ?? 'none');
    }
    return summarize(id, snapshot.kind, phase, step.state);
  }

  /** Transition → persist: the round state and any key material it produced, atomically. */
  #persist(session: Session, before: RoundState, after: RoundState, chainTime: number, completedAt: number): void {
    const { store } = this.#o;
    const s = session.snapshot;
    const r = after.recipient;
    const was = before.recipient?.status;
    store.transaction(() => {
      store.putRoundState(s.id, after);
      if (r && r.status === 'confirmed' && was !== 'confirmed' && r.share && r.publicPoly && r.publicPolyHash && r.nextSessionKey) {
        store.putVersion({
          id: s.id, status: 'pending', share: fr.fromBytes(mustHex(r.share, 'share')), publicPoly: r.publicPoly,
          publicPolyHash: r.publicPolyHash, threshold: s.tNew, holders: [...s.recipients], confirmedAt: chainTime, activatedAt: null,
        });
        store.putSessionKey({ publicKey: r.nextSessionKey.public, secretKey: mustHex(r.nextSessionKey.secret, 'session key'), createdAt: chainTime });
      }
      if (r && r.status === 'active' && was !== 'active') {
        for (const v of store.listVersions()) if (v.status === 'active' && v.id !== s.id) store.setVersionStatus(v.id, 'retired');
        store.setVersionStatus(s.id, 'active', completedAt);
      }
      if (r && (r.status === 'discarded' || r.status === 'failed') && store.getVersion(s.id)?.status === 'pending') store.deleteVersion(s.id);
    });
  }

  async #submit(id: number, outbox: readonly Outgoing[]): Promise<void> {
    const { writer, log } = this.#o;
    for (const o of outbox) {
      try {
        if (o.kind === 'deal') await writer.submitDeal(o.body);
        else if (o.kind === 'ack') await writer.submitAck(o.body);
        else await writer.submitConfirmation(o.body);
        log.info({ session: id, kind: o.kind }, `submitted ${o.kind}`);
        this.#o.observer?.submitted?.(id, o.kind);
      } catch (e) {
        if (e instanceof LedgerError && STALE_SUBMIT.has(e.code)) {
          log.debug({ session: id, kind: o.kind, reason: e.code }, 'submission not needed');
          continue;
        }
        log.warn({ session: id, kind: o.kind, err: errText(e) }, `submitting ${o.kind} failed; will resend next tick`);
      }
    }
  }

  #closeRound(id: number): void {
    const open = this.#openRounds();
    if (open.includes(id)) this.#o.store.setMeta(META_OPEN, JSON.stringify(open.filter((x) => x !== id)));
  }

  /** The source version's public polynomial from the ledger, checked against the snapshot's hash. */
  async #sourcePoly(session: Session): Promise<readonly G2[]> {
    const s = session.snapshot;
    const cached = this.#polyCache.get(s.sourcePolyHash);
    if (cached) return cached;
    const v = await this.#o.ledger.getVersion(s.sourceVersion);
    if (!v || keccak256(v.publicPoly) !== s.sourcePolyHash) {
      throw new Error(`session ${s.id}: the ledger's polynomial for version ${s.sourceVersion} does not match the snapshot's hash`);
    }
    const poly = decodePoly(mustHex(v.publicPoly, 'publicPoly'));
    this.#polyCache.set(s.sourcePolyHash, poly);
    return poly;
  }

  async #retention(latestId: number): Promise<void> {
    const { store, ledger, me } = this.#o;
    const versions = store.listVersions();
    if (versions.length > 1) {
      const completedSources = new Set<number>();
      for (const v of versions) {
        const s = await ledger.getSession(v.id);
        if (s && s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') completedSources.add(s.snapshot.sourceVersion);
      }
      for (const id of versionsToDelete(versions, completedSources)) store.deleteVersion(id);
    }
    const rec = await ledger.getOperator(me);
    const inUse = new Set<Hex>();
    const latest = latestId > 0 ? await ledger.getSession(latestId) : null;
    if (latest && latest.progress.outcome === 'pending') for (const k of latest.snapshot.recipientKeys) inUse.add(k);
    for (const k of sessionKeysToDelete(store.listSessionKeys(), rec?.sessionKey ?? null, inUse)) store.deleteSessionKey(k);
  }
}

/**
 * Makes sure the session key the registry lists for this operator is one whose secret this
 * store holds; otherwise publishes a fresh one (after a lost data directory, or when an
 * administrator registered the operator). Returns the key now published.
 */
export async function ensureSessionKey(ledger: Ledger, writer: LedgerWriter, store: KeyStore, me: Address, chainTime: number, rng: Rng): Promise<Hex | null> {
  const rec = await ledger.getOperator(me);
  if (!rec) return null;
  if (store.getSessionKey(rec.sessionKey)) return rec.sessionKey;
  const kp = generateSealKeyPair(rng);
  const publicKey = bytesToHex(kp.publicKey);
  store.putSessionKey({ publicKey, secretKey: kp.secretKey, createdAt: chainTime });
  await writer.rotateSessionKey(publicKey);
  return publicKey;
}

function summarize(id: number, kind: 'dkg' | 'reshare', phase: string, state: RoundState): TickReport['sessions'][number] {
  return {
    id, kind, phase,
    ...(state.dealer ? { dealer: state.dealer.status } : {}),
    ...(state.recipient ? { recipient: state.recipient.status } : {}),
  };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export type { StoredVersion };
