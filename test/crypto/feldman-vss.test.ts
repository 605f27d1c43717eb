// Feldman VSS in G2 (SPEC 2) and the DKG / reshare combination rules (SPEC 2, 4). The heavy
// property runs use the default backend; the noble reference backend runs a smaller set, and
// both must produce byte-identical commitments from the same seed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls, nobleBackend } from '../../src/crypto/bls12381/index.ts';
import type { Bls12381, G2 } from '../../src/crypto/bls12381/types.ts';
import * as fr from '../../src/crypto/fr.ts';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import { XSetError, interpolateAtZero } from '../../src/crypto/polynomial.ts';
import {
  deal,
  derivedWeights,
  lagrangeCombineCommitments,
  lagrangeCombineShares,
  publicShare,
  randomWeights,
  sumCommitments,
  sumShares,
  verifyPublicShares,
  verifyShare,
  verifyShares,
  type Deal,
} from '../../src/crypto/vss.ts';
import { pick, randomSubset, randomXs } from './sharing-helpers.ts';

interface Scale {
  /** (n, t) pairs for the single-dealer properties. */
  readonly configs: ReadonlyArray<readonly [number, number]>;
  readonly trials: number;
  /** Dealers in the batch test. */
  readonly dealers: number;
  /** DKG and reshare shapes. */
  readonly dkg: { readonly n: number; readonly t: number };
  readonly reshares: ReadonlyArray<{ readonly n: number; readonly t: number }>;
  /** Independent weight seeds for the verdict-stability check. */
  readonly weightSeeds: number;
  /** Also run the costlier reshare variants (all dealers; cheating dealer). */
  readonly reshareVariants: boolean;
}

const HEAVY: Scale = {
  configs: [
    [7, 5],
    [4, 3],
    [10, 7],
    [3, 2],
  ],
  trials: 2,
  dealers: 6,
  dkg: { n: 7, t: 5 },
  // 7/5 → 9/6 (grow) → 4/3 (shrink) → 5/5 (n-of-n): MPK must survive every step.
  reshares: [
    { n: 9, t: 6 },
    { n: 4, t: 3 },
    { n: 5, t: 5 },
  ],
  weightSeeds: 3,
  reshareVariants: true,
};

const LIGHT: Scale = {
  configs: [[3, 2]],
  trials: 1,
  dealers: 3,
  dkg: { n: 3, t: 2 },
  reshares: [{ n: 3, t: 2 }],
  weightSeeds: 1,
  reshareVariants: false,
};

/** A version: holders' xs and shares, its public polynomial and the secret (test-only). */
interface Version {
  readonly xs: bigint[];
  readonly shares: bigint[];
  readonly poly: G2[];
  readonly t: number;
  readonly secret: bigint;
}

function g2eq(curve: Bls12381, a: G2, b: G2): boolean {
  return curve.g2.equals(a, b);
}

/** A DKG where every dealer qualifies; checks each recipient's shares in one batch. */
function runDkg(curve: Bls12381, rng: Rng, n: number, t: number): Version {
  const xs = randomXs(rng, n);
  const secrets = Array.from({ length: n }, () => fr.random(rng));
  const deals = secrets.map((s) => deal(rng, t, xs, s, curve));
  const shares = xs.map((x, j) => {
    const mine = deals.map((d) => d.shares[j] as bigint);
    assert.deepEqual(verifyShares(deals.map((d) => d.commitments), x, mine, rng, curve), { ok: true, bad: [] });
    return sumShares(mine);
  });
  const poly = sumCommitments(deals.map((d) => d.commitments), curve);
  return { xs, shares, poly, t, secret: secrets.reduce((a, b) => fr.add(a, b), 0n) };
}

