/**
 * @module
 * The network as one node sees it on the chain (issue 15, item 4): what the status page and
 * `GET /status/network` show, and what the alert gauges (`NodeMetrics.network`) are set from.
 * Pure: built from what `network-watch.ts` read at one block, no I/O, no clock.
 *
 * Who did not submit, per session (the registry's rules, SPEC 3): every dealer of the snapshot
 * owes a deal, every recipient an ack and a confirmation. A window that is still open has
 * nobody missing yet (`null`); once it has closed, the parties without a submission of that
 * type are the ones that missed it. A window closes early only when every party submitted, so
 * an early close always has nobody missing.
 *
 * Duration: from `openedAt` to the completion (the version's `completedAt`) for a completed
 * session, to the end of the confirm window for a failed one; null while pending.
 *
 * Nothing here is secret: the chain is public. Texts that come from the chain (operator socket
 * URLs) are passed through as data; the page renders them as text, never as markup.
 */
import type { Address, Governance, Hex, OperatorRecord, RecordedSubmission, Session, SessionKind, SessionOutcome, VersionRecord } from '../../protocol/ledger.ts';
import { phaseAt, phaseEnds, type Phase } from '../../protocol/session-rules.ts';
import { QUEUED_CHANGE_KINDS, type NetworkFacts, type QueuedChangeKind } from '../metrics.ts';

/** Who has not submitted each type, once its window closed (null: the window is still open). */
export interface Missing {
  readonly deal: readonly Address[] | null;
  readonly ack: readonly Address[] | null;
  readonly confirm: readonly Address[] | null;
}

export interface SessionSummary {
  readonly id: number;
  readonly kind: SessionKind;
  readonly outcome: SessionOutcome;
  /** The phase at the block read. */
  readonly phase: Phase;
  readonly boundary: number;
  readonly openedAt: number;
  /** Completion (completed) or end of the confirm window (failed); null while pending. */
  readonly endedAt: number | null;
  readonly durationSeconds: number | null;
  readonly tNew: number;
  readonly quorum: number;
  readonly dealers: readonly Address[];
  readonly recipients: readonly Address[];
  readonly deals: number;
  readonly acks: number;
  readonly confirms: number;
  /** Who submitted each type so far. */
  readonly submitted: { readonly deal: readonly Address[]; readonly ack: readonly Address[]; readonly confirm: readonly Address[] };
  readonly missing: Missing;
}

/** One operator's part in one session: null where it had no such duty. */
export interface SessionPart {
  readonly session: number;
  readonly dealt: boolean | null;
  readonly acked: boolean | null;
  readonly confirmed: boolean | null;
}

export interface OperatorSummary {
  readonly address: Address;
  readonly socket: string;
  readonly status: OperatorRecord['status'];
  readonly registeredSeq: number;
  /** Holds a share of the chain's active version. */
  readonly holder: boolean;
  /** This node's own operator. */
  readonly self: boolean;
  /** Its part in the sessions shown (newest first), where it had one. */
  readonly sessions: readonly SessionPart[];
}

export interface QueuedChangeView {
  readonly kind: QueuedChangeKind;
  /** Chain time it takes effect; null for an ownership proposal (it waits for `acceptOwnership`). */
  readonly effectiveAt: number | null;
  /** What changes, in words ("threshold override 3", "allow 0x…"). */
  readonly change: string;
}

export interface NetworkView {
  /** This node's operator. */
  readonly operator: Address;
  readonly chainId: string;
  readonly registry: Address;
  /** Chain time of the block read. */
  readonly chainTime: number;
  /** The pinned master public key; null before genesis. */
  readonly mpk: Hex | null;
  readonly activeVersion: {
    readonly id: number;
    readonly threshold: number;
    readonly holders: readonly Address[];
    readonly completedAt: number;
    readonly publicPolyHash: Hex;
  } | null;
  /** Governance in effect (its queued changes are `queued`, described). */
  readonly governance: Omit<Governance, 'queued' | 'inclusionMargin'>;
  readonly queued: readonly QueuedChangeView[];
  readonly operators: readonly OperatorSummary[];
  /** Newest first. */
  readonly sessions: readonly SessionSummary[];
  /** This operator holds a share of the active version on-chain but its store has none. */
  readonly activeShareMissing: boolean;
  /** The newest closed session and the submissions this operator owed there and did not make. */
  readonly lastClosedSession: { readonly id: number; readonly missed: readonly ('deal' | 'ack' | 'confirm')[] } | null;
}

