/**
 * @module
 * The arithmetic of the registry's rules (SPEC 2, 3, 4, 6), in one place. The in-memory
 * ledger calls these functions; the Solidity contract implements the same formulas and the
 * conformance suite holds both to them. Pure: no clock, no I/O.
 *
 * - default threshold      t = ceil(2n / 3)
 * - threshold bounds        max(2, floor(n/2) + 1) ≤ t ≤ n
 * - completion quorum       max(t_new, floor(n/2) + 1)
 * - churn cap               min(governance cap or bound, bound) newcomers per session,
 *                           bound = max(1, floor(|old holders| / 3)): whatever governance sets,
 *                           the newcomers of one reshare stay below its t_new
 * - interval boundary       floor(now / interval) · interval
 * - windows must fit        deal + ack + confirm + inclusionMargin ≤ interval, each ≥ 1 s
 *                           (the margin leaves room for the last submissions to be mined before
 *                           the next boundary; finality is not reserved, issue 17)
 */
import type { Address, Governance, OperatorRecord, Session, SessionSnapshot, VersionRecord } from './ledger.ts';

/** Byte sizes of the fields the ledger checks (SPEC 2; formats in docs/formats.md). */
export const SIZES = {
  g2: 96,
  /** Compressed secp256k1 point: session keys, ephemeral keys, complaint ECDH points. */
  secpPoint: 33,
  /** A sealed share: 32-byte scalar + 16-byte AES-GCM tag (nonce is derived, see seal.ts). */
  sealedShare: 48,
  /** Chaum–Pedersen proof (challenge ‖ response, 32 bytes each). */
  dleqProof: 64,
  bn254G2: 128,
  ecdsaSigner: 20,
  maxSocket: 256,
} as const;

export const MIN_THRESHOLD = 2;
/**
 * Most registered operators (active and leaving) a registry holds: it bounds every loop of
 * the contract and keeps the largest session inside one block (docs/contracts.md).
 */
export const MAX_OPERATORS = 256;
/** Longest governance delay a deployment may choose (30 days). */
export const MAX_GOVERNANCE_DELAY = 30 * 24 * 3600;

export function defaultThreshold(n: number): number {
  return Math.ceil((2 * n) / 3);
}

export function thresholdBounds(n: number): { min: number; max: number } {
  return { min: Math.max(MIN_THRESHOLD, Math.floor(n / 2) + 1), max: n };
}

export function thresholdInBounds(t: number, n: number): boolean {
  const { min, max } = thresholdBounds(n);
  return Number.isInteger(t) && t >= min && t <= max;
}

/** The threshold a new session over n recipients uses, or null if governance's override does not fit n. */
export function effectiveThreshold(override: number, n: number): number | null {
  const t = override === 0 ? defaultThreshold(n) : override;
  return thresholdInBounds(t, n) ? t : null;
}

export function completionQuorum(tNew: number, n: number): number {
  return Math.max(tNew, Math.floor(n / 2) + 1);
}

/**
 * Newcomers one reshare admits: governance's cap can only lower the bound
 * max(1, floor(|old holders| / 3)), never raise it — otherwise governance could allow k
 * addresses, set the cap to k and hand them t_new shares in one session (issue 12 §3).
 */
export function churnCap(govCap: number, oldHolders: number): number {
  const bound = Math.max(1, Math.floor(oldHolders / 3));
  return govCap > 0 ? Math.min(govCap, bound) : bound;
}

export function boundaryOf(now: number, interval: number): number {
  return Math.floor(now / interval) * interval;
}

/** Largest window, interval or margin the contract stores (uint32 seconds). */
const MAX_SECONDS = 0xffff_ffff;

export function windowsFit(deal: number, ack: number, confirm: number, inclusionMargin: number, interval: number): boolean {
  const ok = (v: number, min: number) => Number.isInteger(v) && v >= min && v <= MAX_SECONDS;
  return ok(deal, 1) && ok(ack, 1) && ok(confirm, 1) && ok(interval, 1) && ok(inclusionMargin, 0)
    && deal + ack + confirm + inclusionMargin <= interval;
}

export type Phase = 'deal' | 'ack' | 'confirm' | 'closed';

export interface PhaseEnds {
  readonly dealEnd: number;
  readonly ackEnd: number;
  readonly confirmEnd: number;
}

/** Ends of the three half-open windows, accounting for early closes already recorded. */
export function phaseEnds(session: Session): PhaseEnds {
  const { snapshot: s, progress: p } = session;
  const dealEnd = p.dealClosedAt ?? s.openedAt + s.dealWindow;
  const ackEnd = p.ackClosedAt ?? dealEnd + s.ackWindow;
  const confirmEnd = p.confirmClosedAt ?? ackEnd + s.confirmWindow;
  return { dealEnd, ackEnd, confirmEnd };
}

export function phaseAt(session: Session, now: number): Phase {
  const e = phaseEnds(session);
  if (now < e.dealEnd) return 'deal';
  if (now < e.ackEnd) return 'ack';
  if (now < e.confirmEnd) return 'confirm';
  return 'closed';
}

/** Why a session cannot be opened now, or the parameters of the one that can. */
export type SessionPlan =
  | {
      readonly ok: false;
      readonly code: 'GenesisNotArmed' | 'NotEnoughOperators' | 'ThresholdOverrideNoLongerFits' | 'BoundaryNotReached' | 'PreviousSessionOpen';
      readonly message: string;
    }
  | {
      readonly ok: true;
      readonly snapshot: Omit<SessionSnapshot, 'id' | 'openedAt' | 'dealWindow' | 'ackWindow' | 'confirmWindow' | 'protocolVersion'>;
    };

