/**
 * @module
 * A key version's life in one operator's store (SPEC 4, v3: act on the latest block, commit
 * on finality), as one transition table and pure functions that return the store operations
 * a fact calls for. The runtime (`src/node/operator-loop.ts`) gathers the facts, calls these,
 * and applies the operations in the same transaction as the round state they belong to.
 *
 *   state     meaning                                             entered on
 *   absent    the store holds nothing of this version             (start), lost-final,
 *                                                                 abandoned, expired
 *   pending   this node confirmed the round; its share is kept,   confirmed,
 *             not served                                          completion-reorged
 *   active    the latest block shows the session completed with   completed
 *             this node's hash: served (the newest active one)
 *   retired   a later completion is final: kept, never served     superseded-final
 *             for new requests (historical lookups only)
 *
 *   input               the fact                                                    edges
 *   confirmed           the recipient confirmed: its new share is stored            absent → pending,
 *                                                                                    pending → pending
 *   completed           the latest block shows the completion with this hash        pending → active
 *   completion-reorged  a reorg took that completion back (not final yet)           active → pending
 *   superseded-final    a later version's completion with this node's hash is final active → retired
 *   lost-final          the session's final outcome is a failure or another hash    pending → absent
 *   abandoned           a reorg reopened the session id with another snapshot       pending, active → absent
 *   expired             retention: a later version was the source of a completed    pending, active,
 *                       reshare (SPEC 4)                                             retired → absent
 *
 * Why these edges and no others: nothing irreversible happens on the latest block alone —
 * retiring and deleting wait for a final fact (superseded-final, lost-final, expired), and a
 * final fact cannot be reorged, so `retired` never goes back. `abandoned` deletes a version
 * that was never final (a final completion's session cannot be reopened), and the version it
 * would have replaced is still active, since retiring waits for finality. A `completed` edge
 * from `retired` would serve a share a later final version replaced: refused.
 *
 * A forbidden edge is never applied: the functions return it as a `TransitionError` beside
 * the operations (the runtime logs it; the store keeps what it has — never lose a share).
 */
import type { Hex } from './ledger.ts';
import type { RecipientStatus } from './recipient.ts';
import { checkEdge, TransitionError } from './transition.ts';

export type VersionStatus = 'pending' | 'active' | 'retired';
export type VersionState = VersionStatus | 'absent';
export type VersionInput = 'confirmed' | 'completed' | 'completion-reorged' | 'superseded-final' | 'lost-final' | 'abandoned' | 'expired';

export const VERSION_STATES: readonly VersionState[] = ['absent', 'pending', 'active', 'retired'];
export const VERSION_INPUTS: readonly VersionInput[] = ['confirmed', 'completed', 'completion-reorged', 'superseded-final', 'lost-final', 'abandoned', 'expired'];

/** Every allowed edge: state → inputs it accepts (the module comment gives each target). */
export const VERSION_TRANSITIONS: Readonly<Record<VersionState, readonly VersionInput[]>> = {
  absent: ['confirmed'],
  pending: ['confirmed', 'completed', 'lost-final', 'abandoned', 'expired'],
  active: ['completion-reorged', 'superseded-final', 'abandoned', 'expired'],
  retired: ['expired'],
};

const TARGET: Readonly<Record<VersionInput, VersionState>> = {
  confirmed: 'pending',
  completed: 'active',
  'completion-reorged': 'pending',
  'superseded-final': 'retired',
  'lost-final': 'absent',
  abandoned: 'absent',
  expired: 'absent',
};

/** The state `input` takes `from` to, or the named error of a forbidden edge. */
export function versionTransition(from: VersionState, input: VersionInput): { readonly ok: true; readonly to: VersionState } | { readonly ok: false; readonly error: TransitionError } {
  const error = checkEdge('version', VERSION_TRANSITIONS, from, input);
  return error === null ? { ok: true, to: TARGET[input] } : { ok: false, error };
}

/** What the store holds of a version (no share: the rules never need it). */
export interface HeldVersion {
  readonly id: number;
  readonly status: VersionStatus;
  readonly publicPolyHash: Hex;
}

/** A store operation. `put-pending` stores the share the step produced (the runtime has it). */
export type VersionOp =
  | { readonly op: 'put-pending'; readonly id: number }
  | { readonly op: 'set-status'; readonly id: number; readonly status: VersionStatus; readonly activatedAt?: number }
  | { readonly op: 'delete'; readonly id: number };

export interface VersionPlan {
  readonly ops: readonly VersionOp[];
  /** Facts that would have taken a version over a forbidden edge: not applied. */
  readonly refused: readonly TransitionError[];
}

class Planner {
  readonly ops: VersionOp[] = [];
  readonly refused: TransitionError[] = [];

  /** Applies `input` to version `id` in state `from`; returns the new state (unchanged if refused). */
  edge(id: number, from: VersionState, input: VersionInput, activatedAt?: number): VersionState {
    const t = versionTransition(from, input);
    if (!t.ok) {
      this.refused.push(new TransitionError('version', from, input, `version ${id}: no transition from '${from}' on '${input}'`));
      return from;
    }
    if (t.to === 'absent') this.ops.push({ op: 'delete', id });
    else if (input === 'confirmed') this.ops.push({ op: 'put-pending', id });
    else this.ops.push({ op: 'set-status', id, status: t.to, ...(activatedAt !== undefined ? { activatedAt } : {}) });
    return t.to;
  }

