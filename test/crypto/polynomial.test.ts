// Shamir sharing over Fr: Horner evaluation, Lagrange at 0, and the threshold property
// (any t points reconstruct f(0), t-1 never do). Properties run under fast-check with fixed
// seeds so a failure reproduces exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as fr from '../../src/crypto/fr.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import {
  XSetError,
  evaluate,
  interpolateAtZero,
  lagrangeAtZero,
  randomPolynomial,
} from '../../src/crypto/polynomial.ts';
import { pick, randomSubset, randomXs } from './sharing-helpers.ts';

const scalar = fc.bigInt({ min: 0n, max: fr.R - 1n });
const nonZero = fc.bigInt({ min: 1n, max: fr.R - 1n });

describe('polynomial: evaluation', () => {
  it('Horner agrees with the naive sum Σ a_k·x^k', () => {
    fc.assert(
      fc.property(fc.array(scalar, { minLength: 1, maxLength: 12 }), scalar, (poly, x) => {
        let naive = 0n;
        poly.forEach((a, k) => {
          naive = fr.add(naive, fr.mul(a, fr.pow(x, BigInt(k))));
        });
        assert.equal(evaluate(poly, x), naive);
      }),
      { seed: 1, numRuns: 300 },
    );
  });

  it('f(0) is the constant term', () => {
    fc.assert(
      fc.property(fc.array(scalar, { minLength: 1, maxLength: 8 }), (poly) => {
        assert.equal(evaluate(poly, 0n), poly[0]);
      }),
      { seed: 2, numRuns: 100 },
    );
  });

  it('refuses an empty polynomial and non-canonical coefficients or x', () => {
    assert.throws(() => evaluate([], 1n), RangeError);
    assert.throws(() => evaluate([fr.R], 1n), RangeError);
    assert.throws(() => evaluate([1n], fr.R), /x: expected 0 <= k < r/);
    assert.throws(() => evaluate([1n, -1n], 1n), /poly\[1\]/);
    // @ts-expect-error: wrong type on purpose
    assert.throws(() => evaluate([1], 1n), TypeError);
  });
});

describe('polynomial: randomPolynomial', () => {
  it('has t coefficients, the given constant, and a non-zero leading coefficient', () => {
    const rng = seededRng('poly/random');
    for (let t = 1; t <= 10; t++) {
      const c = fr.random(rng);
      const p = randomPolynomial(rng, t, c);
      assert.equal(p.length, t);
      assert.equal(p[0], c);
      assert.notEqual(p[t - 1], 0n);
      for (const a of p) assert.ok(fr.isScalar(a));
    }
  });

  it('is deterministic for a seed and different across seeds', () => {
    assert.deepEqual(randomPolynomial(seededRng('a'), 5), randomPolynomial(seededRng('a'), 5));
    assert.notDeepEqual(randomPolynomial(seededRng('a'), 5), randomPolynomial(seededRng('b'), 5));
  });

  it('accepts a zero constant (the maths allows it) but refuses bad t and constants ≥ r', () => {
    assert.equal(randomPolynomial(seededRng('z'), 3, 0n)[0], 0n);
    assert.throws(() => randomPolynomial(seededRng('z'), 0), /t: expected 1 <= t/);
    assert.throws(() => randomPolynomial(seededRng('z'), 2.5), TypeError);
    assert.throws(() => randomPolynomial(seededRng('z'), 3, fr.R), /constant: expected 0 <= k < r/);
  });

  it('never echoes a secret constant in an error', () => {
    const secret = fr.R + 123456789n;
    assert.throws(
      () => randomPolynomial(seededRng('z'), 3, secret),
      (e: Error) => !e.message.includes(secret.toString()) && !e.message.includes(secret.toString(16)),
    );
  });
});

