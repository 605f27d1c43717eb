/**
 * @module
 * Byzantine operators as pluggable behaviours. A behaviour either rewrites the outbox the
 * honest machine produced (deals, acks, confirmations) or acts on its own each tick. Each one
 * is an attack the protocol must absorb (issue 3), with the verdict every honest node must
 * reach from chain data alone:
 *
 *   behaviour            what it sends                                   expected verdict
 *   malformedDeal        commitments that are not G2 points              dealer out: malformed-deal
 *   badShares(to)        a consistent deal, but f(x_j)+1 sealed to j     j complains, upheld: dealer out
 *   wrongConstant        reshare deal with a_0 ≠ its source share         dealer out: wrong-constant-term
 *   falseComplaint       complaint against an honest dealer, with a       void (share-valid / bad-proof);
 *                        true reveal (valid DLEQ) or a corrupted proof    only the complainer's share leaks
 *   complaintSpam        a true reveal against every dealer               all void
 *   withholdDeal/Ack/    nothing                                          the window runs to its deadline;
 *   Confirm                                                               the round completes without it
 *   registerMany(k)      k more registrations                            allow-list refuses them; if
 *                                                                          allowed, the churn cap admits
 *                                                                          a few per session
 */
import { revealForComplaint } from '../crypto/chaum-pedersen.ts';
import * as fr from '../crypto/fr.ts';
import { operatorX } from '../crypto/operator-x.ts';
import type { Rng } from '../crypto/rng.ts';
import { encodeSealContext, sealDeal } from '../crypto/seal.ts';
import { deal as vssDeal } from '../crypto/vss.ts';
import { parseDeal, sealContext } from '../protocol/deal-codec.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import type { Address, Complaint, DealSubmission, LedgerErrorCode, RecordedSubmission, SessionSnapshot } from '../protocol/ledger.ts';
import { encodePoly } from '../protocol/round-outcome.ts';
import type { Outgoing } from '../protocol/transition.ts';
import type { NodeIdentity } from './identity.ts';

export interface ByzantineContext {
  readonly me: Address;
  readonly snapshot: SessionSnapshot;
  /** The node's view of the session's submissions. */
  readonly submissions: readonly RecordedSubmission[];
  readonly domain: Uint8Array;
  readonly rng: Rng;
  /** Reshare: the node's share of the source version (it holds one if it is a dealer). */
  readonly sourceShare: bigint | null;
  /** The node's session secret for this session, if it is a recipient. */
  readonly sessionSecret: Uint8Array | null;
  /** Address of simulated node `index` (behaviours name victims by node index). */
  readonly addressOf: (index: number) => Address;
}

export interface ActContext {
  /** A deterministic identity (address, keys) for a label, e.g. a Sybil. */
  identity(label: string): NodeIdentity;
  /** Registers an identity from its own account; null on success, else the refusal code. */
  register(identity: NodeIdentity): Promise<LedgerErrorCode | null>;
  note(detail: string): void;
}

export interface Behaviour {
  readonly name: string;
  /** Rewrites what the honest machine wants to send (called for every step with an outbox). */
  rewrite?(out: readonly Outgoing[], ctx: ByzantineContext): Outgoing[];
  /** Acts on its own once per tick, before the honest logic. */
  act?(ctx: ActContext): Promise<void>;
}

type DealBody = Omit<DealSubmission, 'type' | 'from'>;

/** A deal built like the honest dealer's, with a chosen constant and tampered shares. */
function forgeDeal(ctx: ByzantineContext, opts: { constant?: bigint; tamper?: (recipient: Address, share: bigint) => bigint }): DealBody {
  const { snapshot, rng, domain, me } = ctx;
  const constant = opts.constant ?? (snapshot.kind === 'reshare' ? (ctx.sourceShare ?? undefined) : undefined);
  const xs = snapshot.recipients.map((r) => operatorX(r));
  const { commitments, shares } = vssDeal(rng, snapshot.tNew, xs, constant);
  const tamper = opts.tamper ?? ((_r: Address, s: bigint) => s);
  const sealed = sealDeal(
    snapshot.recipients.map((recipient, j) => ({
      publicKey: mustHex(snapshot.recipientKeys[j] as string, 'recipient key'),
      ctx: sealContext(domain, snapshot, me, recipient),
      share: fr.toBytes(tamper(recipient, shares[j] as bigint)),
    })),
    rng,
  );
  return {
    session: snapshot.id,
    commitments: bytesToHex(encodePoly(commitments)),
    ephemeralKey: bytesToHex(sealed.ephemeralPublicKey),
    sealedShares: sealed.sealed.map(bytesToHex),
  };
}

function mapKind(out: readonly Outgoing[], kind: Outgoing['kind'], f: (o: Outgoing) => Outgoing | null): Outgoing[] {
  return out.flatMap((o) => {
    if (o.kind !== kind) return [o];
    const r = f(o);
    return r ? [r] : [];
  });
}

