/**
 * @module
 * The arithmetic of the registry's rules (SPEC 2, 3, 4, 6), in one place. The in-memory
 * ledger calls these functions; the Solidity contract implements the same formulas and the
 * conformance suite holds both to them. Pure: no clock, no I/O.
 *
 * - default threshold      t = ceil(2n / 3)
 * - threshold bounds        max(2, floor(n/2) + 1) ≤ t ≤ n
 * - completion quorum       max(t_new, floor(n/2) + 1)
 * - churn cap (default)     max(1, floor(|old holders| / 3)) newcomers per session
 * - interval boundary       floor(now / interval) · interval
 * - windows must fit        deal + ack + confirm + finalityLag ≤ interval, each ≥ 1 s
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

export function churnCap(govCap: number, oldHolders: number): number {
  return govCap > 0 ? govCap : Math.max(1, Math.floor(oldHolders / 3));
}

export function boundaryOf(now: number, interval: number): number {
  return Math.floor(now / interval) * interval;
}

export function windowsFit(deal: number, ack: number, confirm: number, finalityLag: number, interval: number): boolean {
  const ok = (v: number) => Number.isInteger(v) && v >= 1;
  return ok(deal) && ok(ack) && ok(confirm) && ok(interval) && Number.isInteger(finalityLag) && finalityLag >= 0
    && deal + ack + confirm + finalityLag <= interval;
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
  | { readonly ok: false; readonly code: 'GenesisNotArmed' | 'NotEnoughOperators' | 'ThresholdOutOfBounds' | 'BoundaryNotReached' | 'PreviousSessionOpen'; readonly message: string }
  | {
      readonly ok: true;
      readonly snapshot: Omit<SessionSnapshot, 'id' | 'openedAt' | 'dealWindow' | 'ackWindow' | 'confirmWindow'>;
    };

export interface PlanInput {
  readonly now: number;
  readonly governance: Governance;
  /** Registered operators in registration order. */
  readonly operators: readonly OperatorRecord[];
  readonly latest: Session | null;
  readonly active: VersionRecord | null;
  readonly mpkPinned: boolean;
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
  const members = operators.filter((o) => o.status === 'active');
  if (!mpkPinned) {
    if (g.genesisMinOperators === 0) return { ok: false, code: 'GenesisNotArmed', message: 'governance has not armed genesis' };
    const need = Math.max(MIN_THRESHOLD, g.genesisMinOperators);
    if (members.length < need) {
      return { ok: false, code: 'NotEnoughOperators', message: `genesis needs ${need} operators, ${members.length} registered` };
    }
    const t = effectiveThreshold(g.thresholdOverride, members.length);
    if (t === null) return thresholdRefusal(g.thresholdOverride, members.length);
    const addrs = members.map((o) => o.address);
    return {
      ok: true,
      snapshot: {
        kind: 'dkg', boundary, dealers: addrs, recipients: addrs, recipientKeys: members.map((o) => o.sessionKey),
        tNew: t, tOld: 0, sourceVersion: 0, sourcePolyHash: `0x${'0'.repeat(64)}`, quorum: completionQuorum(t, addrs.length),
      },
    };
  }
  if (!active) throw new Error('planSession: MPK pinned but no active version');
  const holders = new Set(active.holders);
  const staying = members.filter((o) => holders.has(o.address));
  const cap = churnCap(g.churnCap, active.holders.length);
  const newcomers = members.filter((o) => !holders.has(o.address)).slice(0, cap);
  const admitted = new Set([...staying, ...newcomers].map((o) => o.address));
  const recipients = members.filter((o) => admitted.has(o.address));
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

function thresholdRefusal(override: number, n: number): SessionPlan {
  const { min, max } = thresholdBounds(n);
  return {
    ok: false,
    code: 'ThresholdOutOfBounds',
    message: `threshold override ${override} is outside ${min}..${max} for ${n} operators; governance must change it`,
  };
}

/** Operators removed from the registry when a session completes: leaving and not holding the new version. */
export function operatorsToRemove(operators: readonly OperatorRecord[], newHolders: readonly Address[]): Address[] {
  const keep = new Set(newHolders);
  return operators.filter((o) => o.status === 'leaving' && !keep.has(o.address)).map((o) => o.address);
}
