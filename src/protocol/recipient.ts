/**
 * @module
 * The recipient's round machine (SPEC 4 steps 2, 4, 5).
 *
 *   status          entered when                                                     terminal
 *   awaiting-deals  the node sees a session that lists it as a recipient             no
 *   acked           the deal window closed; it opened and checked its shares and
 *                   acked, complaining with evidence about every bad one (outbox)    no
 *   confirmed       the ack window closed; the chain-derived outcome is ok, its
 *                   combined share passes s_j·G2 == PK_j and A_0 == MPK; it keeps
 *                   the share as pending and confirms publicPolyHash (outbox)        no
 *   active          the session completed on-chain with its hash                     at latest
 *   failed          it cannot confirm (outcome failed, a QUAL dealer's share to it
 *                   is bad, self-check failed, window missed): it never activates    yes
 *   discarded       it confirmed, but the session failed or another hash won         at latest
 *   declined        its --threshold-override differs from the session's threshold   yes
 *
 * `active` and `discarded` are what the **latest** block says (SPEC 4, v3: act on latest); a
 * reorg can take either back. They have edges out: the outcome becomes pending again
 * (`outcome-pending` → confirmed: it resends its confirmation while the window is open), the
 * completion turns out to be another hash or a failure (active → discarded), or its own hash
 * completes after all (discarded → active). That is why a confirmed recipient's share is not
 * dropped when it is discarded: the runtime keeps the pending version until the outcome is
 * final, and only then deletes it (an irreversible step). `failed` never confirmed, so it
 * holds nothing to come back with.
 *
 * No state holds a share or a session secret beyond the round's own work: the opened shares
 * (`shares`, between ack and confirm) are cleared at every exit from `acked`; the combined
 * share and the next session key's secret are returned beside the state (`produced`), never
 * in it, and the runtime stores them encrypted in their own tables in the same transaction.
 *
 * Shares are checked in one batch (random linear combination) and per dealer only when the
 * batch fails. Complaints reveal K = x_j·E for that deal alone, with a Chaum–Pedersen proof.
 *
 * A node whose own key in the snapshot is not a valid point (`recipientSessionKey`) has no
 * secret for it and was sealed nothing usable: at its first step (deals-final or acks-final)
 * it fails, without acking or complaining, and the round goes on without it.
 */
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import { revealForComplaint } from '../crypto/chaum-pedersen.ts';
import * as fr from '../crypto/fr.ts';
import { operatorX } from '../crypto/operator-x.ts';
import type { Rng } from '../crypto/rng.ts';
import { encodeSealContext, generateSealKeyPair, open } from '../crypto/seal.ts';
import { lagrangeCombineShares, publicShare, sumShares, verifyShares } from '../crypto/vss.ts';
import { parseDeal, recipientSessionKey, sealContext, type ParsedDeal } from './deal-codec.ts';
import { bytesToHex } from './hex.ts';
import type { Address, Complaint, Hex, RecordedSubmission, SessionSnapshot } from './ledger.ts';
import { computeRoundOutcome } from './round-outcome.ts';
import { checkEdge, type TransitionResult } from './transition.ts';

export type RecipientStatus = 'awaiting-deals' | 'acked' | 'confirmed' | 'active' | 'failed' | 'discarded' | 'declined';
export type RecipientInput =
  | { readonly type: 'deals-final'; readonly submissions: readonly RecordedSubmission[] }
  | {
      readonly type: 'acks-final';
      readonly submissions: readonly RecordedSubmission[];
      /** Reshare: the source version's public polynomial, checked against the snapshot's hash. */
      readonly sourcePoly: readonly G2[] | null;
      /** Reshare: the pinned MPK. */
      readonly mpk: G2 | null;
    }
  | { readonly type: 'confirm-window-closed' }
  | { readonly type: 'completed'; readonly polyHash: Hex }
  | { readonly type: 'session-failed' }
  /** The latest block shows the session pending again (a reorg undid its completion or failure). */
  | { readonly type: 'outcome-pending' };
export type RecipientInputType = RecipientInput['type'];

export interface RecipientState {
  readonly machine: 'recipient';
  readonly session: number;
  readonly status: RecipientStatus;
  /** Shares this node opened and verified, by dealer (hex scalars). Secret. */
  readonly shares?: Readonly<Record<Address, Hex>>;
  /** Acked: the complaints sent (public evidence), kept to resend after a restart. */
  readonly complaints?: readonly Complaint[];
  /** Confirmed: the publicPolyHash it confirmed. */
  readonly publicPolyHash?: Hex;
  /** Confirmed: the public polynomial it confirmed (hex, 96 bytes per point). */
  readonly publicPoly?: Hex;
  /** Confirmed: the public half of the session key its confirmation publishes (the secret is `produced`). */
  readonly nextSessionKey?: Hex;
  readonly reason?: string;
}

