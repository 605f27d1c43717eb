/**
 * @module
 * What a simulated node reads: the ledger as of chain time `now − lag` (RPC lag, SPEC 4: a
 * node that sees the chain late acts late but never on a partial view).
 *
 * The mirror copies the in-memory ledger after every write (only sessions that can still
 * change are re-read) and answers reads for any past chain time T by filtering on the
 * timestamps the ledger records:
 *
 *   sessions        openedAt ≤ T
 *   submissions     at ≤ T (a prefix: the ledger's clock never goes back)
 *   counter/digest  the prefix's length and rolling digest (prefix digests are cached)
 *   windows         a recorded early close counts only if closedAt ≤ T
 *   versions        completedAt ≤ T; outcome `completed` iff the session's version exists at T,
 *                   `failed` iff T ≥ confirmEnd (computed from the windows as of T)
 *   MPK             pinned with the first version completed at or before T
 *
 * Operators and governance are read at the head (nodes use them only to decide whether to
 * try `openSession`, which the ledger itself arbitrates at the head).
 *
 * `ChainMemo` holds the pure, chain-derived work every node would repeat: decoding a source
 * version's public polynomial (after checking keccak256(poly) against the snapshot's
 * sourcePolyHash) and the MPK. One decoded object per polynomial also keeps the round
 * outcome's memo key (which hashes the source polynomial once per object) cheap.
 */
import { keccak256 } from 'viem';
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import { hexToBytes } from '../protocol/hex.ts';
import {
  LedgerError,
  ZERO_HASH,
  type Address,
  type Governance,
  type Hex,
  type OperatorRecord,
  type RecordedSubmission,
  type Session,
  type SessionProgress,
  type SessionSnapshot,
  type VersionRecord,
} from '../protocol/ledger.ts';
import type { MemoryLedger } from '../protocol/memory-ledger.ts';
import { decodePoly } from '../protocol/round-outcome.ts';
import { phaseEnds } from '../protocol/session-rules.ts';
import { nextDigest } from '../protocol/submission-digest.ts';

interface SessionMirror {
  readonly snapshot: SessionSnapshot;
  readonly snapshotHash: Hex;
  /** Progress as last read at the head (closedAt fields, never outcome: that is recomputed per T). */
  progress: SessionProgress;
  submissions: RecordedSubmission[];
  /** prefix[k] = rolling digest after the first k submissions. */
  readonly prefix: Hex[];
}

export class LedgerMirror {
  readonly #ledger: MemoryLedger;
  readonly #sessions: SessionMirror[] = [];
  readonly #versions = new Map<number, VersionRecord>();
  #operators = new Map<Address, OperatorRecord>();
  #governance: Governance | null = null;
  #dirty = true;

  constructor(ledger: MemoryLedger) {
    this.#ledger = ledger;
  }

  /** The ledger changed (a write): re-read before the next view. */
  invalidate(): void {
    this.#dirty = true;
  }

