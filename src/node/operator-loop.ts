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
 * 4. applies the retention rules — only while this node has no round in progress, so that
 *    their reads never lengthen a tick on a round's critical path, and only when the latest
 *    session or the stored versions changed since the last time.
 *
 * A session whose last step was a no-op (no transition, nothing to send or resend) is not
 * stepped again, and its submissions are not read again, until its phase or outcome changes:
 * with the same phase and outcome the machines would get the same inputs, and the
 * submissions only grow, so the step would be a no-op again (every 10th tick steps it anyway,
 * in case a reorg dropped a submission of this node). On a busy machine re-reading
 * (and re-decoding) every submission of the session at every block was the largest CPU cost
 * of a node in a round (`npm run bench -- cluster`, profiled).
 *
 * Nothing here decides by a wall clock or talks to a peer: the only inputs are the ledger, the
 * key store and the rng handed in. `kms-server` calls `tick()` every 500 ms; the simulator calls
 * it on virtual time. The wall clock (`clock`) is read for timing telemetry only: every
 * submission reports when its tick began reading the chain, when the machines were stepped,
 * when it was sent and when its receipt arrived (`SubmissionTiming`, on the log line
 * `submitted …` and to the observer), which is what `npm run bench -- cluster` splits a
 * round's critical path with.
 */
import { keccak256 } from 'viem';
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import * as fr from '../crypto/fr.ts';
import type { Rng } from '../crypto/rng.ts';
import { generateSealKeyPair } from '../crypto/seal.ts';
import { decodeSessionKey } from '../protocol/deal-codec.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import { LedgerError, type Address, type Hex, type Ledger, type LedgerErrorCode, type LedgerWriter, type Session } from '../protocol/ledger.ts';
import { decodePoly } from '../protocol/round-outcome.ts';
import { initRound, MissingSessionKeyError, roundFinished, stepRound, type RoundState, type StepResult } from '../protocol/round-driver.ts';
import { boundaryOf, phaseAt } from '../protocol/session-rules.ts';
import type { Outgoing } from '../protocol/transition.ts';
import type { KeyStore, StoredVersion } from './key-store.ts';
import { sessionKeysToDelete, versionsToDelete } from './retention.ts';
import { sessionKeyWarnings } from './session-key-warnings.ts';

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
  submitted?(session: number, kind: Outgoing['kind'], timing: SubmissionTiming): void;
}

/**
 * Where one submission's time went, as wall-clock milliseconds (epoch): telemetry, never a
 * protocol input. `tickAt` → `steppedAt` is reading the chain (and, in a tick that opened the
 * session, opening it), `steppedAt` → `computedAt` the round machines' compute, `computedAt` →
 * `sentAt` the persist (SQLite), `sentAt` → `minedAt` the chain (gas estimate, send, receipt).
 */
export interface SubmissionTiming {
  /** The tick began reading the chain (its first read is the head's time). */
  readonly tickAt: number;
  /** The session's ledger view was read; the machines were stepped from here. */
  readonly steppedAt: number;
  /** The machines returned; the new state was persisted from here. */
  readonly computedAt: number;
  /**
   * CPU time (user + system, ms) the process spent from `steppedAt` to `computedAt`: the
   * machines' own cost; the rest of that wall time was waiting for a core.
   */
  readonly computeCpuMs: number;
  /** The new state was persisted; the submission was handed to the writer. */
  readonly sentAt: number;
  /** The writer returned: the transaction was mined and its receipt read. */
  readonly minedAt: number;
  /** A resend of something an earlier tick produced (the ledger did not show it yet). */
  readonly resend: boolean;
}

/** One submission's time by part, in ms: what its log line and `kms_round_step_seconds` report. */
export interface SubmissionParts {
  readonly read: number;
  readonly compute: number;
  /** CPU time of `compute` (the rest of it was waiting for a core). */
  readonly compute_cpu: number;
  readonly persist: number;
  readonly chain: number;
}

export function submissionParts(t: SubmissionTiming): SubmissionParts {
  return {
    read: t.steppedAt - t.tickAt, compute: t.computedAt - t.steppedAt, compute_cpu: t.computeCpuMs,
    persist: t.sentAt - t.computedAt, chain: t.minedAt - t.sentAt,
  };
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
  /** Wall clock in ms for timing telemetry only (default `Date.now`). */
  readonly clock?: () => number;
  /** Process CPU time in ms for timing telemetry only (default from `process.cpuUsage()`). */
  readonly cpuClock?: () => number;
}

export interface TickReport {
  readonly chainTime: number;
  readonly boundary: number;
  readonly opened: number | null;
  /** Something failed that only a later tick retries (a submission, opening the session). */
  readonly retry: boolean;
  readonly sessions: readonly { readonly id: number; readonly kind: 'dkg' | 'reshare'; readonly phase: string; readonly dealer?: string; readonly recipient?: string }[];
}