export interface PlanInput {
  readonly now: number;
  /** Governance in effect at `now` (queued changes whose time has come already applied). */
  readonly governance: Governance;
  /** Registered operators in registration order. */
  readonly operators: readonly OperatorRecord[];
  readonly latest: Session | null;
  readonly active: VersionRecord | null;
  readonly mpkPinned: boolean;
}

/** What decides who receives in the next session. */
export interface RecipientInput {
  /** Registered operators in registration order. */
  readonly operators: readonly OperatorRecord[];
  /** The version a reshare would start from (null before genesis). */
  readonly active: VersionRecord | null;
  readonly mpkPinned: boolean;
  /** Governance's churn cap (0 = default). */
  readonly churnCap: number;
}

/**
 * Recipients of the next session, in registration order: every active member for a DKG; for
 * a reshare the active holders of the source version plus the first newcomers (registration
 * order) within `churnCap`.
 */
export function plannedRecipients(input: RecipientInput): OperatorRecord[] {
  const members = input.operators.filter((o) => o.status === 'active');
  if (!input.mpkPinned) return members;
  const { active } = input;
  if (!active) throw new Error('plannedRecipients: MPK pinned but no active version');
  const holders = new Set(active.holders);
  const cap = churnCap(input.churnCap, active.holders.length);
  const newcomers = new Set(members.filter((o) => !holders.has(o.address)).slice(0, cap).map((o) => o.address));
  return members.filter((o) => holders.has(o.address) || newcomers.has(o.address));
}

/**
 * The recipient count a threshold override is checked against, when it is set and when a
 * session opens: the recipients the next session would actually have (after the churn cap),
 * not the active count.
 */
export function plannedRecipientCount(input: RecipientInput): number {
  return plannedRecipients(input).length;
}

/**
 * The rule behind `openSession` (SPEC 3): who deals, who receives, which thresholds, and
 * whether a session may open at all. Both ledgers call exactly this.
 */
export function planSession(input: PlanInput): SessionPlan {
  const { now, governance: g, operators, latest, active, mpkPinned } = input;
  const boundary = boundaryOf(now, g.interval);
  if (latest) {
    if (phaseAt(latest, now) !== 'closed') {
      return { ok: false, code: 'PreviousSessionOpen', message: `session ${latest.snapshot.id} is still running` };
    }
    if (boundary <= latest.snapshot.boundary) {
      return { ok: false, code: 'BoundaryNotReached', message: `the next boundary is ${latest.snapshot.boundary + g.interval}` };
    }
  }
  const recipients = plannedRecipients({ operators, active, mpkPinned, churnCap: g.churnCap });
  if (!mpkPinned) {
    if (g.genesisMinOperators === 0) return { ok: false, code: 'GenesisNotArmed', message: 'governance has not armed genesis' };
    const need = Math.max(MIN_THRESHOLD, g.genesisMinOperators);
    if (recipients.length < need) {
      return { ok: false, code: 'NotEnoughOperators', message: `genesis needs ${need} operators, ${recipients.length} registered` };
    }
    const t = effectiveThreshold(g.thresholdOverride, recipients.length);
    if (t === null) return thresholdRefusal(g.thresholdOverride, recipients.length);
    const addrs = recipients.map((o) => o.address);
    return {
      ok: true,
      snapshot: {
        kind: 'dkg', boundary, dealers: addrs, recipients: addrs, recipientKeys: recipients.map((o) => o.sessionKey),
        tNew: t, tOld: 0, sourceVersion: 0, sourcePolyHash: `0x${'0'.repeat(64)}`, quorum: completionQuorum(t, addrs.length),
      },
    };
  }
  if (!active) throw new Error('planSession: MPK pinned but no active version');
  if (recipients.length < MIN_THRESHOLD) {
    return { ok: false, code: 'NotEnoughOperators', message: `a reshare needs ${MIN_THRESHOLD} receiving operators, ${recipients.length} available` };
  }
  const t = effectiveThreshold(g.thresholdOverride, recipients.length);
  if (t === null) return thresholdRefusal(g.thresholdOverride, recipients.length);
  return {
    ok: true,
    snapshot: {
      kind: 'reshare', boundary, dealers: [...active.holders], recipients: recipients.map((o) => o.address),
      recipientKeys: recipients.map((o) => o.sessionKey), tNew: t, tOld: active.threshold, sourceVersion: active.id,
      sourcePolyHash: active.publicPolyHash, quorum: completionQuorum(t, recipients.length),
    },
  };
}

/**
 * The override no longer fits the recipients (membership moved since governance set it): a
 * governance misconfiguration to fix, not a "not now" (the default threshold always fits n ≥ 2).
 */
function thresholdRefusal(override: number, n: number): SessionPlan {
  const { min, max } = thresholdBounds(n);
  return {
    ok: false,
    code: 'ThresholdOverrideNoLongerFits',
    message: `governance's threshold override ${override} no longer fits this session's ${n} recipients (it must lie within ${min}..${max}); governance must change it (kms-admin set-threshold)`,
  };
}

/** Operators removed from the registry when a session completes: leaving and not holding the new version. */
export function operatorsToRemove(operators: readonly OperatorRecord[], newHolders: readonly Address[]): Address[] {
  const keep = new Set(newHolders);
  return operators.filter((o) => o.status === 'leaving' && !keep.has(o.address)).map((o) => o.address);
}
