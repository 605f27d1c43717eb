/**
 * @module
 * The per-session rolling digest (SPEC 3): `digest_0 = 0`, and for each submission
 * `digest_{k+1} = keccak256(digest_k ‖ itemHash)` (abi.encodePacked of two bytes32), with
 *
 *   deal:    keccak256(abi.encode(uint8 1, address from, bytes deal))   deal = packDeal(…), deal-bytes.ts
 *   ack:     keccak256(abi.encode(uint8 2, address from, (address dealer, bytes sharedKey, bytes proof)[] complaints))
 *   confirm: keccak256(abi.encode(uint8 3, address from, bytes32 publicPolyHash, bytes publicPoly, bytes nextSessionKey))
 *
 * The contract computes exactly these; a reader that replays a session's events and ends at
 * the contract's (counter, digest) has provably seen every submission.
 */
import { encodeAbiParameters, encodePacked, keccak256 } from 'viem';
import { packDeal } from './deal-bytes.ts';
import type { Hex, Submission } from './ledger.ts';

const DEAL = [{ type: 'uint8' }, { type: 'address' }, { type: 'bytes' }] as const;
const ACK = [
  { type: 'uint8' }, { type: 'address' },
  { type: 'tuple[]', components: [{ name: 'dealer', type: 'address' }, { name: 'sharedKey', type: 'bytes' }, { name: 'proof', type: 'bytes' }] },
] as const;
const CONFIRM = [
  { type: 'uint8' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes' }, { type: 'bytes' },
] as const;

export function submissionHash(s: Submission): Hex {
  switch (s.type) {
    case 'deal': {
      const deal = packDeal(s);
      // Recorded deals are well-formed hex by construction (both ledgers refuse anything else).
      if (deal === null) throw new TypeError(`submissionHash: deal from ${s.from} has a field that is not 0x-hex`);
      return keccak256(encodeAbiParameters(DEAL, [1, s.from, deal]));
    }
    case 'ack':
      return keccak256(encodeAbiParameters(ACK, [2, s.from, s.complaints.map((c) => ({ dealer: c.dealer, sharedKey: c.sharedKey, proof: c.proof }))]));
    case 'confirm':
      return keccak256(encodeAbiParameters(CONFIRM, [3, s.from, s.publicPolyHash, s.publicPoly, s.nextSessionKey]));
  }
}

export function nextDigest(digest: Hex, s: Submission): Hex {
  return keccak256(encodePacked(['bytes32', 'bytes32'], [digest, submissionHash(s)]));
}

/** Folds a whole log; equal to the contract's digest iff the log is complete and in order. */
export function digestOf(submissions: readonly Submission[]): Hex {
  let d: Hex = `0x${'0'.repeat(64)}`;
  for (const s of submissions) d = nextDigest(d, s);
  return d;
}