/** What `network-watch.ts` read at one block. */
export interface NetworkReads {
  readonly me: Address;
  readonly chainId: bigint;
  readonly registry: Address;
  readonly chainTime: number;
  readonly governance: Governance;
  readonly operators: readonly OperatorRecord[];
  readonly mpk: Hex | null;
  readonly activeVersion: VersionRecord | null;
  /** The newest sessions, each with its submissions and, if it completed, its version. */
  readonly sessions: readonly { readonly session: Session; readonly submissions: readonly RecordedSubmission[] | null; readonly version: VersionRecord | null }[];
  /** Whether this node's store holds an active share of version `id`. */
  readonly holdsShare: (id: number) => boolean;
}

const lower = (a: string) => a.toLowerCase() as Address;

/**
 * One session's summary at chain time `now`. `submissions` null: they could not be read, so
 * nobody is listed as missing (unknown is not missed).
 */
export function summariseSession(session: Session, submissions: readonly RecordedSubmission[] | null, version: VersionRecord | null, now: number): SessionSummary {
  const { snapshot: s, progress: p } = session;
  const phase = phaseAt(session, now);
  const ends = phaseEnds(session);
  const from = (type: RecordedSubmission['type']) => new Set((submissions ?? []).filter((x) => x.type === type).map((x) => lower(x.from)));
  const dealt = from('deal');
  const acked = from('ack');
  const confirmed = from('confirm');
  const missingOf = (parties: readonly Address[], done: Set<Address>, closed: boolean) => (closed && submissions !== null ? parties.filter((a) => !done.has(lower(a))) : null);
  const endedAt = p.outcome === 'completed' ? (version?.completedAt ?? null) : p.outcome === 'failed' ? ends.confirmEnd : null;
  return {
    id: s.id, kind: s.kind, outcome: p.outcome, phase, boundary: s.boundary, openedAt: s.openedAt,
    endedAt, durationSeconds: endedAt === null ? null : Math.max(0, endedAt - s.openedAt),
    tNew: s.tNew, quorum: s.quorum, dealers: s.dealers, recipients: s.recipients,
    deals: p.dealCount, acks: p.ackCount, confirms: p.confirmCount,
    submitted: { deal: [...dealt], ack: [...acked], confirm: [...confirmed] },
    missing: {
      deal: missingOf(s.dealers, dealt, now >= ends.dealEnd),
      ack: missingOf(s.recipients, acked, now >= ends.ackEnd),
      confirm: missingOf(s.recipients, confirmed, now >= ends.confirmEnd),
    },
  };
}

/** An operator's duties in a session and whether it met them (null: no such duty). */
export function partIn(summary: SessionSummary, who: Address): SessionPart | null {
  const a = lower(who);
  const isDealer = summary.dealers.some((d) => lower(d) === a);
  const isRecipient = summary.recipients.some((r) => lower(r) === a);
  if (!isDealer && !isRecipient) return null;
  // Submitted: true; window closed without it: false; still open (or no such duty): null.
  const did = (submitted: readonly Address[], missing: readonly Address[] | null, duty: boolean): boolean | null => {
    if (!duty) return null;
    if (submitted.some((x) => lower(x) === a)) return true;
    return missing === null ? null : false;
  };
  const { submitted: done, missing } = summary;
  return {
    session: summary.id,
    dealt: did(done.deal, missing.deal, isDealer),
    acked: did(done.ack, missing.ack, isRecipient),
    confirmed: did(done.confirm, missing.confirm, isRecipient),
  };
}