/** Errors that mean "the ledger says not now", never a fault of this node. */
const NOT_NOW: ReadonlySet<LedgerErrorCode> = new Set(['BoundaryNotReached', 'PreviousSessionOpen', 'GenesisNotArmed', 'NotEnoughOperators', 'ThresholdOutOfBounds', 'NotRegistered']);
/** Submission refusals that mean the ledger already has it or the window moved on. */
const STALE_SUBMIT: ReadonlySet<LedgerErrorCode> = new Set(['AlreadySubmitted', 'WrongPhase']);

/**
 * A settled session is still stepped every this many ticks: if a reorg dropped this node's
 * submission from the chain, the step resends it within the phase.
 */
const SETTLED_RECHECK_TICKS = 10;

const META_BOUNDARY = 'lastProcessedBoundary';
const META_OPEN = 'openRounds';

export class OperatorLoop {
  readonly #o: OperatorLoopOptions;
  readonly #polyCache = new Map<Hex, readonly G2[]>();
  #lastNotNow = '';
  /** `session|phase` of the last missing-session-key warning (said once per phase). */
  #missingKey = '';
  /**
   * Per session in progress: the `phase|outcome` at which its last step was a no-op, and how
   * many ticks have skipped it since (every `SETTLED_RECHECK_TICKS`th tick steps it anyway).
   */
  readonly #settled = new Map<number, { readonly key: string; skips: number }>();
  /** Sessions in which this node has no role (not persisted: nothing to resume). */
  readonly #noRole = new Set<number>();
  /** What the last retention run saw (latest session, its phase, the stored versions). */
  #retentionKey = '';
  #idleTicks = 0;
  #mpk: { readonly hex: Hex; readonly point: G2 } | null = null;
  /** Set when a submission or an open failed in the current tick (reported as `retry`). */
  #retry = false;

  constructor(options: OperatorLoopOptions) {
    this.#o = options;
  }