/** Key material a confirmation produces: returned beside the state, never inside it. */
export interface RecipientProduced {
  /** This node's share of the new version. Secret. */
  readonly share: bigint;
  /** The session key the confirmation publishes. The secret half is secret. */
  readonly nextSessionKey: { readonly secretKey: Uint8Array; readonly publicKey: Hex };
}

export interface RecipientContext {
  readonly rng: Rng;
  readonly domain: Uint8Array;
  readonly snapshot: SessionSnapshot;
  readonly me: Address;
  /** Secret half of this node's key listed in the snapshot's recipientKeys. */
  readonly sessionSecret: Uint8Array;
  readonly consentThreshold: number | null;
}

export const RECIPIENT_TRANSITIONS: Readonly<Record<RecipientStatus, readonly RecipientInputType[]>> = {
  'awaiting-deals': ['deals-final', 'acks-final', 'confirm-window-closed', 'session-failed', 'completed'],
  acked: ['acks-final', 'confirm-window-closed', 'session-failed', 'completed'],
  confirmed: ['completed', 'session-failed'],
  active: ['completed', 'session-failed', 'outcome-pending'],
  failed: [],
  discarded: ['completed', 'outcome-pending'],
  declined: [],
};

export function initRecipient(snapshot: SessionSnapshot, me: Address, consentThreshold: number | null): RecipientState | null {
  if (!snapshot.recipients.includes(me)) return null;
  if (consentThreshold !== null && consentThreshold !== snapshot.tNew) {
    return {
      machine: 'recipient', session: snapshot.id, status: 'declined',
      reason: `session threshold ${snapshot.tNew} differs from --threshold-override ${consentThreshold}`,
    };
  }
  return { machine: 'recipient', session: snapshot.id, status: 'awaiting-deals' };
}

/**
 * True when the snapshot lists `me` as a recipient with a key that is not a valid compressed
 * secp256k1 point: nobody could seal to it, so this node cannot take part in the session.
 */
export function ownSessionKeyUnusable(snapshot: SessionSnapshot, me: Address): boolean {
  const j = snapshot.recipients.indexOf(me);
  return j >= 0 && recipientSessionKey(snapshot, j) === null;
}

export const UNUSABLE_OWN_KEY_REASON = "this node's session key in the snapshot is not a valid secp256k1 point: no share to it can be opened";

export function recipientTransition(state: RecipientState, input: RecipientInput, ctx: RecipientContext): TransitionResult<RecipientState, RecipientProduced> {
  const bad = checkEdge('recipient', RECIPIENT_TRANSITIONS, state.status, input.type);
  if (bad) return { ok: false, error: bad };
  const to = (status: RecipientStatus, extra: Partial<RecipientState> = {}): TransitionResult<RecipientState, RecipientProduced> => {
    const { reason: _reason, ...rest } = state;
    return { ok: true, state: { ...rest, ...extra, status }, outbox: [] };
  };
  if ((input.type === 'deals-final' || input.type === 'acks-final') && ownSessionKeyUnusable(ctx.snapshot, ctx.me)) {
    return to('failed', { reason: UNUSABLE_OWN_KEY_REASON, shares: {} });
  }
  // Did this node confirm (it holds a pending share of the hash it confirmed)?
  const confirmedOnce = state.status === 'confirmed' || state.status === 'active' || state.status === 'discarded';
  switch (input.type) {
    case 'deals-final': {
      const review = reviewDeals(ctx, input.submissions);
      const complaints: Complaint[] = review.bad.map((deal) => complain(ctx, deal));
      return {
        ok: true,
        state: { ...state, status: 'acked', shares: review.good, complaints },
        outbox: [{ kind: 'ack', body: { session: ctx.snapshot.id, complaints } }],
      };
    }
    case 'acks-final':
      return confirm(state, input, ctx);
    case 'confirm-window-closed':
      return to('failed', { reason: 'the confirm window closed before this node could confirm', shares: {} });
    case 'session-failed':
      return confirmedOnce
        ? to('discarded', { reason: 'the session failed on-chain', shares: {} })
        : to('failed', { reason: 'the session failed on-chain', shares: {} });
    case 'completed':
      if (!confirmedOnce) return to('failed', { reason: 'the session completed before this node confirmed', shares: {} });
      return input.polyHash === state.publicPolyHash
        ? to('active', { shares: {} })
        : to('discarded', { reason: `the session completed with ${input.polyHash}, not ${state.publicPolyHash}`, shares: {} });
    case 'outcome-pending':
      return to('confirmed', { shares: {} });
  }
}

interface Review {
  /** Verified shares from well-formed deals, by dealer. */
  readonly good: Record<Address, Hex>;
  /** Well-formed deals whose share to this node does not open or fails the Feldman check. */
  readonly bad: ParsedDeal[];
}

