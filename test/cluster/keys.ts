/**
 * @module
 * The cryptographic checks the cluster tests make on shares read from stopped nodes' stores
 * (SPEC 2, threshold BLS):
 *
 *     σ_j = s_j·Q(id)                        partialSign
 *     e(σ_j, G2) == e(Q(id), PK_j)           PK_j = Σ A_k·x_j^k from the version's public polynomial
 *     d = Σ_{j∈S} λ_j·σ_j                    combinePartials over any |S| ≥ t
 *     e(d, G2) == e(Q(id), MPK)              verifyAppKey
 *
 * Nothing here trusts a node: public polynomials come from the chain (checked against the
 * version's publicPolyHash), and every claim is a pairing or an equality of group elements.
 */
import { keccak256 } from 'viem';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { G2 } from '../../src/crypto/bls12381/types.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { combinePartials, partialSign, verifyAppKey, verifyPartial } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import type { StoredVersion } from '../../src/node/key-store.ts';
import { mustHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, VersionRecord } from '../../src/protocol/ledger.ts';
import { decodePoly } from '../../src/protocol/round-outcome.ts';

/** The app identity every check signs. */
export const APP_ID = 'eigenx-kms/cluster-acceptance-app';

/** One operator's share of one version. */
export interface Holder {
  readonly address: Address;
  readonly share: bigint;
}

/** The share of `versionId` in a store listing, or null. */
export function shareOf(address: Address, versions: readonly StoredVersion[], versionId: number): Holder | null {
  const v = versions.find((x) => x.id === versionId);
  return v ? { address, share: v.share } : null;
}

/** d = Σ λ_j·σ_j over the given holders (λ at 0 over their x-coordinates). */
export function appKey(holders: readonly Holder[], appId = APP_ID): Uint8Array {
  return combinePartials(holders.map((h) => ({ x: operatorX(h.address), partial: partialSign(h.share, appId) })));
}

/** e(d, G2) == e(Q(id), MPK). */
export function keyVerifies(mpk: Hex, key: Uint8Array, appId = APP_ID): boolean {
  return verifyAppKey(bls.g2.decode(mustHex(mpk, 'mpk')), appId, key);
}

/** The version's public polynomial from the chain, after checking it against its on-chain hash. */
export function publicPolyOf(v: VersionRecord): G2[] {
  if (keccak256(v.publicPoly) !== v.publicPolyHash) throw new Error(`version ${v.id}: the published polynomial does not hash to publicPolyHash`);
  return decodePoly(mustHex(v.publicPoly, 'publicPoly'));
}

/** e(σ_j, G2) == e(Q(id), PK_j) with PK_j computed from the public polynomial. */
export function partialVerifies(poly: readonly G2[], holder: Holder, appId = APP_ID): boolean {
  return verifyPartial(publicShare(poly, operatorX(holder.address)), appId, partialSign(holder.share, appId));
}

/** Every k-subset of `items` (small n only). */
export function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** keccak256 of the concatenated points of a /pubkey answer (= the version's publicPolyHash). */
export function polyHashOf(points: readonly Hex[]): Hex {
  return keccak256(`0x${points.map((p) => p.slice(2)).join('')}`);
}