/** A complaint against `dealer` that truly reveals K = x_j·E (valid DLEQ), or a corrupted proof. */
function forgeComplaint(ctx: ByzantineContext, dealer: Address, proof: 'valid' | 'invalid'): Complaint | null {
  if (!ctx.sessionSecret) return null;
  const d = ctx.submissions.find((s): s is RecordedSubmission & DealSubmission => s.type === 'deal' && s.from === dealer);
  if (!d) return null;
  const parsed = parseDeal(ctx.snapshot, d);
  if (!parsed.ok) return null;
  const sctx = encodeSealContext(sealContext(ctx.domain, ctx.snapshot, dealer, ctx.me));
  const r = revealForComplaint(ctx.sessionSecret, parsed.deal.ephemeralKey, sctx, ctx.rng);
  const p = Uint8Array.from(r.proof);
  if (proof === 'invalid') p[31] = (p[31] as number) ^ 0x01; // flip a bit of the challenge c
  return { dealer, sharedKey: bytesToHex(r.revealedKey), proof: bytesToHex(p) };
}

function addComplaints(out: readonly Outgoing[], extra: readonly Complaint[]): Outgoing[] {
  return mapKind(out, 'ack', (o) => {
    if (o.kind !== 'ack') return o;
    const named = new Set(o.body.complaints.map((c) => c.dealer));
    return { kind: 'ack', body: { ...o.body, complaints: [...o.body.complaints, ...extra.filter((c) => !named.has(c.dealer))] } };
  });
}

/** Commitment bytes that are not G2 points (right length, so the ledger accepts the deal). */
export function malformedDeal(): Behaviour {
  return {
    name: 'malformed-deal',
    rewrite: (out) =>
      mapKind(out, 'deal', (o) => {
        if (o.kind !== 'deal') return o;
        const bytes = mustHex(o.body.commitments, 'commitments');
        // 0xff…: compression, infinity and sign flags all set — no valid encoding looks like this.
        bytes.fill(0xff, 0, 96);
        return { kind: 'deal', body: { ...o.body, commitments: bytesToHex(bytes) } };
      }),
  };
}

/** A consistent deal whose shares to the given nodes are f(x_j) + 1. */
export function badShares(opts: { to: readonly number[] }): Behaviour {
  return {
    name: `bad-shares(to ${opts.to.join(',')})`,
    rewrite: (out, ctx) =>
      mapKind(out, 'deal', () => {
        const victims = new Set(opts.to.map((i) => ctx.addressOf(i)));
        return { kind: 'deal', body: forgeDeal(ctx, { tamper: (r, s) => (victims.has(r) ? fr.add(s, 1n) : s) }) };
      }),
  };
}

/** Reshare: a well-formed deal of a different secret (a_0 ≠ its share), which would change x. */
export function wrongConstant(): Behaviour {
  return {
    name: 'wrong-constant',
    rewrite: (out, ctx) => mapKind(out, 'deal', () => ({ kind: 'deal', body: forgeDeal(ctx, { constant: fr.random(ctx.rng) }) })),
  };
}

/** A complaint against node `against` (an honest dealer): a true reveal, or a corrupted proof. */
export function falseComplaint(opts: { against: number; proof: 'valid' | 'invalid' }): Behaviour {
  return {
    name: `false-complaint(against ${opts.against}, ${opts.proof} proof)`,
    rewrite: (out, ctx) => {
      const c = forgeComplaint(ctx, ctx.addressOf(opts.against), opts.proof);
      return c ? addComplaints(out, [c]) : [...out];
    },
  };
}

/** Complains about every dealer that dealt, each with a true reveal. */
export function complaintSpam(): Behaviour {
  return {
    name: 'complaint-spam',
    rewrite: (out, ctx) => {
      const dealers = [...new Set(ctx.submissions.filter((s) => s.type === 'deal').map((s) => s.from))];
      const cs = dealers.flatMap((d) => forgeComplaint(ctx, d, 'valid') ?? []);
      return addComplaints(out, cs);
    },
  };
}

export function withholdDeal(): Behaviour {
  return { name: 'withhold-deal', rewrite: (out) => out.filter((o) => o.kind !== 'deal') };
}

export function withholdAck(): Behaviour {
  return { name: 'withhold-ack', rewrite: (out) => out.filter((o) => o.kind !== 'ack') };
}

export function withholdConfirm(): Behaviour {
  return { name: 'withhold-confirm', rewrite: (out) => out.filter((o) => o.kind !== 'confirm') };
}

/** Tries to register `count` more operators under identities it controls (once). */
export function registerMany(opts: { count: number; label?: string }): Behaviour & { readonly labels: readonly string[] } {
  const labels = Array.from({ length: opts.count }, (_, i) => `${opts.label ?? 'sybil'}-${i}`);
  let done = false;
  return {
    name: `register-many(${opts.count})`,
    labels,
    act: async (ctx) => {
      if (done) return;
      done = true;
      for (const label of labels) {
        const code = await ctx.register(ctx.identity(label));
        ctx.note(`${label}: ${code ?? 'registered'}`);
      }
    },
  };
}
