/**
 * @module
 * A round state as it rests in a key store, and back: a versioned shape checked field by
 * field on the way in, never a cast (a store row is outside input, even an encrypted one).
 *
 *   format 2 (SPEC v3)   `{ format: 2, session, snapshotHash, dealer, recipient }`; no share
 *                        and no session secret anywhere (they live in the store's own tables)
 *   format 1 (before)    the bare `RoundState` without `format` and `snapshotHash`, whose
 *                        recipient may hold `share` and `nextSessionKey: {secret, public}`
 *
 * A format-1 state is migrated on read: its secrets are dropped (the share and the session
 * secret were always also stored in the versions and session-key tables, in the same
 * transaction) and it is taken to belong to the snapshot the chain shows for its session now
 * (`legacySnapshotHash`) — format 1 was written by nodes that did not yet know about reorgs.
 * The next write stores format 2, so a finished legacy round's secrets leave the store when
 * its state is next written or deleted.
 */
import type { DealerState, DealerStatus } from './dealer.ts';
import type { Address, Complaint, Hex } from './ledger.ts';
import type { RecipientState, RecipientStatus } from './recipient.ts';
import type { RoundState } from './round-driver.ts';

export const ROUND_STATE_FORMAT = 2;

export class RoundStateFormatError extends Error {
  override readonly name = 'RoundStateFormatError';
}

const HEX_RE = /^0x(?:[0-9a-f]{2})*$/i;
const ADDRESS_RE = /^0x[0-9a-f]{40}$/i;
const HASH_RE = /^0x[0-9a-f]{64}$/i;
const DEALER_STATUSES: readonly DealerStatus[] = ['waiting', 'dealt', 'missed', 'cannot-deal'];
const RECIPIENT_STATUSES: readonly RecipientStatus[] = ['awaiting-deals', 'acked', 'confirmed', 'active', 'failed', 'discarded', 'declined'];

/** What the store is given: the state with its format, and nothing secret. */
export function encodeRoundState(state: RoundState): { readonly format: number } & RoundState {
  return { format: ROUND_STATE_FORMAT, ...state };
}

/**
 * The stored value of session `session`'s round, checked; null when there is none.
 * `legacySnapshotHash` is the snapshot hash a format-1 state is taken to belong to.
 * Throws `RoundStateFormatError` naming the first field that is wrong.
 */
export function parseRoundState(raw: unknown, session: number, legacySnapshotHash: Hex): RoundState | null {
  if (raw === null || raw === undefined) return null;
  const o = record(raw, `round state of session ${session}`);
  const format = o['format'] ?? 1;
  if (format !== 1 && format !== ROUND_STATE_FORMAT) throw bad(session, `unknown format ${String(format)}`);
  if (o['session'] !== session) throw bad(session, `it names session ${String(o['session'])}`);
  const snapshotHash = format === 1 ? legacySnapshotHash : str(o['snapshotHash'], HASH_RE, session, 'snapshotHash');
  return {
    session,
    snapshotHash: snapshotHash.toLowerCase() as Hex,
    dealer: o['dealer'] === null || o['dealer'] === undefined ? null : dealer(o['dealer'], session),
    recipient: o['recipient'] === null || o['recipient'] === undefined ? null : recipient(o['recipient'], session),
  };
}

/** True for a stored state written before format 2 (no `format`, no `snapshotHash`). */
export function isLegacyRoundState(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)['format'] === undefined;
}

function dealer(raw: unknown, session: number): DealerState {
  const o = record(raw, `round state of session ${session}: dealer`);
  if (o['machine'] !== 'dealer') throw bad(session, 'dealer.machine');
  const status = oneOf(o['status'], DEALER_STATUSES, session, 'dealer.status');
  const out: { -readonly [K in keyof DealerState]: DealerState[K] } = { machine: 'dealer', session, status };
  if (o['reason'] !== undefined) out.reason = text(o['reason'], session, 'dealer.reason');
  if (o['deal'] !== undefined) {
    const d = record(o['deal'], `round state of session ${session}: dealer.deal`);
    const shares = d['sealedShares'];
    if (!Array.isArray(shares)) throw bad(session, 'dealer.deal.sealedShares');
    out.deal = {
      session: d['session'] === session ? session : (() => { throw bad(session, 'dealer.deal.session'); })(),
      commitments: str(d['commitments'], HEX_RE, session, 'dealer.deal.commitments'),
      ephemeralKey: str(d['ephemeralKey'], HEX_RE, session, 'dealer.deal.ephemeralKey'),
      sealedShares: shares.map((x, i) => str(x, HEX_RE, session, `dealer.deal.sealedShares[${i}]`)),
    };
  }
  return out;
}

function recipient(raw: unknown, session: number): RecipientState {
  const o = record(raw, `round state of session ${session}: recipient`);
  if (o['machine'] !== 'recipient') throw bad(session, 'recipient.machine');
  const status = oneOf(o['status'], RECIPIENT_STATUSES, session, 'recipient.status');
  const out: { -readonly [K in keyof RecipientState]: RecipientState[K] } = { machine: 'recipient', session, status };
  if (o['reason'] !== undefined) out.reason = text(o['reason'], session, 'recipient.reason');
  if (o['shares'] !== undefined) {
    const shares = record(o['shares'], `round state of session ${session}: recipient.shares`);
    const checked: Record<Address, Hex> = {};
    for (const [k, v] of Object.entries(shares)) checked[str(k, ADDRESS_RE, session, 'recipient.shares key') as Address] = str(v, HASH_RE, session, 'recipient.shares value');
    out.shares = checked;
  }
  if (o['complaints'] !== undefined) {
    const list = o['complaints'];
    if (!Array.isArray(list)) throw bad(session, 'recipient.complaints');
    out.complaints = list.map((c, i): Complaint => {
      const r = record(c, `round state of session ${session}: recipient.complaints[${i}]`);
      return {
        dealer: str(r['dealer'], ADDRESS_RE, session, `recipient.complaints[${i}].dealer`) as Address,
        sharedKey: str(r['sharedKey'], HEX_RE, session, `recipient.complaints[${i}].sharedKey`),
        proof: str(r['proof'], HEX_RE, session, `recipient.complaints[${i}].proof`),
      };
    });
  }
  if (o['publicPolyHash'] !== undefined) out.publicPolyHash = str(o['publicPolyHash'], HASH_RE, session, 'recipient.publicPolyHash');
  if (o['publicPoly'] !== undefined) out.publicPoly = str(o['publicPoly'], HEX_RE, session, 'recipient.publicPoly');
  const next = o['nextSessionKey'];
  if (next !== undefined) {
    // Format 1 kept {secret, public}: only the public half is read; the secret is dropped.
    const pub = typeof next === 'object' && next !== null ? (next as Record<string, unknown>)['public'] : next;
    out.nextSessionKey = str(pub, HEX_RE, session, 'recipient.nextSessionKey');
  }
  return out;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RoundStateFormatError(`${what}: expected an object`);
  return v as Record<string, unknown>;
}

function str(v: unknown, re: RegExp, session: number, field: string): Hex {
  if (typeof v !== 'string' || !re.test(v)) throw bad(session, field);
  return v.toLowerCase() as Hex;
}

function text(v: unknown, session: number, field: string): string {
  if (typeof v !== 'string') throw bad(session, field);
  return v;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], session: number, field: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw bad(session, `${field} ${JSON.stringify(v)}`);
  return v as T;
}

function bad(session: number, field: string): RoundStateFormatError {
  return new RoundStateFormatError(`the stored round state of session ${session} is malformed: ${field}`);
}