  /** Re-reads whatever may have changed since the last refresh. */
  async refresh(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const l = this.#ledger;
    const latest = await l.latestSessionId();
    // Sessions before the previous one are closed and immutable: re-read the last two only.
    const from = Math.max(1, Math.min(this.#sessions.length, latest) - 1);
    for (let id = from; id <= latest; id++) {
      const s = await l.getSession(id);
      if (!s) throw new Error(`mirror: session ${id} vanished from the ledger`);
      const subs = await l.getSubmissions(id);
      let m = this.#sessions[id - 1];
      if (!m) {
        m = { snapshot: s.snapshot, snapshotHash: s.snapshotHash, progress: s.progress, submissions: [], prefix: [ZERO_HASH] };
        this.#sessions[id - 1] = m;
      }
      // The log is append-only: keep the objects already mirrored (so per-object caches, like
      // round-outcome's submission hashes, are shared by every node and tick) and add the rest.
      for (let k = m.submissions.length; k < subs.length; k++) {
        m.prefix.push(nextDigest(m.prefix[k] as Hex, subs[k] as RecordedSubmission));
        m.submissions.push(subs[k] as RecordedSubmission);
      }
      m.progress = s.progress;
      // The check a real reader must make (LedgerReader.getSubmissions): the log it holds ends
      // exactly at the contract's counter and digest.
      if (subs.length !== s.progress.counter || m.prefix[subs.length] !== s.progress.digest) {
        throw new LedgerError('IncompleteView', `mirror: session ${id} log does not match the ledger's counter and digest`);
      }
      const v = await l.getVersion(id);
      if (v) this.#versions.set(id, v);
    }
    this.#operators = new Map((await l.getOperators()).map((o) => [o.address, o]));
    this.#governance = await l.getGovernance();
  }

  /** A read-only view of the ledger as of chain time `t` (call `refresh` first). */
  at(t: number): LedgerView {
    if (this.#dirty) throw new Error('mirror: refresh() before reading');
    return new LedgerView(this, t);
  }

  // Accessors for LedgerView (module-internal by convention).
  get sessionsRaw(): readonly SessionMirror[] {
    return this.#sessions;
  }
  get versionsRaw(): ReadonlyMap<number, VersionRecord> {
    return this.#versions;
  }
  get operatorsRaw(): ReadonlyMap<Address, OperatorRecord> {
    return this.#operators;
  }
  get governanceRaw(): Governance {
    if (!this.#governance) throw new Error('mirror: not refreshed');
    return this.#governance;
  }
}

/** The ledger as a node sees it at chain time `now` (see the module comment). Synchronous. */
export class LedgerView {
  readonly #m: LedgerMirror;
  readonly now: number;
  readonly #subsCache = new Map<number, RecordedSubmission[]>();

  constructor(mirror: LedgerMirror, now: number) {
    this.#m = mirror;
    this.now = now;
  }

  get governance(): Governance {
    return this.#m.governanceRaw;
  }

  /** The same mirror as of another chain time (tests compare past states). */
  mirrorAt(t: number): LedgerView {
    return new LedgerView(this.#m, t);
  }

  operator(a: Address): OperatorRecord | null {
    return this.#m.operatorsRaw.get(a) ?? null;
  }

  operators(): OperatorRecord[] {
    return [...this.#m.operatorsRaw.values()];
  }

  latestSessionId(): number {
    const ss = this.#m.sessionsRaw;
    let id = ss.length;
    while (id > 0 && (ss[id - 1] as SessionMirror).snapshot.openedAt > this.now) id--;
    return id;
  }

  submissions(id: number): RecordedSubmission[] {
    const hit = this.#subsCache.get(id);
    if (hit) return hit;
    const m = this.#visible(id);
    const out = m ? m.submissions.slice(0, this.#count(m)) : [];
    this.#subsCache.set(id, out);
    return out;
  }

  session(id: number): Session | null {
    const m = this.#visible(id);
    if (!m) return null;
    const k = this.#count(m);
    const subs = this.submissions(id);
    const p = m.progress;
    const closed = (at: number | null) => (at !== null && at <= this.now ? at : null);
    const version = this.version(id);
    const base: SessionProgress = {
      dealClosedAt: closed(p.dealClosedAt),
      ackClosedAt: closed(p.ackClosedAt),
      confirmClosedAt: closed(p.confirmClosedAt),
      dealCount: subs.filter((s) => s.type === 'deal').length,
      ackCount: subs.filter((s) => s.type === 'ack').length,
      confirmCount: subs.filter((s) => s.type === 'confirm').length,
      counter: k,
      digest: m.prefix[k] as Hex,
      outcome: 'pending',
      completedPolyHash: version ? version.publicPolyHash : null,
    };
    const session: Session = { snapshot: m.snapshot, snapshotHash: m.snapshotHash, progress: base };
    const outcome = version ? 'completed' : this.now >= phaseEnds(session).confirmEnd ? 'failed' : 'pending';
    return { snapshot: m.snapshot, snapshotHash: m.snapshotHash, progress: { ...base, outcome } };
  }

  version(id: number): VersionRecord | null {
    const v = this.#m.versionsRaw.get(id);
    return v && v.completedAt <= this.now ? v : null;
  }

  activeVersion(): VersionRecord | null {
    let best: VersionRecord | null = null;
    for (const v of this.#m.versionsRaw.values()) {
      if (v.completedAt <= this.now && (best === null || v.id > best.id)) best = v;
    }
    return best;
  }

  /** The pinned MPK: A_0 of the first version (the genesis DKG), once it is visible. */
  mpk(): Hex | null {
    let first: VersionRecord | null = null;
    for (const v of this.#m.versionsRaw.values()) if (first === null || v.id < first.id) first = v;
    return first && first.completedAt <= this.now ? (first.publicPoly.slice(0, 2 + 2 * 96) as Hex) : null;
  }

  #visible(id: number): SessionMirror | null {
    const m = this.#m.sessionsRaw[id - 1];
    return m && Number.isInteger(id) && m.snapshot.openedAt <= this.now ? m : null;
  }

  #count(m: SessionMirror): number {
    let k = m.submissions.length;
    while (k > 0 && (m.submissions[k - 1] as RecordedSubmission).at > this.now) k--;
    return k;
  }
}

/** Why a reshare's source polynomial could not be used. */
export type SourcePoly = { readonly ok: true; readonly poly: readonly G2[] } | { readonly ok: false; readonly reason: string };

/** Pure chain-derived work shared by all simulated nodes (see the module comment). */
export class ChainMemo {
  readonly #polys = new Map<Hex, SourcePoly>();
  readonly #points = new Map<Hex, G2>();
  /** How many decodes were actually done (tests check the sharing). */
  decodes = 0;

  /** The source version's public polynomial, checked against the snapshot's sourcePolyHash. */
  sourcePoly(view: LedgerView, snapshot: SessionSnapshot): SourcePoly {
    const hit = this.#polys.get(snapshot.sourcePolyHash);
    if (hit) return hit;
    const v = view.version(snapshot.sourceVersion);
    if (!v) return { ok: false, reason: `source version ${snapshot.sourceVersion} is not visible yet` };
    let out: SourcePoly;
    if (keccak256(v.publicPoly) !== snapshot.sourcePolyHash) {
      out = { ok: false, reason: `version ${v.id}: keccak256(publicPoly) differs from the snapshot's sourcePolyHash` };
    } else {
      try {
        this.decodes++;
        out = { ok: true, poly: decodePoly(hexToBytes(v.publicPoly) ?? new Uint8Array()) };
      } catch (e) {
        out = { ok: false, reason: `version ${v.id}: public polynomial does not decode (${(e as Error).message})` };
      }
    }
    this.#polys.set(snapshot.sourcePolyHash, out);
    return out;
  }

  /** A decoded G2 point (the MPK), memoized by its encoding; null for undecodable input. */
  g2(hex: Hex): G2 | null {
    const hit = this.#points.get(hex);
    if (hit) return hit;
    const b = hexToBytes(hex);
    if (!b) return null;
    try {
      this.decodes++;
      const p = bls.g2.decode(b);
      this.#points.set(hex, p);
      return p;
    } catch {
      return null;
    }
  }
}
