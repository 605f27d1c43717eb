/**
 * @module
 * The soak's seeded choices: one stream (`seededRng`, ChaCha20 of SHA-256(seed)) behind
 * small helpers. Callers draw a fixed number of values per decision whatever the outcome, so
 * that one seed gives one schedule as far as the real processes let it (a fault that is not
 * possible at that moment still consumes its draws).
 */
import { seededRng } from '../../src/crypto/rng.ts';

export interface Rand {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number;
  /** Uniform element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
}

export function seededRand(seed: number): Rand {
  const rng = seededRng(`eigenx-kms/soak/${seed}`);
  // 48 random bits: exact in a double, so every float in [0, 1) of that grid is equally likely.
  const float = (): number => {
    const b = rng(6);
    return b.reduce((acc, x) => acc * 256 + x, 0) / 2 ** 48;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(float() * (hi - lo + 1));
  return {
    float,
    int,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick: expected a non-empty list');
      return items[int(0, items.length - 1)] as T;
    },
    shuffle<T>(items: readonly T[]): T[] {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    },
  };
}
