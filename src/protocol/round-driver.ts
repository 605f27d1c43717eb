/**
 * @module
 * Turns what a node reads from the ledger into machine inputs (SPEC 4). One pure step:
 * given the node's round state and its view of the session (snapshot, progress, submissions,
 * chain time), feed the machines the inputs that are due, and return the new state and the
 * submissions to send, including resends of anything the ledger does not show yet (which is
 * how a node resumes an in-flight session after a crash). The simulator and `kms-server`
 * both drive rounds through this function; neither decides anything else.
 *
 * Inputs are derived from the phase alone, so a node that sees the chain late acts late but
 * never acts on a partial view: deals are final once the deal window has closed, acks once
 * the ack window has closed.
 *
 * The view is the **latest** block (SPEC 4, v3), which a reorg can take back. So the driver
 * is idempotent over views: whatever this node has produced (its deal, its ack, its
 * confirmation) is sent again whenever its window is open and the view does not show it —
 * after a crash, and after a reorg dropped it — and a recipient whose completion or failure
 * the latest block no longer shows goes back to `confirmed` (see recipient.ts).
 *
 * A round state belongs to one snapshot: `snapshotHash` is checked against the view, so a
 * session id that a reorg reopened with another snapshot is never fed to the old state.
 */
import type { G2 } from '../crypto/bls12381/types.ts';
import type { Rng } from '../crypto/rng.ts';
import { dealerTransition, initDealer, type DealerInputType, type DealerState } from './dealer.ts';
import type { Address, Hex, RecordedSubmission, Session } from './ledger.ts';
import { initRecipient, ownSessionKeyUnusable, recipientTransition, type RecipientInput, type RecipientProduced, type RecipientState } from './recipient.ts';
import { phaseAt } from './session-rules.ts';
import type { Outgoing } from './transition.ts';
import { TransitionError } from './transition.ts';

export interface RoundState {
  readonly session: number;
  /** The snapshot this state was built for (`Session.snapshotHash`): (session, snapshotHash) names the round. */
  readonly snapshotHash: Hex;
  readonly dealer: DealerState | null;
  readonly recipient: RecipientState | null;
}

export interface RoundView {
  readonly session: Session;
  readonly submissions: readonly RecordedSubmission[];
  /** Chain time as this node sees it. */
  readonly now: number;
  /** Reshare: the source version's public polynomial, checked against the snapshot's hash. */
  readonly sourcePoly: readonly G2[] | null;
  readonly mpk: G2 | null;
}

export interface RoundKeys {
  /** This node's share of the source version, if it holds it. */
  readonly sourceShare: bigint | null;
  /** Secret half of the session key the snapshot lists for this node, if it is a recipient. */
  readonly sessionSecret: Uint8Array | null;
}

export interface RoundContext {
  readonly rng: Rng;
  readonly domain: Uint8Array;
  readonly me: Address;
  readonly consentThreshold: number | null;
}

export interface StepResult {
  readonly state: RoundState;
  /** Submissions to send now: new ones and resends of those the ledger does not show yet. */
  readonly outbox: readonly Outgoing[];
  /** Human-readable transitions for the log ("recipient: awaiting-deals → acked"). */
  readonly transitions: readonly string[];
  /**
   * Key material this step created (a confirmation's share and next session key), to be
   * stored with the new state in one transaction and never inside it.
   */
  readonly produced: RecipientProduced | null;
}

export class MissingSessionKeyError extends Error {
  override readonly name = 'MissingSessionKeyError';
}

export function initRound(session: Session, me: Address, consentThreshold: number | null): RoundState {
  const s = session.snapshot;
  return { session: s.id, snapshotHash: session.snapshotHash, dealer: initDealer(s, me), recipient: initRecipient(s, me, consentThreshold) };
}

/**
 * True when neither role has anything left to do in this session **as the latest block
 * shows it**. `active` and `discarded` count as finished here, but a reorg can reopen them:
 * the runtime keeps stepping a finished round until its outcome is final.
 */
export function roundFinished(state: RoundState): boolean {
  const dealerDone = state.dealer === null || state.dealer.status !== 'waiting';
  const r = state.recipient?.status;
  const recipientDone = r === undefined || r === 'active' || r === 'failed' || r === 'discarded' || r === 'declined';
  return dealerDone && recipientDone;
}

