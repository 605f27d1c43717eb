/**
 * Helpers shared by the sharing tests (not a test file itself): seeded random x-sets and
 * subsets, and the list of backends to run against.
 */
import * as fr from '../../src/crypto/fr.ts';
import type { Rng } from '../../src/crypto/rng.ts';

/** n distinct non-zero x-coordinates drawn from `rng` (random field elements, like keccak xs). */
export function randomXs(rng: Rng, n: number): bigint[] {
  const out = new Set<bigint>();
  while (out.size < n) out.add(fr.random(rng));
  return [...out];
}

/** A uniformly random k-subset of the indices 0..n-1, in random order (Fisher–Yates). */
export function randomSubset(rng: Rng, n: number, k: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Number(fr.fromBytesReduce(rng(8)) % BigInt(i + 1));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx.slice(0, k);
}

/** Picks `items[i]` for each index. */
export function pick<T>(items: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => items[i] as T);
}