/** Opens and checks this node's share in every well-formed deal (one batch check). */
function reviewDeals(ctx: RecipientContext, submissions: readonly RecordedSubmission[]): Review {
  const { snapshot, me } = ctx;
  const j = snapshot.recipients.indexOf(me);
  const x = operatorX(me);
  const opened: { deal: ParsedDeal; share: bigint }[] = [];
  const bad: ParsedDeal[] = [];
  const seen = new Set<Address>();
  for (const s of submissions) {
    if (s.type !== 'deal' || seen.has(s.from) || !snapshot.dealers.includes(s.from)) continue;
    seen.add(s.from);
    const parsed = parseDeal(snapshot, s);
    if (!parsed.ok) continue; // public fault: every node excludes it without a complaint
    const share = openShare(ctx, parsed.deal, j);
    if (share === null) bad.push(parsed.deal);
    else opened.push({ deal: parsed.deal, share });
  }
  const check = verifyShares(opened.map((o) => o.deal.commitments), x, opened.map((o) => o.share), ctx.rng);
  const badIdx = new Set(check.bad);
  const good: Record<Address, Hex> = {};
  opened.forEach((o, i) => {
    if (badIdx.has(i)) bad.push(o.deal);
    else good[o.deal.dealer] = bytesToHex(fr.toBytes(o.share));
  });
  return { good, bad };
}

function openShare(ctx: RecipientContext, deal: ParsedDeal, j: number): bigint | null {
  try {
    const bytes = open(ctx.sessionSecret, deal.ephemeralKey, sealContext(ctx.domain, ctx.snapshot, deal.dealer, ctx.me), deal.sealedShares[j] as Uint8Array);
    return fr.fromBytes(bytes);
  } catch {
    return null;
  }
}

function complain(ctx: RecipientContext, deal: ParsedDeal): Complaint {
  const sctx = encodeSealContext(sealContext(ctx.domain, ctx.snapshot, deal.dealer, ctx.me));
  const { revealedKey, proof } = revealForComplaint(ctx.sessionSecret, deal.ephemeralKey, sctx, ctx.rng);
  return { dealer: deal.dealer, sharedKey: bytesToHex(revealedKey), proof: bytesToHex(proof) };
}

function confirm(
  state: RecipientState,
  input: Extract<RecipientInput, { type: 'acks-final' }>,
  ctx: RecipientContext,
): TransitionResult<RecipientState, RecipientProduced> {
  const { snapshot, me } = ctx;
  const fail = (reason: string): TransitionResult<RecipientState, RecipientProduced> => ({ ok: true, state: { ...state, status: 'failed', reason, shares: {} }, outbox: [] });
  const outcome = computeRoundOutcome({ domain: ctx.domain, snapshot, submissions: input.submissions, sourcePoly: input.sourcePoly });
  if (!outcome.ok) return fail(`only ${outcome.qual.length} dealers qualified, ${outcome.need} needed`);

  // Shares this node already verified at ack time, else open them now (it missed the ack window).
  const known = state.shares ?? (state.status === 'awaiting-deals' ? reviewDeals(ctx, input.submissions).good : {});
  const shares: bigint[] = [];
  for (const dealer of outcome.qual) {
    const h = known[dealer];
    if (h === undefined) return fail(`no valid share from qualified dealer ${dealer}`);
    shares.push(fr.fromBytes(Buffer.from(h.slice(2), 'hex')));
  }
  const share = snapshot.kind === 'dkg' ? sumShares(shares) : lagrangeCombineShares(shares, outcome.qual.map((d) => operatorX(d)));
  const pk = publicShare(outcome.publicPoly, operatorX(me));
  if (!bls.g2.equals(bls.g2.mul(bls.g2.generator, share), pk)) return fail('self-check failed: s_j·G2 differs from PK_j');
  if (snapshot.kind === 'reshare') {
    if (!input.mpk || !bls.g2.equals(outcome.publicPoly[0] as G2, input.mpk)) return fail('the new public polynomial does not keep the pinned MPK');
  }
  const alreadyPublished = input.submissions.some(
    (s) => s.type === 'confirm' && s.publicPolyHash === outcome.publicPolyHash && s.publicPoly !== '0x',
  );
  const polyHex = bytesToHex(outcome.publicPolyBytes);
  const next = generateSealKeyPair(ctx.rng);
  const nextSessionKey = bytesToHex(next.publicKey);
  return {
    ok: true,
    state: {
      ...state, status: 'confirmed', shares: {},
      publicPolyHash: outcome.publicPolyHash, publicPoly: polyHex, nextSessionKey,
    },
    outbox: [{
      kind: 'confirm',
      body: { session: snapshot.id, publicPolyHash: outcome.publicPolyHash, publicPoly: alreadyPublished ? '0x' : polyHex, nextSessionKey },
    }],
    produced: { share, nextSessionKey: { secretKey: next.secretKey, publicKey: nextSessionKey } },
  };
}