function queuedViews(g: Governance): QueuedChangeView[] {
  const out: QueuedChangeView[] = g.queued.map((q): QueuedChangeView => {
    switch (q.kind) {
      case 'thresholdOverride':
        return { kind: q.kind, effectiveAt: q.effectiveAt, change: q.value === 0 ? 'threshold back to the default ceil(2n/3)' : `threshold override ${q.value}` };
      case 'churnCap':
        return { kind: q.kind, effectiveAt: q.effectiveAt, change: q.value === 0 ? 'churn cap back to the default' : `churn cap ${q.value}` };
      case 'schedule':
        return {
          kind: q.kind, effectiveAt: q.effectiveAt,
          change: `interval ${q.interval} s, windows ${q.dealWindow}/${q.ackWindow}/${q.confirmWindow} s${q.protocolVersion !== g.protocolVersion ? `, protocol version ${q.protocolVersion} (now ${g.protocolVersion})` : ''}`,
        };
      case 'allowOperator':
        return { kind: q.kind, effectiveAt: q.effectiveAt, change: `allow operator ${q.operator}` };
    }
  });
  if (g.pendingOwner !== null) out.push({ kind: 'ownership', effectiveAt: null, change: `new owner ${g.pendingOwner} proposed (takes over when it accepts)` });
  return out;
}

export function buildNetworkView(r: NetworkReads): NetworkView {
  const me = lower(r.me);
  const summaries = [...r.sessions]
    .map((x) => summariseSession(x.session, x.submissions, x.version, r.chainTime))
    .sort((a, b) => b.id - a.id);
  const holders = new Set((r.activeVersion?.holders ?? []).map(lower));
  const lastClosed = summaries.find((s) => s.phase === 'closed') ?? null;
  const myPart = lastClosed ? partIn(lastClosed, me) : null;
  const missed: ('deal' | 'ack' | 'confirm')[] = [];
  if (myPart?.dealt === false) missed.push('deal');
  if (myPart?.acked === false) missed.push('ack');
  if (myPart?.confirmed === false) missed.push('confirm');
  const g = r.governance;
  return {
    operator: me,
    chainId: r.chainId.toString(),
    registry: lower(r.registry),
    chainTime: r.chainTime,
    mpk: r.mpk,
    activeVersion: r.activeVersion === null ? null : {
      id: r.activeVersion.id, threshold: r.activeVersion.threshold, holders: r.activeVersion.holders.map(lower),
      completedAt: r.activeVersion.completedAt, publicPolyHash: r.activeVersion.publicPolyHash,
    },
    governance: {
      owner: lower(g.owner), pendingOwner: g.pendingOwner === null ? null : lower(g.pendingOwner), interval: g.interval,
      dealWindow: g.dealWindow, ackWindow: g.ackWindow, confirmWindow: g.confirmWindow, thresholdOverride: g.thresholdOverride,
      churnCap: g.churnCap, governanceDelay: g.governanceDelay, genesisMinOperators: g.genesisMinOperators,
      protocolVersion: g.protocolVersion,
    },
    queued: queuedViews(g),
    operators: r.operators.map((o) => ({
      address: lower(o.address), socket: o.socket, status: o.status, registeredSeq: o.registeredSeq,
      holder: holders.has(lower(o.address)), self: lower(o.address) === me,
      sessions: summaries.map((s) => partIn(s, o.address)).filter((x): x is SessionPart => x !== null),
    })),
    sessions: summaries,
    activeShareMissing: r.activeVersion !== null && holders.has(me) && !r.holdsShare(r.activeVersion.id),
    lastClosedSession: lastClosed === null ? null : { id: lastClosed.id, missed },
  };
}

/** The alert gauges' values from a view. */
export function networkFacts(v: NetworkView): NetworkFacts {
  const queued = Object.fromEntries(QUEUED_CHANGE_KINDS.map((k) => [k, v.queued.filter((q) => q.kind === k).length])) as Record<QueuedChangeKind, number>;
  return {
    chainTime: v.chainTime,
    activeVersion: v.activeVersion === null ? null : { id: v.activeVersion.id, completedAt: v.activeVersion.completedAt },
    interval: v.governance.interval,
    activeShareMissing: v.activeShareMissing,
    lastSession: v.lastClosedSession === null ? null : { id: v.lastClosedSession.id, missedSubmissions: v.lastClosedSession.missed.length },
    queued,
  };
}