/** A reshare from `dealerIdx` of the source holders to a fresh set of n recipients. */
function runReshare(curve: Bls12381, rng: Rng, src: Version, dealerIdx: number[], n: number, t: number): Version {
  const dealerXs = pick(src.xs, dealerIdx);
  const xs = randomXs(rng, n);
  const deals = dealerIdx.map((i) => deal(rng, t, xs, src.shares[i] as bigint, curve));
  // QUAL rule: a reshare dealer's constant commitment is its public share in the source version.
  deals.forEach((d, k) => {
    assert.ok(g2eq(curve, d.commitments[0] as G2, publicShare(src.poly, dealerXs[k] as bigint, curve)));
  });
  const shares = xs.map((x, j) => {
    const mine = deals.map((d) => d.shares[j] as bigint);
    assert.equal(verifyShares(deals.map((d) => d.commitments), x, mine, rng, curve).ok, true);
    return lagrangeCombineShares(mine, dealerXs);
  });
  const poly = lagrangeCombineCommitments(deals.map((d) => d.commitments), dealerXs, curve);
  return { xs, shares, poly, t, secret: src.secret };
}

/** The invariants of a version: A_0 = x·G2, PK_j = s_j·G2, any t reconstruct, t-1 do not. */
function checkVersion(curve: Bls12381, rng: Rng, v: Version, mpk: G2, subsets: number): void {
  const G = curve.g2.generator;
  assert.equal(v.poly.length, v.t);
  assert.ok(g2eq(curve, v.poly[0] as G2, mpk), 'A_0 must equal the pinned MPK');
  assert.ok(g2eq(curve, mpk, curve.g2.mul(G, v.secret)));
  v.xs.forEach((x, j) => {
    // The recipient's self-check before confirming (SPEC 4): s_j·G2 == PK_j.
    assert.ok(g2eq(curve, publicShare(v.poly, x, curve), curve.g2.mul(G, v.shares[j] as bigint)), `PK_${j} == s_${j}·G2`);
  });
  const n = v.xs.length;
  for (let k = 0; k < subsets; k++) {
    const s = randomSubset(rng, n, v.t);
    assert.equal(interpolateAtZero(pick(v.xs, s), pick(v.shares, s)), v.secret);
    if (v.t >= 2) {
      const s1 = randomSubset(rng, n, v.t - 1);
      assert.notEqual(interpolateAtZero(pick(v.xs, s1), pick(v.shares, s1)), v.secret);
    }
  }
}

