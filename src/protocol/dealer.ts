/**
 * @module
 * The dealer's round machine (SPEC 4 step 1). A DKG dealer shares a fresh random secret; a
 * reshare dealer shares its share of the source version (constant term a_0 = s_i, so its
 * constant commitment equals its public share PK_i and everyone can check it). The deal is
 * one ledger transaction: commitments C_k = a_k·G2, one ephemeral secp256k1 key E, and the
 * shares f(x_j) sealed to each recipient's session key under (domain, session, dealer, j).
 *
 *   status        entered when                                         terminal
 *   waiting       the node sees a session that lists it as a dealer    no
 *   dealt         it built its deal (outbox: submitDeal)               yes
 *   missed        the deal window closed before it could deal          yes
 *   cannot-deal   reshare without the source share, or consent refused yes
 *
 * The polynomial lives only inside `deal-window-open`: the state keeps the public deal (to
 * resubmit after a crash), never the coefficients.
 *
 * A recipient whose snapshot key is not a valid point (`recipientSessionKey`) is that
 * recipient's problem, not the dealer's: its slot gets random bytes nobody can open, every
 * other recipient is sealed to as usual, and the deal is as well-formed as any other. The
 * state lists those recipients (`unusableKeys`) so that the node can warn their operators.
 */
import * as fr from '../crypto/fr.ts';
import { operatorX } from '../crypto/operator-x.ts';
import type { Rng } from '../crypto/rng.ts';
import { sealDeal } from '../crypto/seal.ts';
import { deal as vssDeal } from '../crypto/vss.ts';
import { recipientSessionKey, sealContext } from './deal-codec.ts';
import { bytesToHex } from './hex.ts';
import type { Address, DealSubmission, SessionSnapshot } from './ledger.ts';
import { encodePoly } from './round-outcome.ts';
import { checkEdge, type TransitionResult } from './transition.ts';

export type DealerStatus = 'waiting' | 'dealt' | 'missed' | 'cannot-deal';
export type DealerInputType = 'deal-window-open' | 'deal-window-closed';
export type DealerInput = { readonly type: DealerInputType };

export interface DealerState {
  readonly machine: 'dealer';
  readonly session: number;
  readonly status: DealerStatus;
  /** The deal as submitted (public data), kept to resubmit after a restart. */
  readonly deal?: Omit<DealSubmission, 'type' | 'from'>;
  /** Dealt: recipients whose snapshot session key is not a valid point (sealed nothing usable). */
  readonly unusableKeys?: readonly Address[];
  readonly reason?: string;
}

export interface DealerContext {
  readonly rng: Rng;
  readonly domain: Uint8Array;
  readonly snapshot: SessionSnapshot;
  readonly me: Address;
  /** Reshare: this node's share of the source version (null if it does not hold it). */
  readonly sourceShare: bigint | null;
  /** `--threshold-override N`: take part only in sessions whose tNew is N (SPEC 6). */
  readonly consentThreshold: number | null;
}

export const DEALER_TRANSITIONS: Readonly<Record<DealerStatus, readonly DealerInputType[]>> = {
  waiting: ['deal-window-open', 'deal-window-closed'],
  dealt: [],
  missed: [],
  'cannot-deal': [],
};

export function initDealer(snapshot: SessionSnapshot, me: Address): DealerState | null {
  return snapshot.dealers.includes(me) ? { machine: 'dealer', session: snapshot.id, status: 'waiting' } : null;
}

export function dealerTransition(state: DealerState, input: DealerInput, ctx: DealerContext): TransitionResult<DealerState> {
  const bad = checkEdge('dealer', DEALER_TRANSITIONS, state.status, input.type);
  if (bad) return { ok: false, error: bad };
  if (input.type === 'deal-window-closed') return { ok: true, state: { ...state, status: 'missed' }, outbox: [] };

  const { snapshot } = ctx;
  const refuse = (reason: string): TransitionResult<DealerState> => ({ ok: true, state: { ...state, status: 'cannot-deal', reason }, outbox: [] });
  if (ctx.consentThreshold !== null && ctx.consentThreshold !== snapshot.tNew) {
    return refuse(`session threshold ${snapshot.tNew} differs from --threshold-override ${ctx.consentThreshold}`);
  }
  let constant: bigint | undefined;
  if (snapshot.kind === 'reshare') {
    if (ctx.sourceShare === null) return refuse(`no share of source version ${snapshot.sourceVersion}`);
    constant = fr.aScalar(ctx.sourceShare, 'sourceShare');
  }
  const { body, unusableKeys } = buildDeal(ctx, constant);
  const dealt: DealerState = { ...state, status: 'dealt', deal: body, ...(unusableKeys.length > 0 ? { unusableKeys } : {}) };
  return { ok: true, state: dealt, outbox: [{ kind: 'deal', body }] };
}

function buildDeal(ctx: DealerContext, constant: bigint | undefined): { body: Omit<DealSubmission, 'type' | 'from'>; unusableKeys: Address[] } {
  const { snapshot, rng, domain, me } = ctx;
  const xs = snapshot.recipients.map((r) => operatorX(r));
  const { commitments, shares } = vssDeal(rng, snapshot.tNew, xs, constant);
  const keys = snapshot.recipients.map((_, j) => recipientSessionKey(snapshot, j));
  const sealed = sealDeal(
    snapshot.recipients.map((recipient, j) => ({
      publicKey: keys[j] ?? null,
      ctx: sealContext(domain, snapshot, me, recipient),
      share: fr.toBytes(shares[j] as bigint),
    })),
    rng,
  );
  return {
    body: {
      session: snapshot.id,
      commitments: bytesToHex(encodePoly(commitments)),
      ephemeralKey: bytesToHex(sealed.ephemeralPublicKey),
      sealedShares: sealed.sealed.map(bytesToHex),
    },
    unusableKeys: snapshot.recipients.filter((_, j) => keys[j] === null),
  };
}
