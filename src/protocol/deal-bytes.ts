/**
 * @module
 * A deal as the ledger carries it: one byte string (issue 14)
 *
 *   deal = commitments (tNew · 96) ‖ ephemeralKey (33) ‖ sealedShares (48 each, snapshot order)
 *
 * One string instead of three fields and n separate shares: the ABI encoding of n `bytes`
 * cost 2.6 KB of offsets, lengths and padding per deal at n = 30, each byte paid as calldata.
 * The ledgers check only the total length, `dealByteLength(tNew, recipients)`; readers split
 * the string by the snapshot's sizes, so every reader sees the same three fields whatever the
 * dealer sent (a dealer whose fields had other sizes but the right total gets its bytes split
 * at the standard offsets, and `deal-codec.ts` judges what comes out). Both ledgers store the
 * split form, so `packDeal(unpackDeal(x)) = x` for every accepted deal and the rolling digest
 * (`submission-digest.ts`) hashes the string the contract hashed. Pure: no I/O.
 */
import type { DealSubmission, Hex } from './ledger.ts';
import { SIZES } from './session-rules.ts';

const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;

/** The three fields a deal carries. */
export type DealFields = Pick<DealSubmission, 'commitments' | 'ephemeralKey' | 'sealedShares'>;

/** Bytes of a deal in a session with `tNew` and `recipients`. */
export function dealByteLength(tNew: number, recipients: number): number {
  return tNew * SIZES.g2 + SIZES.secpPoint + recipients * SIZES.sealedShare;
}

/**
 * The packed deal (lowercase 0x-hex), or null when a field is not 0x-hex or the shares are not
 * a list: such a deal cannot be sent, and both ledgers refuse it with `BadLength` before any
 * other check.
 */
export function packDeal(d: DealFields): Hex | null {
  const fields: unknown[] = [d.commitments, d.ephemeralKey, ...(Array.isArray(d.sealedShares) ? d.sealedShares : [null])];
  let out = '0x';
  for (const f of fields) {
    if (typeof f !== 'string' || !HEX_RE.test(f)) return null;
    out += f.slice(2);
  }
  return out.toLowerCase() as Hex;
}

/** Splits a packed deal by the session's sizes; null when its length is not `dealByteLength`. */
export function unpackDeal(deal: Hex, tNew: number, recipients: number): DealFields | null {
  if (!HEX_RE.test(deal) || (deal.length - 2) / 2 !== dealByteLength(tNew, recipients)) return null;
  const hex = deal.slice(2).toLowerCase();
  const c = tNew * SIZES.g2 * 2;
  const e = c + SIZES.secpPoint * 2;
  const share = SIZES.sealedShare * 2;
  const sealedShares: Hex[] = [];
  for (let j = 0; j < recipients; j++) sealedShares.push(`0x${hex.slice(e + j * share, e + (j + 1) * share)}`);
  return { commitments: `0x${hex.slice(0, c)}`, ephemeralKey: `0x${hex.slice(c, e)}`, sealedShares };
}