describe('polynomial: Lagrange coefficients at 0', () => {
  it('sum to 1 (they interpolate the constant polynomial 1)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(nonZero, { minLength: 1, maxLength: 15 }), (xs) => {
        assert.equal(
          lagrangeAtZero(xs).reduce((a, b) => fr.add(a, b), 0n),
          1n,
        );
      }),
      { seed: 3, numRuns: 200 },
    );
  });

  it('match the textbook product Π_{j≠i} x_j/(x_j − x_i)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(nonZero, { minLength: 1, maxLength: 8 }), (xs) => {
        const want = xs.map((xi, i) => {
          let l = 1n;
          xs.forEach((xj, j) => {
            if (j !== i) l = fr.mul(l, fr.mul(xj, fr.inv(fr.sub(xj, xi))));
          });
          return l;
        });
        assert.deepEqual(lagrangeAtZero(xs), want);
      }),
      { seed: 4, numRuns: 100 },
    );
  });

  it('refuses zero, duplicates, empty sets and non-canonical xs with typed errors', () => {
    assert.throws(
      () => lagrangeAtZero([1n, 0n, 2n]),
      (e: unknown) => e instanceof XSetError && e.reason === 'zero' && e.indices[0] === 1 && /xs: .*index 1 is zero/.test(e.message),
    );
    assert.throws(
      () => lagrangeAtZero([5n, 7n, 9n, 7n]),
      (e: unknown) => e instanceof XSetError && e.reason === 'duplicate' && e.indices.join() === '1,3',
    );
    assert.throws(() => lagrangeAtZero([]), /xs: expected at least 1 entries/);
    assert.throws(() => lagrangeAtZero([1n, fr.R]), /xs\[1\]: expected 0 <= k < r/);
    assert.throws(() => lagrangeAtZero([1n, -2n]), RangeError);
    // @ts-expect-error: wrong type on purpose
    assert.throws(() => lagrangeAtZero([1, 2]), TypeError);
  });
});

describe('polynomial: threshold property (any t of n reconstruct f(0), t-1 do not)', () => {
  const configs: ReadonlyArray<readonly [number, number]> = [
    [7, 5],
    [3, 2],
    [4, 3],
    [5, 5],
    [10, 7],
    [16, 11],
    [1, 1],
  ];
  for (const [n, t] of configs) {
    it(`n=${n}, t=${t}: 200 random polynomials × random subsets`, () => {
      const rng = seededRng(`poly/threshold/${n}/${t}`);
      for (let trial = 0; trial < 200; trial++) {
        const secret = fr.random(rng);
        const poly = randomPolynomial(rng, t, secret);
        // Alternate between random field xs (as from keccak) and small consecutive ones.
        const xs = trial % 2 === 0 ? randomXs(rng, n) : Array.from({ length: n }, (_, i) => BigInt(i + 1));
        const ys = xs.map((x) => evaluate(poly, x));

        const k = t + (trial % (n - t + 1)); // any size from t to n
        const s = randomSubset(rng, n, k);
        assert.equal(interpolateAtZero(pick(xs, s), pick(ys, s)), secret, `t..n points must reconstruct (k=${k})`);

        if (t >= 2) {
          // Deterministic, not probabilistic: the leading coefficient is non-zero, so f minus
          // the degree-(t-2) interpolant has degree t-1 and cannot vanish at 0 as well.
          const s1 = randomSubset(rng, n, t - 1);
          assert.notEqual(interpolateAtZero(pick(xs, s1), pick(ys, s1)), secret, 't-1 points must not reconstruct');
        }
      }
    });
  }

  it('fast-check: reconstruction is independent of which t points are used', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 6 }),
        fc.string(),
        (t, extra, seed) => {
          const rng = seededRng(`fc/${seed}`);
          const n = t + extra;
          const poly = randomPolynomial(rng, t);
          const xs = randomXs(rng, n);
          const ys = xs.map((x) => evaluate(poly, x));
          const a = randomSubset(rng, n, t);
          const b = randomSubset(rng, n, t);
          assert.equal(interpolateAtZero(pick(xs, a), pick(ys, a)), poly[0]);
          assert.equal(interpolateAtZero(pick(xs, b), pick(ys, b)), poly[0]);
        },
      ),
      { seed: 5, numRuns: 150 },
    );
  });

  it('interpolateAtZero refuses mismatched lengths and bad values', () => {
    assert.throws(() => interpolateAtZero([1n, 2n], [3n]), /ys: expected 2 values/);
    assert.throws(() => interpolateAtZero([1n, 2n], [3n, fr.R]), /ys\[1\]/);
    assert.throws(() => interpolateAtZero([1n, 1n], [3n, 4n]), XSetError);
  });
});