function suite(curve: Bls12381, scale: Scale): void {
  const tag = `[${curve.name}]`;
  const G = curve.g2.generator;

  describe(`feldman-vss ${tag}: one dealer`, () => {
    for (const [n, t] of scale.configs) {
      it(`n=${n}, t=${t}: shares verify, C_0 = secret·G2, any t reconstruct and t-1 do not`, () => {
        const rng = seededRng(`vss/one/${n}/${t}`);
        for (let trial = 0; trial < scale.trials; trial++) {
          const xs = randomXs(rng, n);
          const secret = fr.random(rng);
          const d = deal(rng, t, xs, secret, curve);
          assert.equal(d.commitments.length, t);
          assert.equal(d.shares.length, n);
          assert.ok(g2eq(curve, d.commitments[0] as G2, curve.g2.mul(G, secret)));
          xs.forEach((x, j) => {
            const s = d.shares[j] as bigint;
            assert.ok(verifyShare(d.commitments, x, s, curve), `share ${j} verifies`);
            assert.ok(g2eq(curve, publicShare(d.commitments, x, curve), curve.g2.mul(G, s)));
          });
          for (let k = 0; k < 20; k++) {
            const s = randomSubset(rng, n, t);
            assert.equal(interpolateAtZero(pick(xs, s), pick(d.shares, s)), secret);
            if (t >= 2) {
              const s1 = randomSubset(rng, n, t - 1);
              assert.notEqual(interpolateAtZero(pick(xs, s1), pick(d.shares, s1)), secret);
            }
          }
        }
      });
    }

    it('a share tampered by +1, a share for another x, and foreign commitments all fail', () => {
      const rng = seededRng('vss/tamper');
      const [n, t] = scale.configs[0] as readonly [number, number];
      for (let trial = 0; trial < scale.trials; trial++) {
        const xs = randomXs(rng, n);
        const d = deal(rng, t, xs, undefined, curve);
        const other = deal(rng, t, xs, undefined, curve);
        const s0 = d.shares[0] as bigint;
        assert.equal(verifyShare(d.commitments, xs[0] as bigint, fr.add(s0, 1n), curve), false, '+1');
        assert.equal(verifyShare(d.commitments, xs[0] as bigint, fr.sub(s0, 1n), curve), false, '-1');
        assert.equal(verifyShare(d.commitments, xs[1] as bigint, s0, curve), false, 'wrong x');
        assert.equal(verifyShare(other.commitments, xs[0] as bigint, s0, curve), false, 'foreign commitments');
        // Dropping the top commitment is a lower-degree claim that the share does not satisfy.
        assert.equal(verifyShare(d.commitments.slice(0, -1), xs[0] as bigint, s0, curve), false, 'truncated');
        const swapped = [...d.commitments];
        [swapped[0], swapped[1]] = [swapped[1] as G2, swapped[0] as G2];
        assert.equal(verifyShare(swapped, xs[0] as bigint, s0, curve), false, 'reordered commitments');
      }
    });

    it('is reproducible: same seed, same shares and commitments', () => {
      const xs = [1n, 2n, 3n];
      const a = deal(seededRng('vss/repro'), 2, xs, undefined, curve);
      const b = deal(seededRng('vss/repro'), 2, xs, undefined, curve);
      assert.deepEqual(a.shares, b.shares);
      a.commitments.forEach((c, k) => assert.deepEqual(curve.g2.encode(c), curve.g2.encode(b.commitments[k] as G2)));
    });
  });

  describe(`feldman-vss ${tag}: many dealers to one recipient (batch)`, () => {
    const m = scale.dealers;
    const [n, t] = scale.configs[0] as readonly [number, number];
    const rng = seededRng(`vss/batch/${curve.name}`);
    const xs = randomXs(rng, n);
    const deals: Deal[] = Array.from({ length: m }, () => deal(rng, t, xs, undefined, curve));
    const commitments = deals.map((d) => d.commitments);
    const j = 1;
    const x = xs[j] as bigint;
    const good = deals.map((d) => d.shares[j] as bigint);
    const corrupt = (bad: number[]): bigint[] => good.map((s, i) => (bad.includes(i) ? fr.add(s, 1n) : s));

    it('accepts honest shares', () => {
      assert.deepEqual(verifyShares(commitments, x, good, rng, curve), { ok: true, bad: [] });
    });

    const cases: number[][] = m >= 6 ? [[2], [0], [m - 1], [0, 4], [1, 2, 3], Array.from({ length: m }, (_, i) => i)] : [[1], [0, 2]];
    for (const bad of cases) {
      it(`names exactly the bad dealer(s) ${JSON.stringify(bad)}`, () => {
        assert.deepEqual(verifyShares(commitments, x, corrupt(bad), rng, curve), { ok: false, bad });
      });
    }

    it('names a dealer whose share belongs to another recipient', () => {
      const shares = [...good];
      shares[m - 1] = (deals[m - 1] as Deal).shares[0] as bigint;
      assert.deepEqual(verifyShares(commitments, x, shares, rng, curve), { ok: false, bad: [m - 1] });
    });

    it('gives the same verdict for any weights, and handles dealers of different thresholds', () => {
      for (let seed = 0; seed < scale.weightSeeds; seed++) {
        assert.deepEqual(verifyShares(commitments, x, corrupt([1]), seededRng(`w${seed}`), curve), { ok: false, bad: [1] });
      }
      const low = deal(rng, 2, xs, undefined, curve);
      assert.deepEqual(verifyShares([...commitments, low.commitments], x, [...good, low.shares[j] as bigint], rng, curve), {
        ok: true,
        bad: [],
      });
    });

    it('an empty batch is trivially fine; mismatched lengths are refused', () => {
      assert.deepEqual(verifyShares([], x, [], rng, curve), { ok: true, bad: [] });
      assert.throws(() => verifyShares(commitments, x, good.slice(1), rng, curve), /shares: expected \d+ \(one per dealer\)/);
      assert.throws(() => verifyShares([[]], x, [1n], rng, curve), /dealerCommitments\[0\]: expected at least 1/);
      assert.throws(() => verifyShares(commitments, x, corrupt([]).map((s, i) => (i === 0 ? fr.R : s)), rng, curve), /shares\[0\]/);
    });
  });

  describe(`feldman-vss ${tag}: DKG and reshare`, () => {
    // One DKG (deterministic seed) is the source version of every reshare below.
    let cached: Version | undefined;
    const genesis = (): Version => (cached ??= runDkg(curve, seededRng(`vss/dkg/${curve.name}`), scale.dkg.n, scale.dkg.t));

    it(`DKG n=${scale.dkg.n}, t=${scale.dkg.t}: A_k = Σ C_ik, s_j = Σ s_ij, MPK = A_0`, () => {
      const v = genesis();
      checkVersion(curve, seededRng('vss/dkg/check'), v, curve.g2.mul(G, v.secret), 30);
    });

    it('reshare chain keeps the secret and proves A_0 == MPK at every step (t_old dealers, random subset)', () => {
      const rng = seededRng(`vss/reshare/${curve.name}`);
      let v = genesis();
      const mpk = v.poly[0] as G2;
      for (const { n, t } of scale.reshares) {
        // Exactly t_old dealers, chosen at random: the minimum that may qualify.
        const dealers = randomSubset(rng, v.xs.length, v.t);
        const next = runReshare(curve, rng, v, dealers, n, t);
        checkVersion(curve, rng, next, mpk, 20);
        v = next;
      }
    });

    // The reference backend skips these: they repeat the same maths at several seconds each.
    const variant = (name: string, fn: () => void): void => {
      if (scale.reshareVariants) it(name, fn);
    };
    variant('reshare with more than t_old dealers gives the same secret and MPK', () => {
      const rng = seededRng(`vss/reshare-all/${curve.name}`);
      const v = genesis();
      const all = v.xs.map((_, i) => i);
      const next = runReshare(curve, rng, v, all, scale.dkg.n, scale.dkg.t);
      checkVersion(curve, rng, next, v.poly[0] as G2, 10);
    });

    variant('a reshare dealer that deals a different constant is caught: A_0 != MPK', () => {
      // Story: a dealer re-deals a fresh random secret instead of its share. Each share still
      // passes Feldman against its own commitments, so only the constant-term check (C_i0 ==
      // PK_i in the source version, and A_0 == MPK) exposes it.
      const rng = seededRng(`vss/reshare-cheat/${curve.name}`);
      const v = genesis();
      const dealerIdx = randomSubset(rng, v.xs.length, v.t);
      const dealerXs = pick(v.xs, dealerIdx);
      const xs = randomXs(rng, scale.dkg.n);
      const deals = dealerIdx.map((i, k) =>
        deal(rng, v.t, xs, k === 0 ? fr.random(rng) : (v.shares[i] as bigint), curve),
      );
      xs.forEach((x, j) => {
        assert.equal(verifyShares(deals.map((d) => d.commitments), x, deals.map((d) => d.shares[j] as bigint), rng, curve).ok, true);
      });
      assert.equal(g2eq(curve, deals[0]?.commitments[0] as G2, publicShare(v.poly, dealerXs[0] as bigint, curve)), false);
      const poly = lagrangeCombineCommitments(deals.map((d) => d.commitments), dealerXs, curve);
      assert.equal(g2eq(curve, poly[0] as G2, v.poly[0] as G2), false);
    });

    it('combination helpers refuse malformed input', () => {
      const rng = seededRng('vss/combine-errors');
      const a = deal(rng, 2, [1n, 2n], undefined, curve).commitments;
      const b = deal(rng, 3, [1n, 2n, 3n], undefined, curve).commitments;
      assert.throws(() => sumCommitments([], curve), /commitmentsList: expected at least 1/);
      assert.throws(() => sumCommitments([a, b], curve), /commitmentsList\[1\]: expected 2 commitments/);
      assert.throws(() => lagrangeCombineCommitments([a, a], [1n], curve), /dealerXs: expected 2/);
      assert.throws(() => lagrangeCombineCommitments([a, a], [1n, 1n], curve), XSetError);
      assert.throws(() => sumShares([]), /shares: expected at least 1/);
      assert.throws(() => lagrangeCombineShares([1n, 2n], [1n]), /dealerXs: expected 2/);
      assert.throws(() => lagrangeCombineShares([1n, 2n], [0n, 1n]), XSetError);
    });
  });

  describe(`feldman-vss ${tag}: batch check of public shares (a reshare's constant terms)`, () => {
    // Story: m reshare dealers claim constant commitments P_i that must equal their public
    // shares PK_i = Σ_k x_i^k·A_k in the source polynomial A. One weighted equation checks
    // them all; a failing batch falls back to one check per dealer and names each bad one.
    const rng = seededRng(`vss/public-shares/${curve.name}`);
    const [n, t] = scale.configs[0] as readonly [number, number];
    const poly = deal(rng, t, randomXs(rng, n), undefined, curve).commitments;
    const m = scale.dealers;
    const xs = randomXs(rng, m);
    const good = xs.map((x) => publicShare(poly, x, curve));
    const weights = derivedWeights(new TextEncoder().encode(`public-shares/${curve.name}`), m);
    const off = (bad: number[]): G2[] => good.map((p, i) => (bad.includes(i) ? curve.g2.add(p, G) : p));

    it('accepts the true public shares', () => {
      assert.deepEqual(verifyPublicShares(poly, xs, good, weights, curve), { ok: true, bad: [] });
    });

    const cases: number[][] = m >= 6 ? [[0], [3], [m - 1], [1, 4], Array.from({ length: m }, (_, i) => i)] : [[0], [1, 2]];
    for (const bad of cases) {
      it(`names exactly the bad point(s) ${JSON.stringify(bad)}`, () => {
        assert.deepEqual(verifyPublicShares(poly, xs, off(bad), weights, curve), { ok: false, bad });
      });
    }

    it('names two points whose errors cancel in an unweighted sum', () => {
      const pts = [...good];
      const delta = curve.g2.mul(G, fr.random(rng));
      pts[0] = curve.g2.add(pts[0] as G2, delta);
      pts[1] = curve.g2.sub(pts[1] as G2, delta);
      // With equal weights the batch equation holds: this is what the weights are for.
      const ones = xs.map(() => 1n);
      const sum = (ps: readonly G2[]) => ps.reduce((a, p) => curve.g2.add(a, p), curve.g2.zero);
      assert.equal(curve.g2.equals(sum(pts), sum(good)), true);
      assert.deepEqual(verifyPublicShares(poly, xs, pts, weights, curve), { ok: false, bad: [0, 1] });
      assert.deepEqual(verifyPublicShares(poly, xs, pts, ones, curve), { ok: true, bad: [] });
    });

    it('an empty batch is fine; zero weights and mismatched lengths are refused', () => {
      assert.deepEqual(verifyPublicShares(poly, [], [], [], curve), { ok: true, bad: [] });
      assert.throws(() => verifyPublicShares(poly, xs, good.slice(1), weights, curve), /points, weights: expected/);
      assert.throws(() => verifyPublicShares(poly, xs, good, weights.slice(1), curve), /points, weights: expected/);
      assert.throws(() => verifyPublicShares(poly, xs, good, weights.map((w, i) => (i === 2 ? 0n : w)), curve), /weights\[2\]: expected a non-zero/);
      assert.throws(() => verifyPublicShares([], xs, good, weights, curve), /poly: expected at least 1/);
    });
  });

  describe(`feldman-vss ${tag}: argument checks`, () => {
    it('deal refuses bad t, too few recipients, zero and duplicate xs', () => {
      const rng = seededRng('vss/args');
      assert.throws(() => deal(rng, 0, [1n], undefined, curve), /t: expected 1 <= t/);
      assert.throws(() => deal(rng, 3, [1n, 2n], undefined, curve), /recipientXs: expected at least 3 entries, got 2/);
      assert.throws(() => deal(rng, 2, [1n, 0n], undefined, curve), (e: unknown) => e instanceof XSetError && e.reason === 'zero');
      assert.throws(() => deal(rng, 2, [4n, 4n], undefined, curve), (e: unknown) => e instanceof XSetError && e.reason === 'duplicate');
      assert.throws(() => deal(rng, 2, [1n, 2n], fr.R, curve), /constant: expected 0 <= k < r/);
    });

    it('verifyShare / publicShare refuse empty commitments and non-canonical scalars', () => {
      const c = deal(seededRng('vss/args2'), 2, [1n, 2n], undefined, curve).commitments;
      assert.throws(() => verifyShare([], 1n, 1n, curve), /commitments: expected at least 1/);
      assert.throws(() => verifyShare(c, fr.R, 1n, curve), /x: expected/);
      assert.throws(() => verifyShare(c, 1n, -1n, curve), /share: expected/);
      assert.throws(() => publicShare([], 1n, curve), /commitments/);
    });

    it('derivedWeights are deterministic, non-zero, below 2^128 and bound to the transcript', () => {
      const a = derivedWeights(new TextEncoder().encode('transcript'), 100);
      assert.deepEqual(derivedWeights(new TextEncoder().encode('transcript'), 100), a);
      assert.equal(new Set(a).size, 100);
      for (const x of a) assert.ok(x > 0n && x < 1n << 128n);
      // A prefix of the weights does not depend on how many are asked for.
      assert.deepEqual(derivedWeights(new TextEncoder().encode('transcript'), 3), a.slice(0, 3));
      const b = derivedWeights(new TextEncoder().encode('transcripu'), 100);
      assert.equal(a.filter((x, i) => x === b[i]).length, 0);
      assert.deepEqual(derivedWeights(new Uint8Array(), 0), []);
      assert.throws(() => derivedWeights(new Uint8Array(), -1), RangeError);
    });

    it('randomWeights are non-zero and below 2^128', () => {
      const w = randomWeights(seededRng('w'), 200);
      assert.equal(w.length, 200);
      for (const x of w) assert.ok(x > 0n && x < 1n << 128n);
      assert.equal(new Set(w).size, 200);
      // An rng that keeps returning zeros first must not produce a zero weight.
      let calls = 0;
      const zerosFirst: Rng = (k) => (calls++ < 3 ? new Uint8Array(k) : new Uint8Array(k).fill(7));
      assert.ok(randomWeights(zerosFirst, 1)[0] !== 0n);
    });
  });
}

