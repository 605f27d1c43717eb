/**
 * @module
 * One operator's work, one tick at a time (SPEC 4). **Act on the latest block, commit on
 * finality** (SPEC 4, v3): a tick reads the latest block (one block hash for the whole tick
 * where the ledger can pin) and acts on it — opening a session, dealing, acking, confirming,
 * making a completed version servable — because the contract checks every submission at
 * inclusion. Only irreversible local steps wait until the ledger's final view shows the facts
 * that justify them: retiring a version, deleting a share or a session secret, forgetting a
 * round, binding the store to the MPK.
 *
 * Each tick:
 *
 * 1. at a new interval boundary — the latest session on-chain belongs to an earlier one —
 *    tries to open the session (refusals such as `PreviousSessionOpen` or `GenesisNotArmed`
 *    are normal answers, said once per boundary and reason). Whether a boundary was handled is
 *    read from the chain every tick, never remembered: a reorg that drops the session's opening
 *    makes the node open it again (`lastProcessedBoundary` is the latest session's boundary as
 *    the latest block shows it);
 * 2. steps every round it has business in — the latest session, and every older one whose
 *    outcome is not yet final — through `stepRound`, then, in this order, persists the new
 *    round state together with the key material the step produced (a pending version, the
 *    next session key) in one transaction, and only then submits the outbox. A failed persist
 *    submits nothing (the next tick retries from the old state); a failed or dropped submission
 *    is sent again by a later tick, because `stepRound` resends whatever the latest block does
 *    not show while its window is open. A round's state belongs to (session id, snapshot hash):
 *    when a reorg reopens the id with another snapshot, the old round is abandoned and a fresh
 *    one starts;
 * 3. between rounds, settles what has become final (`#settleFinal`) and applies retention on
 *    the final view (`#retention`).
 *
 * Versions: a confirmation stores the new share as `pending`; the session's completion at the
 * latest block makes it `active` (servable: `activeVersion()` is the newest active one); a
 * reorg that takes the completion back makes it `pending` again, while the previous version —
 * still `active`, because retiring waits for finality — keeps being served. Once the
 * completion is final the older active versions are retired; once a discard or failure is
 * final the pending share is deleted. Round states never hold a share or a session secret
 * (`produced` travels beside the state), and a round's state is deleted once its outcome is
 * final and a newer session exists.
 *
 * Caches. A session whose last step was a no-op is not stepped again, and its submissions are
 * not read again, until its phase or outcome changes (every 10th tick steps it anyway): on a
 * busy machine re-reading every submission at every block was a node's largest cost in a
 * round (`npm run bench -- cluster`). When the ledger reports a reorg (`reorgs` grew), every
 * cache is dropped and every open round is stepped at once, so a submission a reorg dropped is
 * sent again within the same block.
 *
 * Nothing here decides by a wall clock or talks to a peer: the only inputs are the ledger, the
 * key store and the rng handed in. `kms-server` calls `tick()` on every new block (and every
 * 500 ms while something waits for a retry); the simulator calls it on virtual time. The wall
 * clock (`clock`) is read for timing telemetry only: every submission reports when its tick
 * began reading the chain, when the machines were stepped, when it was sent and when its
 * receipt arrived (`SubmissionTiming`, on the log line `submitted …` and to the observer),
 * which is what `npm run bench -- cluster` splits a round's critical path with.
 */