  get lastProcessedBoundary(): number {
    return Number(this.#o.store.getMeta(META_BOUNDARY) ?? '-1');
  }

  /** One pass over the ledger (see the module comment); its reads see one block where the ledger can pin. */
  tick(): Promise<TickReport> {
    const { ledger } = this.#o;
    return ledger.readsAtOneBlock ? ledger.readsAtOneBlock(() => this.#tick()) : this.#tick();
  }

  async #tick(): Promise<TickReport> {
    const { ledger, store } = this.#o;
    const tickAt = this.#now();
    this.#retry = false;
    // The head's time is the tick's chain time; every later read sees that block (a ledger
    // that pins a tick's reads) or a later one. Reads that do not depend on each other run in
    // parallel: a tick's chain reads are its largest cost on a busy machine.
    const chainTime = await ledger.now();
    // Once pinned the MPK never changes (SPEC 1.2), and the store is bound to it.
    const bound = store.mpk();
    const [gov, mpkHex, latestBefore] = await Promise.all([ledger.getGovernance(), bound ?? ledger.getMpk(), ledger.latestSessionId()]);
    if (mpkHex !== null && store.mpk() !== mpkHex) store.bindMpk(mpkHex);

    const boundary = boundaryOf(chainTime, gov.interval);
    let opened: number | null = null;
    let latestId = latestBefore;
    if (boundary > this.lastProcessedBoundary) {
      opened = await this.#maybeOpen(boundary);
      // Opened by this node or, just before, by another: step the new session in this tick.
      latestId = await ledger.latestSessionId();
    }
    const ids = new Set(this.#openRounds());
    if (latestId > 0) ids.add(latestId);
    const sessions: TickReport['sessions'][number][] = [];
    for (const id of [...ids].sort((a, b) => a - b)) {
      const report = await this.#stepSession(id, chainTime, mpkHex, tickAt);
      if (report) sessions.push(report);
    }
    if (this.#openRounds().length === 0) {
      const latest = sessions.find((x) => x.id === latestId);
      const key = `${latestId}|${latest?.phase ?? ''}|${store.listVersions().map((v) => `${v.id}:${v.status}`).join(',')}`;
      // A fallback run every 120 idle ticks catches what the key does not show (a key rotation).
      if (key !== this.#retentionKey || ++this.#idleTicks >= 120) {
        await this.#retention(latestId);
        this.#retentionKey = key;
        this.#idleTicks = 0;
      }
    }
    return { chainTime, boundary, opened, retry: this.#retry, sessions };
  }

  async #maybeOpen(boundary: number): Promise<number | null> {
    const { writer, store, log } = this.#o;
    const sentAt = this.#now();
    try {
      const id = await writer.openSession();
      store.setMeta(META_BOUNDARY, String(boundary));
      log.info({ session: id, boundary, sentAt, minedAt: this.#now() }, 'opened session');
      return id;
    } catch (e) {
      if (e instanceof LedgerError && NOT_NOW.has(e.code)) {
        // Definitive for this boundary only when its session exists (someone else opened it):
        // a session of an earlier boundary still running means "later", not "never" — the
        // session of this boundary opens (late) once that one has closed.
        if (e.code === 'BoundaryNotReached' || (e.code === 'PreviousSessionOpen' && (await this.#latestBoundary()) >= boundary)) {
          store.setMeta(META_BOUNDARY, String(boundary));
        }
        const key = `${boundary}:${e.code}`;
        if (key !== this.#lastNotNow) log.info({ boundary, reason: e.code }, `no session opened: ${e.message}`);
        this.#lastNotNow = key;
        return null;
      }
      log.warn({ boundary, err: errText(e) }, 'openSession failed; retrying next tick');
      this.#retry = true;
      return null;
    }
  }

  /** The boundary of the latest session (-1: none, or the read failed — which retries). */
  async #latestBoundary(): Promise<number> {
    try {
      const id = await this.#o.ledger.latestSessionId();
      return id > 0 ? (await this.#o.ledger.getSession(id))?.snapshot.boundary ?? -1 : -1;
    } catch {
      return -1;
    }
  }

  #openRounds(): number[] {
    const raw = this.#o.store.getMeta(META_OPEN);
    return raw ? (JSON.parse(raw) as number[]) : [];
  }

  #now(): number {
    return (this.#o.clock ?? Date.now)();
  }

  #cpu(): number {
    if (this.#o.cpuClock) return this.#o.cpuClock();
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }

  async #stepSession(id: number, chainTime: number, mpkHex: Hex | null, tickAt: number): Promise<TickReport['sessions'][number] | null> {
    const { ledger, store, me, log } = this.#o;
    let state = store.getRoundState(id) as RoundState | null;
    // A round in progress (or about to start here) needs the session and its submissions:
    // read both at once, unless the round is settled (see the module comment) or this node
    // has no role in it. The submissions must include everything the session's progress
    // counts (they would, read after it); a view older than that, or a failed read, is read
    // again.
    const settled = this.#settled.get(id);
    const wanted = state === null ? !this.#noRole.has(id) : !roundFinished(state) && (settled === undefined || settled.skips + 1 >= SETTLED_RECHECK_TICKS);
    const [session, early] = await Promise.all([ledger.getSession(id), wanted ? ledger.getSubmissions(id).catch(() => null) : null]);
    if (!session) return null;
    if (state === null) {
      const fresh = initRound(session, me, this.#o.consentThreshold);
      if (!fresh.dealer && !fresh.recipient) {
        this.#noRole.add(id);
        if (this.#noRole.size > 8) this.#noRole.delete(Math.min(...this.#noRole));
        return { id, kind: session.snapshot.kind, phase: phaseAt(session, chainTime) };
      }
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
    const settleKey = `${phase}|${session.progress.outcome}`;
    if (settled?.key === settleKey && ++settled.skips < SETTLED_RECHECK_TICKS) return summarize(id, session.snapshot.kind, phase, state);
    const submissions = early !== null && early.length >= session.progress.counter ? early : await ledger.getSubmissions(id);
    const snapshot = session.snapshot;
    const sourcePoly = snapshot.kind === 'reshare' ? await this.#sourcePoly(session) : null;
    const mpk = this.#decodedMpk(mpkHex);
    const j = snapshot.recipients.indexOf(me);
    // A listed key that is not a point has no secret (and the store refuses to look it up).
    const sessionKey = j >= 0 && decodeSessionKey(snapshot.recipientKeys[j] as Hex) !== null ? store.getSessionKey(snapshot.recipientKeys[j] as Hex) : null;
    const source = snapshot.kind === 'reshare' ? store.getVersion(snapshot.sourceVersion) : null;
    const sourceShare = source && source.publicPolyHash === snapshot.sourcePolyHash ? source.share : null;

    const steppedAt = this.#now();
    const cpuAt = this.#cpu();
    let step: StepResult;
    try {
      step = stepRound(
        state,
        { session, submissions, now: chainTime, sourcePoly, mpk },
        { sourceShare, sessionSecret: sessionKey?.secretKey ?? null },
        { rng: this.#o.rngFor(id, 'round'), domain: this.#o.domain, me, consentThreshold: this.#o.consentThreshold },
      );
    } catch (e) {
      if (!(e instanceof MissingSessionKeyError)) throw e;
      // This node's key store lacks the session key the snapshot lists for it (its data
      // directory was lost or replaced after it published the key): it cannot open its deals,
      // so it sits this session out — its state fails when the confirm window closes — and
      // takes part again from the next one. Said once per phase, not at every tick; the
      // other sessions of this tick are still stepped.
      const key = `${id}|${phase}`;
      if (this.#missingKey !== key) log.warn({ session: id, phase }, `${e.message}; this node sits the session out and rejoins at the next one`);
      this.#missingKey = key;
      return summarize(id, session.snapshot.kind, phase, state);
    }
    const computedAt = this.#now();
    const computeCpuMs = Math.round((this.#cpu() - cpuAt) * 10) / 10;
    for (const t of step.transitions) {
      log.info({ session: id, phase }, t);
      this.#o.observer?.transition?.(id, t);
    }
    for (const w of sessionKeyWarnings(id, snapshot.recipients, snapshot.recipientKeys, state, step.state)) log.warn({ ...w.fields, phase }, w.msg);
    if (step.transitions.length > 0) {
      const activated = step.state.recipient?.status === 'active' && state.recipient?.status !== 'active';
      const completedAt = activated ? (await ledger.getVersion(id))?.completedAt ?? chainTime : chainTime;
      this.#persist(session, state, step.state, chainTime, completedAt);
    }
    await this.#submit(id, step.outbox, { tickAt, steppedAt, computedAt, computeCpuMs, resend: step.transitions.length === 0 });
    if (step.transitions.length === 0 && step.outbox.length === 0) this.#settled.set(id, { key: settleKey, skips: 0 });
    else this.#settled.delete(id);
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
    // One step may take a recipient through `confirmed` to `active` (a late node whose
    // session a quorum of others completed meanwhile): it keeps the version all the same.
    const holds = (status: string | undefined) => status === 'confirmed' || status === 'active';
    store.transaction(() => {
      store.putRoundState(s.id, after);
      if (r && holds(r.status) && !holds(was) && r.share && r.publicPoly && r.publicPolyHash && r.nextSessionKey) {
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

  async #submit(id: number, outbox: readonly Outgoing[], t: Omit<SubmissionTiming, 'sentAt' | 'minedAt'>): Promise<void> {
    const { writer, log } = this.#o;
    for (const o of outbox) {
      const sentAt = this.#now();
      try {
        if (o.kind === 'deal') await writer.submitDeal(o.body);
        else if (o.kind === 'ack') await writer.submitAck(o.body);
        else await writer.submitConfirmation(o.body);
        const timing: SubmissionTiming = { ...t, sentAt, minedAt: this.#now() };
        const parts = submissionParts(timing);
        log.info({
          session: id, kind: o.kind, ...timing,
          readMs: parts.read, computeMs: parts.compute, persistMs: parts.persist, chainMs: parts.chain,
        }, `submitted ${o.kind}`);
        this.#o.observer?.submitted?.(id, o.kind, timing);
      } catch (e) {
        if (e instanceof LedgerError && STALE_SUBMIT.has(e.code)) {
          log.debug({ session: id, kind: o.kind, reason: e.code }, 'submission not needed');
          continue;
        }
        log.warn({ session: id, kind: o.kind, err: errText(e) }, `submitting ${o.kind} failed; will resend next tick`);
        this.#retry = true;
      }
    }
  }

  /** The pinned MPK as a point (decoded once: a G2 decode checks the subgroup). */
  #decodedMpk(hex: Hex | null): G2 | null {
    if (hex === null) return null;
    if (this.#mpk?.hex !== hex) this.#mpk = { hex, point: bls.g2.decode(mustHex(hex, 'mpk')) };
    return this.#mpk.point;
  }

  #closeRound(id: number): void {
    this.#settled.delete(id);
    const open = this.#openRounds();
    if (open.includes(id)) this.#o.store.setMeta(META_OPEN, JSON.stringify(open.filter((x) => x !== id)));
  }

  /**
   * The source version's public polynomial, checked against the snapshot's hash: from the key
   * store when this node holds that version (no chain read), else from the ledger.
   */
  async #sourcePoly(session: Session): Promise<readonly G2[]> {
    const s = session.snapshot;
    const cached = this.#polyCache.get(s.sourcePolyHash);
    if (cached) return cached;
    const held = this.#o.store.getVersion(s.sourceVersion);
    const v = held && keccak256(held.publicPoly) === s.sourcePolyHash ? held : await this.#o.ledger.getVersion(s.sourceVersion);
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
 * store holds; otherwise publishes a fresh one (after a lost data directory, when an
 * administrator registered the operator, or when the registered key is not a valid point,
 * which no dealer can seal to). Returns the key now published.
 */
export async function ensureSessionKey(ledger: Ledger, writer: LedgerWriter, store: KeyStore, me: Address, chainTime: number, rng: Rng): Promise<Hex | null> {
  const rec = await ledger.getOperator(me);
  if (!rec) return null;
  if (decodeSessionKey(rec.sessionKey) !== null && store.getSessionKey(rec.sessionKey)) return rec.sessionKey;
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