suite(bls, HEAVY);
if (bls.name !== nobleBackend.name) {
  suite(nobleBackend, LIGHT);

  describe('feldman-vss: backends agree', () => {
    it('the same seed gives byte-identical commitments and identical shares on both backends', () => {
      const xs = [3n, 5n, 7n];
      const a = deal(seededRng('vss/cross'), 3, xs, undefined, bls);
      const b = deal(seededRng('vss/cross'), 3, xs, undefined, nobleBackend);
      assert.deepEqual(a.shares, b.shares);
      a.commitments.forEach((c, k) => assert.deepEqual(bls.g2.encode(c), nobleBackend.g2.encode(b.commitments[k] as G2)));
      const pa = publicShare(a.commitments, 11n, bls);
      const pb = publicShare(b.commitments, 11n, nobleBackend);
      assert.deepEqual(bls.g2.encode(pa), nobleBackend.g2.encode(pb));
    });

    it('the batch check of public shares gives the same verdict on both backends', () => {
      // The same encoded points, each decoded by its own backend; dealers 1 and 3 are off.
      const rng = seededRng('vss/cross/public-shares');
      const poly = deal(rng, 3, [3n, 5n, 7n], undefined, bls).commitments.map((p) => bls.g2.encode(p));
      const xs = [2n, 4n, 6n, 8n, 10n];
      const pts = xs.map((x, i) => {
        const pk = publicShare(poly.map((b) => bls.g2.decode(b)), x, bls);
        return bls.g2.encode(i === 1 || i === 3 ? bls.g2.add(pk, bls.g2.generator) : pk);
      });
      const w = derivedWeights(new TextEncoder().encode('cross'), xs.length);
      for (const curve of [bls, nobleBackend]) {
        const r = verifyPublicShares(poly.map((b) => curve.g2.decode(b)), xs, pts.map((b) => curve.g2.decode(b)), w, curve);
        assert.deepEqual(r, { ok: false, bad: [1, 3] }, curve.name);
      }
    });
  });
}