import { keccak256 } from 'viem';
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import type { Rng } from '../crypto/rng.ts';
import { generateSealKeyPair } from '../crypto/seal.ts';
import { decodeSessionKey } from '../protocol/deal-codec.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import { LedgerError, ZERO_HASH, type Address, type Hex, type Ledger, type LedgerErrorCode, type LedgerWriter, type Session } from '../protocol/ledger.ts';
import { decodePoly } from '../protocol/round-outcome.ts';
import { initRound, MissingSessionKeyError, roundFinished, stepRound, type RoundState, type StepResult } from '../protocol/round-driver.ts';
import { protocolStatus, sessionProtocolRefusal, SPOKEN_PROTOCOL, type ProtocolStatus, type SpokenProtocol } from '../protocol/protocol-version.ts';
import { encodeRoundState, isLegacyRoundState, parseRoundState } from '../protocol/round-state-codec.ts';
import { boundaryOf, phaseAt } from '../protocol/session-rules.ts';
import type { Outgoing } from '../protocol/transition.ts';
import { versionsAfterStep, versionsOnAbandon, versionsOnFinalOutcome, versionsOnRetention, type VersionPlan } from '../protocol/version-lifecycle.ts';
import type { KeyStore, StoredVersion } from './key-store.ts';
import { sessionKeysToDelete } from './retention.ts';
import { applyVersionPlan } from './version-plan.ts';
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
  /** The protocol versions this node speaks (default: this build's, `SPOKEN_PROTOCOL`; tests model older or newer builds). */
  readonly protocol?: SpokenProtocol;
  /**
   * The head of this node's receipt log (receipt-log.ts), read when a confirmation is sent:
   * every confirmation commits it on-chain (issue 16, item 4). Absent: the zero head.
   */
  readonly receiptHead?: () => Hex;
}

/** This node against the chain's protocol version, as `/status` reports it. */
export interface LoopProtocolView extends ProtocolStatus {
  /** The latest session, when this node sits it out because it does not speak its version. */
  readonly refusedSession: { readonly id: number; readonly required: number; readonly message: string } | null;
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
const NOT_NOW: ReadonlySet<LedgerErrorCode> = new Set(['BoundaryNotReached', 'PreviousSessionOpen', 'GenesisNotArmed', 'NotEnoughOperators', 'NotRegistered']);
/** Submission refusals that mean the ledger already has it or the window moved on. */
const STALE_SUBMIT: ReadonlySet<LedgerErrorCode> = new Set(['AlreadySubmitted', 'WrongPhase']);

/**
 * A settled session is still stepped every this many ticks (a belt to the reorg detector's
 * braces: a ledger that cannot report reorgs still gets a dropped submission resent).
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
  /** `id|snapshotHash` of sessions in which this node has no role (not persisted: nothing to resume). */
  readonly #noRole = new Set<string>();
  /** `id|snapshotHash|status` already reported to the observer as done. */
  readonly #reported = new Set<string>();
  /** What the last finality pass saw; it runs again when this changes. */
  #finalKey = '';
  #idleTicks = 0;
  /** The ledger's reorg count at the last tick. */
  #reorgs = 0;
  #mpk: { readonly hex: Hex; readonly point: G2 } | null = null;
  /** Set when a submission or an open failed in the current tick (reported as `retry`). */
  #retry = false;
  /** Governance's protocol version against this node's, from the latest tick (null before the first). */
  #protocol: ProtocolStatus | null = null;
  /** The last session sat out for its protocol version (said once per session). */
  #refused: { readonly id: number; readonly required: number; readonly message: string } | null = null;
  #latestId = 0;

  constructor(options: OperatorLoopOptions) {
    this.#o = options;
  }