export function stepRound(state: RoundState, view: RoundView, keys: RoundKeys, ctx: RoundContext): StepResult {
  const snapshot = view.session.snapshot;
  if (snapshot.id !== state.session) throw new TransitionError('round', String(state.session), `view of session ${snapshot.id}`);
  if (view.session.snapshotHash !== state.snapshotHash) {
    throw new TransitionError('round', `${state.session}@${state.snapshotHash}`, `view of snapshot ${view.session.snapshotHash}`, `session ${snapshot.id}: this round state belongs to snapshot ${state.snapshotHash}, the view shows ${view.session.snapshotHash} (a reorg reopened the session)`);
  }
  const phase = phaseAt(view.session, view.now);
  const outbox: Outgoing[] = [];
  const transitions: string[] = [];
  let produced: RecipientProduced | null = null;
  let { dealer, recipient } = state;

  if (dealer && dealer.status === 'waiting') {
    const input: DealerInputType = phase === 'deal' ? 'deal-window-open' : 'deal-window-closed';
    const r = dealerTransition(dealer, { type: input }, { rng: ctx.rng, domain: ctx.domain, snapshot, me: ctx.me, sourceShare: keys.sourceShare, consentThreshold: ctx.consentThreshold });
    if (!r.ok) throw r.error;
    transitions.push(`dealer: ${dealer.status} → ${r.state.status}${r.state.reason ? ` (${r.state.reason})` : ''}`);
    dealer = r.state;
    outbox.push(...r.outbox);
  } else if (dealer?.status === 'dealt' && dealer.deal && phase === 'deal' && !submitted(view, ctx.me, 'deal')) {
    outbox.push({ kind: 'deal', body: dealer.deal });
  }

  // A recipient may take up to two steps in one view (e.g. a late node: ack, then confirm).
  for (let guard = 0; recipient && guard < 3; guard++) {
    const input = recipientInput(recipient, view, phase);
    if (!input) break;
    // A key that is not a point has no secret anywhere: the machine itself fails that case.
    if ((input.type === 'deals-final' || input.type === 'acks-final') && !keys.sessionSecret && !ownSessionKeyUnusable(snapshot, ctx.me)) {
      throw new MissingSessionKeyError(`session ${snapshot.id}: no secret for the session key the snapshot lists for ${ctx.me}`);
    }
    const r = recipientTransition(recipient, input, {
      rng: ctx.rng, domain: ctx.domain, snapshot, me: ctx.me, sessionSecret: keys.sessionSecret ?? new Uint8Array(32), consentThreshold: ctx.consentThreshold,
    });
    if (!r.ok) throw r.error;
    transitions.push(`recipient: ${recipient.status} → ${r.state.status}${r.state.reason ? ` (${r.state.reason})` : ''}`);
    recipient = r.state;
    if (r.produced) produced = r.produced;
    // An ack produced after the ack window closed would be refused: skip sending it.
    outbox.push(...r.outbox.filter((o) => o.kind !== 'ack' || phase === 'ack'));
  }
  // Whatever this node produced earlier and the view does not show, within its window: a
  // restart, or a reorg that dropped it (never twice in one step).
  if (recipient) for (const o of resends(recipient, view, phase, ctx.me)) if (!outbox.some((x) => x.kind === o.kind)) outbox.push(o);
  return { state: { session: state.session, snapshotHash: state.snapshotHash, dealer, recipient }, outbox, transitions, produced };
}

function recipientInput(r: RecipientState, view: RoundView, phase: ReturnType<typeof phaseAt>): RecipientInput | null {
  const outcome = view.session.progress.outcome;
  switch (r.status) {
    case 'awaiting-deals':
      if (phase === 'ack') return { type: 'deals-final', submissions: view.submissions };
      if (phase === 'confirm') return { type: 'acks-final', submissions: view.submissions, sourcePoly: view.sourcePoly, mpk: view.mpk };
      if (phase === 'closed') return { type: 'confirm-window-closed' };
      return null;
    case 'acked':
      if (phase === 'confirm') return { type: 'acks-final', submissions: view.submissions, sourcePoly: view.sourcePoly, mpk: view.mpk };
      if (phase === 'closed') return { type: 'confirm-window-closed' };
      return null;
    case 'confirmed':
      if (outcome === 'completed') return { type: 'completed', polyHash: view.session.progress.completedPolyHash as Hex };
      if (outcome === 'failed') return { type: 'session-failed' };
      return null;
    // A reorg can take back what the latest block showed.
    case 'active':
      if (outcome === 'pending') return { type: 'outcome-pending' };
      if (outcome === 'failed') return { type: 'session-failed' };
      return view.session.progress.completedPolyHash !== r.publicPolyHash ? { type: 'completed', polyHash: view.session.progress.completedPolyHash as Hex } : null;
    case 'discarded':
      if (outcome === 'pending') return { type: 'outcome-pending' };
      return outcome === 'completed' && view.session.progress.completedPolyHash === r.publicPolyHash ? { type: 'completed', polyHash: r.publicPolyHash } : null;
    default:
      return null;
  }
}

function submitted(view: RoundView, me: Address, type: RecordedSubmission['type']): boolean {
  return view.submissions.some((s) => s.from === me && s.type === type);
}

/** What this recipient already sent and the view does not show, in the window where it still counts. */
function resends(r: RecipientState, view: RoundView, phase: ReturnType<typeof phaseAt>, me: Address): Outgoing[] {
  const acked = r.status === 'acked' || r.status === 'confirmed' || r.status === 'active' || r.status === 'discarded';
  if (acked && r.complaints !== undefined && phase === 'ack' && !submitted(view, me, 'ack')) {
    return [{ kind: 'ack', body: { session: view.session.snapshot.id, complaints: r.complaints } }];
  }
  if (r.status === 'confirmed' && phase === 'confirm' && !submitted(view, me, 'confirm') && r.publicPolyHash && r.nextSessionKey) {
    const published = view.submissions.some((s) => s.type === 'confirm' && s.publicPolyHash === r.publicPolyHash && s.publicPoly !== '0x');
    return [{
      kind: 'confirm',
      body: { session: view.session.snapshot.id, publicPolyHash: r.publicPolyHash, publicPoly: published ? '0x' : (r.publicPoly ?? '0x'), nextSessionKey: r.nextSessionKey },
    }];
  }
  return [];
}
