/**
 * @module
 * Reading a deal off the ledger. The ledger checks sizes only; everything cryptographic is
 * checked here, identically on every node (SPEC 4 step 3):
 *
 * - `commitments`: exactly tNew compressed G2 points, each canonical, in the subgroup and not
 *   the identity;
 * - `ephemeralKey`: a valid compressed secp256k1 point;
 * - `sealedShares`: one 48-byte sealed share per recipient, in snapshot order.
 *
 * A deal that fails any check is `malformed` and its dealer is out of QUAL, whoever looks.
 * Decoding is memoized by the deal's bytes so that simulated nodes share the work.
 *
 * Recipients' session keys come from the snapshot, i.e. from whatever the registry stored
 * (an older contract checked only the prefix). `recipientSessionKey` is the one reading of
 * them: a key that is not a valid compressed point is the recipient's fault — dealers seal
 * nothing usable to it, its complaints are void, it cannot take part — never a dealer's.
 */
import { bls } from '../crypto/bls12381/index.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import { SEALED_SHARE_BYTES, isValidSealPublicKey, validateSealPublicKey, type SealContext } from '../crypto/seal.ts';
import { hexToBytes } from './hex.ts';
import type { Address, DealSubmission, SessionSnapshot } from './ledger.ts';
import { SIZES } from './session-rules.ts';

export interface ParsedDeal {
  readonly dealer: Address;
  readonly commitments: readonly G2[];
  readonly ephemeralKey: Uint8Array;
  readonly sealedShares: readonly Uint8Array[];
}

export type DealParse = { readonly ok: true; readonly deal: ParsedDeal } | { readonly ok: false; readonly reason: string };

const cache = new Map<string, DealParse>();
const CACHE_LIMIT = 4096;

/** Empties the parse cache (benchmarks measure a standalone node, which shares nothing). */
export function clearDealParseCache(): void {
  cache.clear();
}

/** Parses and checks one deal against its session's snapshot (memoized). */
export function parseDeal(snapshot: SessionSnapshot, deal: DealSubmission): DealParse {
  const key = `${snapshot.id}|${snapshot.tNew}|${snapshot.recipients.length}|${deal.from}|${deal.commitments}|${deal.ephemeralKey}|${deal.sealedShares.join(',')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const result = parseUncached(snapshot, deal);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, result);
  return result;
}

function parseUncached(snapshot: SessionSnapshot, deal: DealSubmission): DealParse {
  const fail = (reason: string): DealParse => ({ ok: false, reason });
  const raw = hexToBytes(deal.commitments);
  if (raw === null || raw.length !== snapshot.tNew * SIZES.g2) return fail(`commitments: expected ${snapshot.tNew} G2 points`);
  const commitments: G2[] = [];
  for (let k = 0; k < snapshot.tNew; k++) {
    try {
      commitments.push(bls.g2.decode(raw.subarray(k * SIZES.g2, (k + 1) * SIZES.g2)));
    } catch (e) {
      return fail(`commitment ${k}: ${(e as Error).message}`);
    }
  }
  const ephemeralKey = hexToBytes(deal.ephemeralKey);
  if (ephemeralKey === null) return fail('ephemeral key: not hex');
  try {
    validateSealPublicKey(ephemeralKey, 'ephemeral key');
  } catch (e) {
    return fail((e as Error).message);
  }
  if (deal.sealedShares.length !== snapshot.recipients.length) return fail('sealed shares: one per recipient expected');
  const sealedShares: Uint8Array[] = [];
  for (const [j, h] of deal.sealedShares.entries()) {
    const b = hexToBytes(h);
    if (b === null || b.length !== SEALED_SHARE_BYTES) return fail(`sealed share ${j}: expected ${SEALED_SHARE_BYTES} bytes`);
    sealedShares.push(b);
  }
  return { ok: true, deal: { dealer: deal.from, commitments, ephemeralKey, sealedShares } };
}

/** What a sealed share is bound to: (domain, session, dealer, recipient). */
export function sealContext(domain: Uint8Array, snapshot: SessionSnapshot, dealer: Address, recipient: Address): SealContext {
  return { domain, session: snapshot.id, dealer, recipient };
}

/**
 * Recipient j's session key X_j as every node reads it: the bytes when they are a valid
 * compressed secp256k1 point (`isValidSealPublicKey`), else null — malformed hex, wrong length,
 * wrong prefix, x ≥ p, x off the curve. Never throws.
 */
export function recipientSessionKey(snapshot: SessionSnapshot, j: number): Uint8Array | null {
  const hex = snapshot.recipientKeys[j];
  return hex === undefined ? null : decodeSessionKey(hex);
}

/** A session key as published on the ledger (0x-hex): its bytes if it is a valid point, else null. */
export function decodeSessionKey(hex: string): Uint8Array | null {
  const bytes = hexToBytes(hex);
  return isValidSealPublicKey(bytes) ? bytes : null;
}