  /** The boundary of the latest session the latest block shows (-1 before the first). */
  get lastProcessedBoundary(): number {
    return Number(this.#o.store.getMeta(META_BOUNDARY) ?? '-1');
  }

  /** This node's protocol versions against the chain's, and the latest session it sits out for that (null before the first tick). */
  get protocol(): LoopProtocolView | null {
    if (this.#protocol === null) return null;
    return { ...this.#protocol, refusedSession: this.#refused !== null && this.#refused.id === this.#latestId ? this.#refused : null };
  }

  /** One pass over the ledger (see the module comment); its reads see one block where the ledger can pin. */
  tick(): Promise<TickReport> {
    const { ledger } = this.#o;
    return ledger.readsAtOneBlock ? ledger.readsAtOneBlock(() => this.#tick()) : this.#tick();
  }

  async #tick(): Promise<TickReport> {
    const { ledger, store, log } = this.#o;
    const tickAt = this.#now();
    this.#retry = false;
    // The head's time is the tick's chain time; every later read sees that block (a ledger
    // that pins a tick's reads) or a later one. Reads that do not depend on each other run in
    // parallel: a tick's chain reads are its largest cost on a busy machine.
    const chainTime = await ledger.now();
    const reorgs = ledger.reorgs ?? 0;
    if (reorgs !== this.#reorgs) {
      // The chain this node acted on was replaced: what the caches remember may be gone.
      if (this.#reorgs !== 0 || reorgs > 0) log.warn({ reorgs }, 'the chain reorganised: every open round is stepped again and whatever a dropped block held is resent');
      this.#reorgs = reorgs;
      this.#settled.clear();
      this.#noRole.clear();
      this.#finalKey = '';
    }
    const [gov, mpkHex, latestBefore] = await Promise.all([ledger.getGovernance(), ledger.getMpk(), ledger.latestSessionId()]);
    this.#noteProtocol(protocolStatus(this.#o.protocol ?? SPOKEN_PROTOCOL, gov));

    const boundary = boundaryOf(chainTime, gov.interval);
    let opened: number | null = null;
    let latestId = latestBefore;
    let latest = latestId > 0 ? await ledger.getSession(latestId) : null;
    if (boundary > (latest?.snapshot.boundary ?? -1)) {
      opened = await this.#maybeOpen(boundary);
      // Opened by this node or, just before, by another: step the new session in this tick.
      if (opened !== null || this.#retry) {
        latestId = await ledger.latestSessionId();
        latest = latestId > 0 ? await ledger.getSession(latestId) : null;
      }
    }
    this.#latestId = latestId;
    const handled = String(latest?.snapshot.boundary ?? -1);
    if (store.getMeta(META_BOUNDARY) !== handled) store.setMeta(META_BOUNDARY, handled);

    const ids = new Set(this.#openRounds());
    if (latestId > 0) ids.add(latestId);
    const sessions: TickReport['sessions'][number][] = [];
    let inProgress = false;
    for (const id of [...ids].sort((a, b) => a - b)) {
      const report = await this.#stepSession(id, chainTime, mpkHex, tickAt);
      if (report) {
        sessions.push(report.summary);
        if (!report.finished) inProgress = true;
      }
    }
    // Between rounds only: these reads never lengthen a tick on a round's critical path.
    if (!inProgress) {
      const key = `${latestId}|${this.#openRounds().join(',')}|${store.listVersions().map((v) => `${v.id}:${v.status}`).join(',')}|${store.listSessionKeys().length}`;
      // While something waits for finality, look again every few idle ticks; else when the key
      // moves. Versions wait for retention too — older ones than the newest held, or all of
      // them once a later session exists: a completion on the final chain deletes them even
      // when this node has no round open (it left, or was ejected).
      const versions = store.listVersions();
      const newest = versions.at(-1)?.id ?? Infinity;
      const waiting = this.#openRounds().length > 0 || store.listSessionKeys().length > 1 || versions.length > 1 || latestId > newest;
      if (key !== this.#finalKey || ++this.#idleTicks >= (waiting ? 4 : 120)) {
        await this.#settleFinal(latestId);
        await this.#retention(latestId);
        this.#finalKey = key;
        this.#idleTicks = 0;
      }
    }
    return { chainTime, boundary, opened, retry: this.#retry, sessions };
  }

  /** Keeps governance's protocol verdict for `/status` and says a change of it once. */
  #noteProtocol(next: ProtocolStatus): void {
    const before = this.#protocol;
    this.#protocol = next;
    if (before !== null && before.verdict === next.verdict && before.message === next.message) return;
    const fields = { required: next.required, speaks: next.speaks, queued: next.queued };
    if (next.verdict === 'unsupported') this.#o.log.error(fields, next.message ?? '');
    else if (next.verdict === 'upgrade-soon') this.#o.log.warn(fields, next.message ?? '');
    else if (before !== null && before.verdict !== 'ok') this.#o.log.info(fields, `this node speaks the protocol version the chain requires (${next.required})`);
  }

  async #maybeOpen(boundary: number): Promise<number | null> {
    const { writer, log } = this.#o;
    const sentAt = this.#now();
    try {
      const id = await writer.openSession();
      log.info({ session: id, boundary, sentAt, minedAt: this.#now() }, 'opened session');
      return id;
    } catch (e) {
      if (e instanceof LedgerError && (NOT_NOW.has(e.code) || e.code === 'ThresholdOverrideNoLongerFits')) {
        const key = `${boundary}:${e.code}`;
        if (key !== this.#lastNotNow) {
          if (e.code === 'ThresholdOverrideNoLongerFits') {
            // Not a normal "later": no session can open until governance changes the override.
            log.error({ boundary, reason: e.code }, `no session can open: ${e.message}. The governance threshold override does not fit the operators this session would have; governance must change it (kms-admin set-threshold N, or 0 for the default)`);
          } else {
            log.info({ boundary, reason: e.code }, `no session opened: ${e.message}`);
          }
        }
        this.#lastNotNow = key;
        return null;
      }
      log.warn({ boundary, err: errText(e) }, 'openSession failed; retrying next tick');
      this.#retry = true;
      return null;
    }
  }

  /**
   * The rounds not yet closed, as stored (checked, never cast). A value that is not a list of
   * session ids falls back to every stored round state: closing a round twice is harmless,
   * forgetting one would keep its secrets.
   */
  #openRounds(): number[] {
    const raw = this.#o.store.getMeta(META_OPEN);
    if (raw === null) return [];
    const ids = parseSessionIds(raw);
    if (ids !== null) return ids;
    this.#o.log.error({ key: META_OPEN }, 'the stored list of open rounds is malformed: every stored round state is taken as open');
    return this.#o.store.listRoundStates();
  }

  #setOpenRounds(ids: Iterable<number>): void {
    const list = [...new Set(ids)].sort((a, b) => a - b);
    const text = JSON.stringify(list);
    if (this.#o.store.getMeta(META_OPEN) !== text) this.#o.store.setMeta(META_OPEN, text);
  }

  #now(): number {
    return (this.#o.clock ?? Date.now)();
  }

  #cpu(): number {
    if (this.#o.cpuClock) return this.#o.cpuClock();
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }

  async #stepSession(id: number, chainTime: number, mpkHex: Hex | null, tickAt: number): Promise<{ summary: TickReport['sessions'][number]; finished: boolean } | null> {
    const { ledger, store, me, log } = this.#o;
    const raw = store.getRoundState(id);
    let state = parseRoundState(raw, id, ZERO_HASH);
    // A round in progress (or about to start here) needs the session and its submissions:
    // read both at once, unless the round is settled (see the module comment) or finished.
    // The submissions must include everything the session's progress counts (they would, read
    // after it); a view older than that, or a failed read, is read again.
    const settled = this.#settled.get(id);
    const wanted = state === null || (!roundFinished(state) && (settled === undefined || settled.skips + 1 >= SETTLED_RECHECK_TICKS));
    const [session, early] = await Promise.all([ledger.getSession(id), wanted ? ledger.getSubmissions(id).catch(() => null) : null]);
    // Gone from the latest block (a reorg dropped its opening): nothing to act on until it is back.
    if (!session) return null;
    // Written before rounds knew their snapshot: it was written for the one the chain shows.
    if (state !== null && isLegacyRoundState(raw)) state = { ...state, snapshotHash: session.snapshotHash };
    if (state !== null && state.snapshotHash !== session.snapshotHash) {
      this.#abandon(id, state, session.snapshotHash);
      state = null;
    }
    const roleKey = `${id}|${session.snapshotHash}`;
    if (state === null) {
      // A session this node's build cannot speak: no state, no submission (SPEC: outcomes come
      // from rules every acting node shares). Its shares stay servable; it rejoins when it can.
      const required = session.snapshot.protocolVersion;
      const involved = session.snapshot.dealers.includes(me) || session.snapshot.recipients.includes(me);
      const refusal = involved ? sessionProtocolRefusal(this.#o.protocol ?? SPOKEN_PROTOCOL, id, required) : null;
      if (refusal !== null) {
        if (this.#refused?.id !== id) log.error({ session: id, required }, refusal);
        this.#refused = { id, required, message: refusal };
        return null;
      }
      if (this.#noRole.has(roleKey)) return null;
      const fresh = initRound(session, me, this.#o.consentThreshold);
      if (!fresh.dealer && !fresh.recipient) {
        this.#noRole.add(roleKey);
        if (this.#noRole.size > 8) this.#noRole.delete(this.#noRole.values().next().value as string);
        return null;
      }
      if (fresh.recipient?.status === 'declined') log.warn({ session: id, reason: fresh.recipient.reason }, 'declining session (threshold consent)');
      state = fresh;
      const init = state;
      store.transaction(() => {
        store.putRoundState(id, encodeRoundState(init));
        this.#setOpenRounds([...this.#openRounds(), id]);
      });
    }
    const phase = phaseAt(session, chainTime);
    const outcome = session.progress.outcome;
    // A round the latest block shows as done needs a step only when that block's outcome no
    // longer matches it (a reorg): then the step reopens it and may have to resend.
    if (roundFinished(state) && !reopens(state, session)) {
      this.#report(id, session, state);
      return { summary: summarize(id, session.snapshot.kind, phase, state), finished: true };
    }
    const settleKey = `${phase}|${outcome}|${session.progress.completedPolyHash ?? ''}`;
    if (settled?.key === settleKey && ++settled.skips < SETTLED_RECHECK_TICKS) {
      return { summary: summarize(id, session.snapshot.kind, phase, state), finished: roundFinished(state) };
    }
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
      return { summary: summarize(id, session.snapshot.kind, phase, state), finished: false };
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
      this.#persist(session, state, step, chainTime, completedAt);
    }
    await this.#submit(id, step.outbox, { tickAt, steppedAt, computedAt, computeCpuMs, resend: step.transitions.length === 0 });
    if (step.transitions.length === 0 && step.outbox.length === 0) this.#settled.set(id, { key: settleKey, skips: 0 });
    else this.#settled.delete(id);
    const finished = roundFinished(step.state);
    if (finished) this.#report(id, session, step.state);
    return { summary: summarize(id, snapshot.kind, phase, step.state), finished };
  }

  /** Tells the observer once per (round, verdict) that the round is done, as the latest block shows it. */
  #report(id: number, session: Session, state: RoundState): void {
    const status = state.recipient?.status ?? state.dealer?.status ?? 'none';
    const key = `${id}|${session.snapshotHash}|${status}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    if (this.#reported.size > 64) this.#reported.delete(this.#reported.values().next().value as string);
    this.#o.observer?.roundDone?.(id, session.snapshot.kind, status);
  }

  /**
   * Transition → persist, atomically: the round state and the key material the step produced
   * (the new share as a pending version and the next session key, never inside the state),
   * and what the latest block's outcome means for the version: servable once completed, not
   * servable again when a reorg took the completion back. Nothing irreversible happens here:
   * retiring older versions and deleting a discarded share wait for finality (`#settleFinal`).
   */
  #persist(session: Session, before: RoundState, step: StepResult, chainTime: number, completedAt: number): void {
    const { store } = this.#o;
    const s = session.snapshot;
    const after = step.state;
    const r = after.recipient;
    const produced = step.produced ?? null;
    store.transaction(() => {
      store.putRoundState(s.id, encodeRoundState(after));
      const v = store.getVersion(s.id);
      const plan = versionsAfterStep(v, {
        id: s.id, produced: produced !== null && Boolean(r?.publicPoly), polyHash: r?.publicPolyHash ?? null,
        recipientBefore: before.recipient?.status ?? null, recipientAfter: r?.status ?? null, completedAt,
      });
      this.#applyVersions(plan, () => {
        if (!produced || !r?.publicPoly || !r.publicPolyHash) throw new Error(`session ${s.id}: a confirmation without its share`);
        return {
          id: s.id, status: 'pending', share: produced.share, publicPoly: r.publicPoly,
          publicPolyHash: r.publicPolyHash, threshold: s.tNew, holders: [...s.recipients], confirmedAt: chainTime, activatedAt: null,
        };
      });
      // The confirmation publishes the next session key: its secret is kept whatever the version's fate.
      if (produced && r?.publicPoly && r.publicPolyHash) {
        store.putSessionKey({ publicKey: produced.nextSessionKey.publicKey, secretKey: produced.nextSessionKey.secretKey, createdAt: chainTime });
      }
    });
  }

  /**
   * Applies the store operations of a version plan (`src/protocol/version-lifecycle.ts` decides
   * them); a fact that would take a version over a forbidden edge is logged, never applied.
   */
  #applyVersions(plan: VersionPlan, put?: () => StoredVersion): void {
    applyVersionPlan(this.#o.store, plan, this.#o.log, put);
  }

  /**
   * A round whose session id the latest block now shows with another snapshot (a reorg
   * reopened it): its state and any version it produced belong to a chain that is gone. The
   * version was never final (a final completion cannot be reorged), and the version it would
   * have replaced is still active here, since retiring waits for finality.
   */
  #abandon(id: number, state: RoundState, now: Hex): void {
    const { store, log } = this.#o;
    log.warn({ session: id, was: state.snapshotHash, now }, 'a reorg reopened this session with another snapshot: the old round is abandoned and a fresh one starts');
    this.#settled.delete(id);
    store.transaction(() => {
      this.#applyVersions(versionsOnAbandon(store.getVersion(id)));
      store.deleteRoundState(id);
    });
  }

  async #submit(id: number, outbox: readonly Outgoing[], t: Omit<SubmissionTiming, 'sentAt' | 'minedAt'>): Promise<void> {
    const { writer, log } = this.#o;
    for (const o of outbox) {
      const sentAt = this.#now();
      try {
        if (o.kind === 'deal') await writer.submitDeal(o.body);
        else if (o.kind === 'ack') await writer.submitAck(o.body);
        // The receipt-log head is read at send time, not when the round produced the
        // confirmation: a resend commits the newer head.
        else await writer.submitConfirmation({ ...o.body, receiptHead: this.#o.receiptHead?.() ?? ZERO_HASH });
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

  /**
   * The irreversible half of every round, on facts the final view shows (SPEC 4, v3):
   * - a round whose outcome is final is closed: a final completion with this node's hash
   *   retires every older active version; a final failure, or another hash's completion,
   *   deletes the share this node confirmed; a round whose session id the final chain holds
   *   with another snapshot is gone for good;
   * - the store is bound to the MPK once the genesis that pinned it is final;
   * - round states of closed rounds are deleted once a newer session exists (the latest
   *   session's state stays: it tells the next tick the round was already played).
   */
  async #settleFinal(latestId: number): Promise<void> {
    const { ledger, store, log } = this.#o;
    const final = ledger.finalView();
    const open = this.#openRounds();
    const [finalMpk, finalLatest] = await Promise.all([store.mpk() === null ? final.getMpk() : null, final.latestSessionId()]);
    if (finalMpk !== null && store.mpk() === null) {
      store.bindMpk(finalMpk);
      log.info({ mpk: finalMpk }, 'the genesis is final: the key store is bound to the master public key');
    }
    const closed: number[] = [];
    for (const id of open) {
      const raw = store.getRoundState(id);
      const parsed = parseRoundState(raw, id, ZERO_HASH);
      if (parsed === null) {
        closed.push(id);
        continue;
      }
      if (!roundFinished(parsed) || id > finalLatest) continue;
      const fs = await final.getSession(id);
      if (fs === null) continue;
      const state = isLegacyRoundState(raw) ? { ...parsed, snapshotHash: fs.snapshotHash } : parsed;
      if (fs.snapshotHash !== state.snapshotHash) {
        // The final chain opened this id with another snapshot: the latest block's step
        // abandons the state when it sees it; nothing of this round can come back.
        continue;
      }
      if (fs.progress.outcome === 'pending') continue;
      const r = state.recipient;
      const mine = r?.publicPolyHash ?? null;
      const completedMine = fs.progress.outcome === 'completed' && mine !== null && fs.progress.completedPolyHash === mine;
      // The state must agree with the final outcome (the latest block is never behind the final one).
      if (r && completedMine !== (r.status === 'active')) continue;
      store.transaction(() => {
        this.#applyVersions(versionsOnFinalOutcome(store.listVersions(), id, completedMine, mine));
        closed.push(id);
      });
      log.info({ session: id, outcome: fs.progress.outcome, verdict: r?.status ?? state.dealer?.status }, 'the round\'s outcome is final');
    }
    if (closed.length > 0) {
      this.#setOpenRounds(open.filter((x) => !closed.includes(x)));
      for (const id of closed) this.#settled.delete(id);
    }
    const stillOpen = new Set(this.#openRounds());
    for (const id of store.listRoundStates()) {
      if (!stillOpen.has(id) && id < latestId) store.deleteRoundState(id);
    }
  }

  /**
   * Deletes what no final fact needs any more (`retention.ts` has the rules): versions older
   * than the newest version that was the source of a reshare whose completion is final, and
   * session secrets older than the key the final view publishes for this operator that no
   * session still in play lists.
   */
  async #retention(latestId: number): Promise<void> {
    const { store, ledger, me } = this.#o;
    const final = ledger.finalView();
    const versions = store.listVersions();
    if (versions.length > 0) {
      // The newest completed reshare on the final chain names the newest source: sessions are
      // read from the final latest down to the first completed reshare (usually the latest).
      // Not only the sessions of versions this node holds: an operator that left or was
      // ejected receives no later version, yet must delete its old shares all the same
      // (fault run seed 1 found it keeping them, still active, forever).
      const completedSources = new Set<number>();
      const oldest = (versions[0] as StoredVersion).id;
      for (let id = await final.latestSessionId(); id > oldest; id--) {
        const s = await final.getSession(id);
        if (s && s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') {
          completedSources.add(s.snapshot.sourceVersion);
          break;
        }
      }
      if (completedSources.size > 0) store.transaction(() => this.#applyVersions(versionsOnRetention(versions, completedSources)));
    }
    const keys = store.listSessionKeys();
    if (keys.length > 1) {
      const rec = await final.getOperator(me);
      const inUse = new Set<Hex>();
      // Keys a session still in play lists (at the latest block or in an open round).
      const inPlay = new Set(this.#openRounds());
      if (latestId > 0) inPlay.add(latestId);
      for (const id of inPlay) {
        const s = await ledger.getSession(id);
        if (s && s.progress.outcome === 'pending') for (const k of s.snapshot.recipientKeys) inUse.add(k);
        const f = await final.getSession(id);
        if (f && f.progress.outcome === 'pending') for (const k of f.snapshot.recipientKeys) inUse.add(k);
      }
      for (const k of sessionKeysToDelete(keys, rec?.sessionKey ?? null, inUse)) store.deleteSessionKey(k);
    }
  }
}

/** Whether the latest block's outcome no longer matches a finished round (a reorg reopened it). */
function reopens(state: RoundState, session: Session): boolean {
  const r = state.recipient;
  if (!r) return false;
  const { outcome, completedPolyHash } = session.progress;
  if (r.status === 'active') return outcome !== 'completed' || completedPolyHash !== r.publicPolyHash;
  if (r.status === 'discarded') return outcome === 'pending' || (outcome === 'completed' && completedPolyHash === r.publicPolyHash);
  return false;
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

/** A JSON list of positive session ids, or null for anything else. */
function parseSessionIds(raw: string): number[] | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) > 0) ? (v as number[]) : null;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export type { StoredVersion };