  plan(): VersionPlan {
    return { ops: this.ops, refused: this.refused };
  }
}

/** What a round step of session `id` saw, for its version. */
export interface StepFacts {
  readonly id: number;
  /** The step produced this node's new share (it confirmed), with this polynomial hash. */
  readonly produced: boolean;
  /** The recipient's polynomial hash after the step (null: it has none). */
  readonly polyHash: Hex | null;
  readonly recipientBefore: RecipientStatus | null;
  readonly recipientAfter: RecipientStatus | null;
  /** Chain time of the completion (when the step activates the version). */
  readonly completedAt: number;
}

/**
 * The latest block's half of a round step: a confirmation stores the share as pending; the
 * recipient turning active (the session completed with its hash) makes it active; a reorg that
 * took the completion back (active → not active) makes it pending again. One step may take a
 * late recipient through `confirmed` to `active`: both edges, in order.
 */
export function versionsAfterStep(held: HeldVersion | null, f: StepFacts): VersionPlan {
  const p = new Planner();
  let state: VersionState = held?.status ?? 'absent';
  let hash = held?.publicPolyHash ?? null;
  if (f.produced && f.polyHash !== null && p.edge(f.id, state, 'confirmed') === 'pending') {
    state = 'pending';
    hash = f.polyHash;
  }
  if (state !== 'absent' && hash !== null && hash === f.polyHash) {
    if (f.recipientAfter === 'active' && state === 'pending') p.edge(f.id, state, 'completed', f.completedAt);
    else if (f.recipientAfter !== 'active' && f.recipientBefore === 'active' && state === 'active') p.edge(f.id, state, 'completion-reorged');
  }
  return p.plan();
}

/** A reorg reopened session `held.id` with another snapshot: what that round produced goes. */
export function versionsOnAbandon(held: HeldVersion | null): VersionPlan {
  const p = new Planner();
  // A retired version's completion was final: the session cannot have been reopened (kept).
  if (held !== null && held.status !== 'retired') p.edge(held.id, held.status, 'abandoned');
  return p.plan();
}

/**
 * Session `id`'s outcome is final. `completedMine`: it completed with `mine`, this node's
 * hash — every older active version is retired. Otherwise (a failure, or another hash won)
 * the share this node confirmed with `mine` is deleted.
 */
export function versionsOnFinalOutcome(versions: readonly HeldVersion[], id: number, completedMine: boolean, mine: Hex | null): VersionPlan {
  const p = new Planner();
  if (completedMine) {
    for (const v of versions) if (v.id < id && v.status === 'active') p.edge(v.id, v.status, 'superseded-final');
  } else {
    const v = versions.find((x) => x.id === id);
    if (v && v.status !== 'retired' && mine !== null && v.publicPolyHash === mine) p.edge(v.id, v.status, 'lost-final');
  }
  return p.plan();
}

/**
 * Retention (SPEC 4, issue 5): version v is deleted iff some version w > v.id was the source
 * of a reshare whose completion is final (`completedSourceIds`). Why that and not "once a
 * newer version is active": a version is only proven usable once enough of its holders dealt
 * from it in a reshare that completed; until then the older one is kept as a fallback. The
 * source need not be held by this node: the fact that matters is on-chain.
 */
export function versionsToDelete(versions: readonly { readonly id: number }[], completedSourceIds: ReadonlySet<number>): number[] {
  let newestSource = -Infinity;
  for (const id of completedSourceIds) if (id > newestSource) newestSource = id;
  return versions
    .map((v) => v.id)
    .filter((id) => id < newestSource)
    .sort((a, b) => a - b);
}

/** `versionsToDelete` as store operations, each checked against the table. */
export function versionsOnRetention(versions: readonly HeldVersion[], completedSourceIds: ReadonlySet<number>): VersionPlan {
  const p = new Planner();
  const expire = new Set(versionsToDelete(versions, completedSourceIds));
  for (const v of versions) if (expire.has(v.id)) p.edge(v.id, v.status, 'expired');
  return p.plan();
}

/**
 * The store is older than the chain (restored from an old backup, or its node missed the
 * reshares since): the final view's active version `chainId` is not held here and every held
 * active version is older. Those were superseded by a final completion this node took no part
 * in, so they are retired; the ones retention expires (`completedSourceIds`, as in
 * `versionsOnRetention`) are deleted. Nothing at or above `chainId` is touched, and a pending
 * version is left to the loop (its session's final outcome decides it).
 */
export function versionsOnStaleStore(versions: readonly HeldVersion[], chainId: number, completedSourceIds: ReadonlySet<number>): VersionPlan {
  const p = new Planner();
  const expire = new Set(versionsToDelete(versions, completedSourceIds));
  for (const v of versions) {
    if (v.id >= chainId) continue;
    if (expire.has(v.id)) p.edge(v.id, v.status, 'expired');
    else if (v.status === 'active') p.edge(v.id, v.status, 'superseded-final');
  }
  return p.plan();
}
