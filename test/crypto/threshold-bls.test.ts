// Threshold BLS on app ids (SPEC 2): σ_j = s_j·Q(id), d = Σ λ_j σ_j = x·Q(id), and the
// verification equations for partials (single and batched) and app keys. Heavy properties on
// the default backend; a smaller set on the noble reference, which must agree byte for byte.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls, nobleBackend } from '../../src/crypto/bls12381/index.ts';
import { APP_ID_DST, PointError, type Bls12381, type G2 } from '../../src/crypto/bls12381/types.ts';
import * as fr from '../../src/crypto/fr.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { XSetError, lagrangeAtZero } from '../../src/crypto/polynomial.ts';
import { WEIGHT_BYTES, deal, publicShare } from '../../src/crypto/vss.ts';
import {
  PARTIAL_BYTES,
  appIdPoint,
  batchVerifyPartials,
  combinePartials,
  partialSign,
  verifyAndCombinePartials,
  verifyAppKey,
  verifyPartial,
  type PartialToCombine,
  type PartialToVerify,
} from '../../src/crypto/threshold.ts';
import { pick, randomSubset, randomXs } from './sharing-helpers.ts';

interface Setup {
  readonly n: number;
  readonly t: number;
  readonly secret: bigint;
  readonly xs: bigint[];
  readonly shares: bigint[];
  readonly pks: G2[];
  readonly mpk: G2;
  /** The public polynomial A_0 … A_{t-1} (A_0 = MPK). */
  readonly poly: G2[];
}

function setup(curve: Bls12381, seed: string, n: number, t: number): Setup {
  const rng = seededRng(seed);
  const xs = randomXs(rng, n);
  const secret = fr.random(rng);
  const d = deal(rng, t, xs, secret, curve);
  return {
    n,
    t,
    secret,
    xs,
    shares: d.shares,
    pks: xs.map((x) => publicShare(d.commitments, x, curve)),
    mpk: d.commitments[0] as G2,
    poly: d.commitments,
  };
}

/** The app key computed directly from the secret (test-only: no node ever holds x). */
function directKey(curve: Bls12381, secret: bigint, appId: string): Uint8Array {
  return curve.g1.encode(curve.g1.mul(appIdPoint(appId, curve), secret));
}

const APP_IDS = ['', 'app-1', 'ünïcødé ✓ 鍵', '0x' + 'ab'.repeat(32), 'x'.repeat(1000), '🔑'];

interface Scale {
  readonly n: number;
  readonly t: number;
  readonly appIds: readonly string[];
  /** Random t-subsets combined per app id. */
  readonly subsets: number;
  /** Bad-partial placements tried per batch case. */
  readonly batchTrials: number;
  /** Random pairs of bad partials tried. */
  readonly twoBadTrials: number;
  /** Run the backend-independent batch stories too (the reference backend skips them). */
  readonly stories: boolean;
}

const HEAVY: Scale = { n: 7, t: 5, appIds: APP_IDS, subsets: 6, batchTrials: 3, twoBadTrials: 6, stories: true };
const LIGHT: Scale = { n: 4, t: 3, appIds: ['app-1'], subsets: 1, batchTrials: 1, twoBadTrials: 1, stories: false };

function suite(curve: Bls12381, scale: Scale): void {
  const tag = `[${curve.name}]`;
  const S = setup(curve, `threshold/${curve.name}`, scale.n, scale.t);
  const appId = 'app-1';
  const partials = S.shares.map((s) => partialSign(s, appId, curve));
  const items = (ps: readonly Uint8Array[]): PartialToVerify[] =>
    S.xs.map((x, j) => ({ x, publicShare: S.pks[j] as G2, partial: ps[j] as Uint8Array }));

  describe(`threshold-bls ${tag}: partial signatures`, () => {
    it('σ_j = s_j·Q(id) is 48 bytes and verifies against PK_j', () => {
      const q = appIdPoint(appId, curve);
      partials.forEach((p, j) => {
        assert.equal(p.length, PARTIAL_BYTES);
        assert.deepEqual(p, curve.g1.encode(curve.g1.mul(q, S.shares[j] as bigint)));
        assert.equal(verifyPartial(S.pks[j] as G2, appId, p, curve), true);
      });
    });

    it('Q(id) is RFC 9380 hash-to-G1 of utf8(id) with the NUL DST', () => {
      const id = 'ünïcødé ✓ 鍵';
      const want = curve.hashToG1(new TextEncoder().encode(id), APP_ID_DST);
      assert.ok(curve.g1.equals(appIdPoint(id, curve), want));
      assert.equal(curve.g1.equals(appIdPoint('a', curve), appIdPoint('b', curve)), false);
    });

    it('rejects (false, no throw) a partial for another app, key, or operator, and malformed bytes', () => {
      const pk0 = S.pks[0] as G2;
      const p0 = partials[0] as Uint8Array;
      assert.equal(verifyPartial(pk0, 'app-2', p0, curve), false, 'other app id');
      assert.equal(verifyPartial(S.pks[1] as G2, appId, p0, curve), false, 'other public share');
      assert.equal(verifyPartial(pk0, appId, partials[1] as Uint8Array, curve), false, "another operator's partial");
      assert.equal(verifyPartial(S.mpk, appId, p0, curve), false, 'MPK instead of PK_j');
      assert.equal(verifyPartial(pk0, appId, partialSign(fr.add(S.shares[0] as bigint, 1n), appId, curve), curve), false, 'share + 1');
      const flipped = Uint8Array.from(p0);
      flipped[47] = (flipped[47] as number) ^ 1;
      assert.equal(verifyPartial(pk0, appId, flipped, curve), false, 'one bit flipped');
      assert.equal(verifyPartial(pk0, appId, p0.slice(0, 47), curve), false, 'truncated');
      assert.equal(verifyPartial(pk0, appId, new Uint8Array(48), curve), false, 'all zero');
      const identity = new Uint8Array(48);
      identity[0] = 0xc0;
      assert.equal(verifyPartial(pk0, appId, identity, curve), false, 'identity');
      assert.equal(verifyPartial(pk0, appId, curve.g1.encode(curve.g1.generator), curve), false, 'generator');
    });

    it('refuses misuse loudly: share 0 or ≥ r, non-string or ill-formed app id, non-bytes', () => {
      assert.throws(() => partialSign(0n, appId, curve), /share: expected 0 < share < r/);
      assert.throws(
        () => partialSign(fr.R + 99n, appId, curve),
        (e: Error) => e instanceof RangeError && e.message.startsWith('share:') && !e.message.includes((fr.R + 99n).toString()),
      );
      assert.throws(() => partialSign(1n, 'bad \ud800 id', curve), /appId: not well-formed Unicode/);
      // @ts-expect-error: wrong type on purpose
      assert.throws(() => appIdPoint(42, curve), /appId: expected string/);
      // @ts-expect-error: wrong type on purpose
      assert.throws(() => verifyPartial(S.pks[0] as G2, appId, 'aa', curve), /partial: expected Uint8Array/);
    });
  });

  describe(`threshold-bls ${tag}: combining`, () => {
    for (const id of scale.appIds) {
      it(`any t valid partials combine to x·Q(id), which verifies against MPK (id ${JSON.stringify(id.slice(0, 20))}${id.length > 20 ? '…' : ''})`, () => {
        const rng = seededRng(`threshold/combine/${curve.name}/${id}`);
        const ps = S.shares.map((s) => partialSign(s, id, curve));
        const want = directKey(curve, S.secret, id);
        for (let k = 0; k < scale.subsets; k++) {
          // Sizes t..n; extra partials are harmless (the polynomial still has degree t-1).
          const size = S.t + (k % (S.n - S.t + 1));
          const sub = randomSubset(rng, S.n, size);
          const d = combinePartials(sub.map((j) => ({ x: S.xs[j] as bigint, partial: ps[j] as Uint8Array })), curve);
          assert.deepEqual(d, want, `subset ${sub.join(',')}`);
          assert.equal(verifyAppKey(S.mpk, id, d, curve), true);
        }
        // t-1 partials give a different point that fails against MPK.
        const sub1 = randomSubset(rng, S.n, S.t - 1);
        const d1 = combinePartials(sub1.map((j) => ({ x: S.xs[j] as bigint, partial: ps[j] as Uint8Array })), curve);
        assert.notDeepEqual(d1, want);
        assert.equal(verifyAppKey(S.mpk, id, d1, curve), false);
      });
    }

    it('verifyAppKey rejects another app id, another MPK, and malformed keys', () => {
      const d = directKey(curve, S.secret, appId);
      assert.equal(verifyAppKey(S.mpk, appId, d, curve), true);
      assert.equal(verifyAppKey(S.mpk, 'app-2', d, curve), false);
      assert.equal(verifyAppKey(S.pks[0] as G2, appId, d, curve), false);
      assert.equal(verifyAppKey(S.mpk, appId, d.slice(1), curve), false);
      assert.equal(verifyAppKey(S.mpk, appId, new Uint8Array(48), curve), false);
      // A pairing-valid looking combination with one x swapped is not the key.
      const wrongX = combinePartials(
        pick(S.xs, [0, 1, 2, 3, 4].slice(0, S.t)).map((x, k) => ({ x: k === 0 ? fr.add(x, 1n) : x, partial: partials[k] as Uint8Array })),
        curve,
      );
      assert.equal(verifyAppKey(S.mpk, appId, wrongX, curve), false);
    });

    it('combinePartials refuses duplicate or zero xs, bad encodings and an empty list', () => {
      const p = partials[0] as Uint8Array;
      assert.throws(
        () => combinePartials([{ x: 5n, partial: p }, { x: 5n, partial: p }], curve),
        (e: unknown) => e instanceof XSetError && e.reason === 'duplicate' && /items\[\]\.x/.test(e.message),
      );
      assert.throws(() => combinePartials([{ x: 0n, partial: p }], curve), XSetError);
      assert.throws(() => combinePartials([{ x: 1n, partial: new Uint8Array(48) }], curve), PointError);
      assert.throws(() => combinePartials([], curve), /items: expected at least 1/);
    });
  });

  describe(`threshold-bls ${tag}: batch verification`, () => {
    const story = (name: string, fn: () => void): void => {
      if (scale.stories) it(name, fn);
    };
    const rng = seededRng(`threshold/batch/${curve.name}`);
    const wrong = (j: number, how: number): Uint8Array => {
      const s = S.shares[j] as bigint;
      switch (how % 4) {
        case 0:
          return partialSign(fr.add(s, 1n), appId, curve); // tampered share
        case 1:
          return partialSign(s, 'app-2', curve); // right key, wrong app
        case 2:
          return partials[(j + 1) % S.n] as Uint8Array; // someone else's partial
        default:
          return new Uint8Array(48); // undecodable
      }
    };

    it('accepts a set of valid partials (returns no bad index)', () => {
      assert.deepEqual(batchVerifyPartials(items(partials), appId, rng, curve), []);
      assert.deepEqual(batchVerifyPartials([], appId, rng, curve), []);
    });

    it('rejects a set with one bad partial and names it (every position, every kind of fault)', () => {
      let k = 0;
      for (let trial = 0; trial < scale.batchTrials; trial++) {
        for (let j = 0; j < S.n; j++) {
          const ps = [...partials];
          ps[j] = wrong(j, k++);
          assert.deepEqual(batchVerifyPartials(items(ps), appId, rng, curve), [j], `bad at ${j}, kind ${(k - 1) % 4}`);
        }
      }
    });

    it('rejects a set with two bad partials and names both', () => {
      let k = 1;
      for (let trial = 0; trial < scale.twoBadTrials; trial++) {
        const bad = randomSubset(rng, S.n, 2).sort((a, b) => a - b);
        const ps = [...partials];
        for (const j of bad) ps[j] = wrong(j, k++);
        assert.deepEqual(batchVerifyPartials(items(ps), appId, rng, curve), bad);
      }
    });

    story('names every bad partial when most or all are bad, and agrees with one-by-one verification', () => {
      for (let trial = 0; trial < scale.batchTrials; trial++) {
        const bad = randomSubset(rng, S.n, S.n - 1 - trial).sort((a, b) => a - b);
        const ps = [...partials];
        for (const j of bad) ps[j] = wrong(j, j + trial);
        const got = batchVerifyPartials(items(ps), appId, rng, curve);
        assert.deepEqual(got, bad);
        const oneByOne = S.xs.flatMap((_, j) => (verifyPartial(S.pks[j] as G2, appId, ps[j] as Uint8Array, curve) ? [] : [j]));
        assert.deepEqual(got, oneByOne);
      }
      const all = S.xs.map((_, j) => j);
      assert.deepEqual(batchVerifyPartials(items(all.map((j) => wrong(j, 0))), appId, rng, curve), all);
    });

    story('names a partial checked against the wrong public share', () => {
      const its = items(partials);
      its[2] = { ...(its[2] as PartialToVerify), publicShare: S.pks[3] as G2 };
      assert.deepEqual(batchVerifyPartials(its, appId, rng, curve), [2]);
    });

    story('cannot be fooled by two faults that cancel without weights', () => {
      // Story: operators 0 and 1 shift their partials by +Q and −Q. The unweighted sum
      // Σ σ_j is unchanged, so e(Σσ, G2) == e(Q, Σ PK) would pass; random weights catch it.
      const q = appIdPoint(appId, curve);
      const ps = [...partials];
      ps[0] = curve.g1.encode(curve.g1.add(curve.g1.decode(partials[0] as Uint8Array), q));
      ps[1] = curve.g1.encode(curve.g1.sub(curve.g1.decode(partials[1] as Uint8Array), q));
      assert.deepEqual(batchVerifyPartials(items(ps), appId, rng, curve), [0, 1]);
      // And the combination of those two faulty partials with honest ones is wrong.
      const d = combinePartials([0, 1, 2, 3, 4].slice(0, S.t).map((j) => ({ x: S.xs[j] as bigint, partial: ps[j] as Uint8Array })), curve);
      assert.equal(verifyAppKey(S.mpk, appId, d, curve), false);
    });

    it('refuses malformed items loudly', () => {
      assert.throws(() => batchVerifyPartials(items(partials), appId, 'rng' as unknown as never, curve), /rng: expected function/);
      const its = items(partials);
      its[1] = { ...(its[1] as PartialToVerify), x: fr.R };
      assert.throws(() => batchVerifyPartials(its, appId, rng, curve), /items\[1\]\.x/);
    });
  });

  describe(`threshold-bls ${tag}: verify and combine against the public polynomial (one check)`, () => {
    const story = (name: string, fn: () => void): void => {
      if (scale.stories) it(name, fn);
    };
    const rng = seededRng(`threshold/vc/${curve.name}`);
    const want = directKey(curve, S.secret, appId);
    const answers = (ps: readonly Uint8Array[], order: readonly number[] = S.xs.map((_, j) => j)): PartialToCombine[] =>
      order.map((j) => ({ x: S.xs[j] as bigint, partial: ps[j] as Uint8Array }));
    const run = (its: readonly PartialToCombine[], mpk: G2 = S.mpk, poly: readonly G2[] = S.poly) =>
      verifyAndCombinePartials(poly, mpk, appId, its, rng, curve);
    const wrong = (j: number, how: number): Uint8Array => {
      const s = S.shares[j] as bigint;
      switch (how % 4) {
        case 0:
          return partialSign(fr.add(s, 1n), appId, curve);
        case 1:
          return partialSign(s, 'app-2', curve);
        case 2:
          return partials[(j + 1) % S.n] as Uint8Array;
        default:
          return new Uint8Array(48);
      }
    };

    it('valid partials: nothing bad, the first t are combined into x·Q(id), which is checked against MPK', () => {
      const r = run(answers(partials));
      assert.deepEqual(r.bad, []);
      assert.deepEqual(r.used, S.xs.slice(0, S.t).map((_, j) => j));
      assert.deepEqual(r.appKey, want);
      assert.equal(r.appKeyValid, true);
      assert.ok(r.appKeyPoint !== undefined && curve.g1.equals(r.appKeyPoint, curve.g1.decode(want)));
      assert.equal(verifyAppKey(S.mpk, appId, r.appKey as Uint8Array, curve), true);
      // Any order and any t..n of them give the same key.
      const sub = randomSubset(rng, S.n, S.t);
      assert.deepEqual(run(answers(partials, sub)).appKey, want);
    });

    it('valid partials pass the single check: no fallback (it draws exactly m + 1 weights)', () => {
      // The fallback would name nothing and recombine the same key, so only the randomness it
      // draws shows whether the one check accepted (m + 1 weights) or failed (m more).
      for (const size of [S.t, S.n]) {
        let drawn = 0;
        const counting = (k: number): Uint8Array => {
          drawn += k;
          return rng(k);
        };
        const sub = randomSubset(rng, S.n, size);
        const r = verifyAndCombinePartials(S.poly, S.mpk, appId, answers(partials, sub), counting, curve);
        assert.deepEqual(r.appKey, want);
        assert.equal(drawn, (size + 1) * WEIGHT_BYTES, `${size} partials`);
      }
    });

    it('names one bad partial at every position (every kind of fault) and still combines the key from the others', () => {
      let k = 0;
      for (let trial = 0; trial < scale.batchTrials; trial++) {
        for (let j = 0; j < S.n; j++) {
          const ps = [...partials];
          ps[j] = wrong(j, k++);
          const r = run(answers(ps));
          assert.deepEqual(r.bad, [j], `bad at ${j}, kind ${(k - 1) % 4}`);
          assert.ok(!r.used.includes(j), 'a bad partial is never combined');
          assert.equal(r.used.length, S.t);
          assert.deepEqual(r.appKey, want);
          assert.equal(r.appKeyValid, true);
        }
      }
    });

    it('names two bad partials, and agrees with one-by-one verification against PK_j', () => {
      let k = 1;
      for (let trial = 0; trial < scale.twoBadTrials; trial++) {
        const bad = randomSubset(rng, S.n, 2).sort((a, b) => a - b);
        const ps = [...partials];
        for (const j of bad) ps[j] = wrong(j, k++);
        const r = run(answers(ps));
        assert.deepEqual(r.bad, bad);
        const oneByOne = S.xs.flatMap((_, j) => (verifyPartial(S.pks[j] as G2, appId, ps[j] as Uint8Array, curve) ? [] : [j]));
        assert.deepEqual(r.bad, oneByOne);
        assert.deepEqual(r.appKey, S.n - 2 >= S.t ? want : undefined);
      }
    });

    it('fewer than t valid partials: every bad one named, no key', () => {
      const ps = partials.map((p, j) => (j < S.n - S.t + 1 ? wrong(j, j) : p));
      const r = run(answers(ps));
      assert.deepEqual(r.bad, S.xs.slice(0, S.n - S.t + 1).map((_, j) => j));
      assert.deepEqual(r.used, []);
      assert.equal(r.appKey, undefined);
      assert.equal(r.appKeyValid, false);
      assert.deepEqual(run([]).bad, []);
    });

    it('refuses the key against another MPK although every partial is valid (the key check is not skipped)', () => {
      const otherMpk = curve.g2.add(S.mpk, curve.g2.generator);
      const r = run(answers(partials), otherMpk);
      assert.deepEqual(r.bad, [], 'the partials themselves are fine');
      assert.deepEqual(r.appKey, want);
      assert.equal(r.appKeyValid, false);
    });

    it('a polynomial of another sharing makes every partial bad', () => {
      const other = deal(seededRng(`threshold/vc/other/${curve.name}`), S.t, S.xs, S.secret, curve).commitments;
      // Same secret (so A_0 = MPK) but other coefficients: PK_j differ, every σ_j fails.
      const r = run(answers(partials), S.mpk, other);
      assert.deepEqual(r.bad, S.xs.map((_, j) => j));
      assert.equal(r.appKey, undefined);
    });

    story('cannot be fooled by two faults that cancel without weights, in the partials the key is made of', () => {
      // Operators 0 and 1 shift their partials by +λ_1·Q and −λ_0·Q: the unweighted Lagrange
      // combination of the first t is unchanged (d is still x·Q!), so e(d, G2) == e(Q, MPK)
      // alone would pass. Every partial is checked on its own weight: both are named.
      const q = appIdPoint(appId, curve);
      const [l0, l1] = lagrangeAtZero(S.xs.slice(0, S.t)) as [bigint, bigint];
      const ps = [...partials];
      ps[0] = curve.g1.encode(curve.g1.add(curve.g1.decode(partials[0] as Uint8Array), curve.g1.mul(q, l1)));
      ps[1] = curve.g1.encode(curve.g1.sub(curve.g1.decode(partials[1] as Uint8Array), curve.g1.mul(q, l0)));
      assert.deepEqual(combinePartials(answers(ps).slice(0, S.t), curve), want, 'the forged pair cancels in d');
      const r = run(answers(ps));
      assert.deepEqual(r.bad, [0, 1]);
      assert.deepEqual(r.used, S.xs.slice(2, 2 + S.t).map((_, j) => j + 2));
      assert.deepEqual(r.appKey, S.n - 2 >= S.t ? want : undefined);
    });

    story('cannot be fooled by two faults that cancel in the plain sum of the partials', () => {
      // Operators 0 and 1 shift by +Q and −Q: Σ σ_j is unchanged, so an unweighted batch would
      // pass; only random weights name them.
      const q = appIdPoint(appId, curve);
      const ps = [...partials];
      ps[0] = curve.g1.encode(curve.g1.add(curve.g1.decode(partials[0] as Uint8Array), q));
      ps[1] = curve.g1.encode(curve.g1.sub(curve.g1.decode(partials[1] as Uint8Array), q));
      const r = run(answers(ps));
      assert.deepEqual(r.bad, [0, 1]);
      assert.deepEqual(r.appKey, want);
      assert.equal(r.appKeyValid, true);
    });

    story('cannot be fooled by two faults beyond the first t that cancel for fixed coefficient weights', () => {
      // Story: with every coefficient weight ρ_k = 1 the one check would compare Σ_i ℓ_i(1)·σ_i
      // (ℓ_i the Lagrange basis over all n xs) with f(1)·Q. Operators n−2 and n−1 shift by
      // +ℓ_{n−1}(1)·Q and −ℓ_{n−2}(1)·Q: that sum is unchanged, and d (the first t) too. Only
      // random weights catch them, and then both are named.
      const at1 = (i: number): bigint => {
        let num = 1n;
        let den = 1n;
        S.xs.forEach((xj, j) => {
          if (j === i) return;
          num = fr.mul(num, fr.sub(1n, xj));
          den = fr.mul(den, fr.sub(S.xs[i] as bigint, xj));
        });
        return fr.mul(num, fr.inv(den));
      };
      const [a, b] = [S.n - 2, S.n - 1];
      const q = appIdPoint(appId, curve);
      const ps = [...partials];
      ps[a] = curve.g1.encode(curve.g1.add(curve.g1.decode(partials[a] as Uint8Array), curve.g1.mul(q, at1(b))));
      ps[b] = curve.g1.encode(curve.g1.sub(curve.g1.decode(partials[b] as Uint8Array), curve.g1.mul(q, at1(a))));
      const r = run(answers(ps));
      assert.deepEqual(r.bad, [a, b]);
      assert.deepEqual(r.appKey, want);
      assert.equal(r.appKeyValid, true);
    });

    story('a bad partial beyond the first t valid ones is still checked and named', () => {
      const ps = [...partials];
      ps[S.n - 1] = wrong(S.n - 1, 0);
      const r = run(answers(ps));
      assert.deepEqual(r.bad, [S.n - 1]);
      assert.deepEqual(r.used, S.xs.slice(0, S.t).map((_, j) => j));
      assert.equal(r.appKeyValid, true);
    });

    it('refuses misuse loudly: duplicate or zero xs, no rng, an empty polynomial', () => {
      const its = answers(partials);
      assert.throws(() => run([its[0] as PartialToCombine, its[0] as PartialToCombine]), (e: unknown) => e instanceof XSetError && e.reason === 'duplicate');
      assert.throws(() => run([{ x: 0n, partial: partials[0] as Uint8Array }]), XSetError);
      assert.throws(() => verifyAndCombinePartials(S.poly, S.mpk, appId, its, 'rng' as unknown as never, curve), /rng: expected function/);
      assert.throws(() => verifyAndCombinePartials([], S.mpk, appId, its, rng, curve), /publicPoly: expected at least 1/);
    });
  });
}

suite(bls, HEAVY);
if (bls.name !== nobleBackend.name) {
  suite(nobleBackend, LIGHT);

  describe('threshold-bls: backends agree', () => {
    it('identical partials, app keys and verdicts on both backends', () => {
      const a = setup(bls, 'threshold/cross', 4, 3);
      const b = setup(nobleBackend, 'threshold/cross', 4, 3);
      assert.deepEqual(a.shares, b.shares);
      const id = 'cross ✓';
      const pa = a.shares.map((s) => partialSign(s, id, bls));
      const pb = b.shares.map((s) => partialSign(s, id, nobleBackend));
      assert.deepEqual(pa, pb);
      const items = [0, 1, 3].map((j) => ({ x: a.xs[j] as bigint, partial: pa[j] as Uint8Array }));
      const da = combinePartials(items, bls);
      assert.deepEqual(da, combinePartials(items, nobleBackend));
      assert.equal(verifyAppKey(b.mpk, id, da, nobleBackend), true);
      assert.equal(verifyAppKey(a.mpk, id, da, bls), true);
    });

    it('verifyAndCombinePartials: identical verdicts, used sets and app keys on both backends', () => {
      const a = setup(bls, 'threshold/cross-vc', 5, 3);
      const b = setup(nobleBackend, 'threshold/cross-vc', 5, 3);
      const id = 'cross ✓';
      const pa = a.shares.map((s) => partialSign(s, id, bls));
      // Operator 1 signs another app, operator 3 sends bytes that do not decode.
      pa[1] = partialSign(a.shares[1] as bigint, 'other', bls);
      pa[3] = new Uint8Array(48);
      const its = a.xs.map((x, j) => ({ x, partial: pa[j] as Uint8Array }));
      const ra = verifyAndCombinePartials(a.poly, a.mpk, id, its, seededRng('w'), bls);
      const rb = verifyAndCombinePartials(b.poly, b.mpk, id, its, seededRng('w'), nobleBackend);
      assert.deepEqual(ra.bad, [1, 3]);
      assert.deepEqual(rb.bad, ra.bad);
      assert.deepEqual(rb.used, ra.used);
      assert.deepEqual(ra.used, [0, 2, 4]);
      assert.deepEqual(rb.appKey, ra.appKey);
      assert.deepEqual(ra.appKey, directKey(bls, a.secret, id));
      assert.equal(ra.appKeyValid && rb.appKeyValid, true);
      // And both refuse the key against another MPK.
      const ra2 = verifyAndCombinePartials(a.poly, bls.g2.generator, id, its, seededRng('w'), bls);
      const rb2 = verifyAndCombinePartials(b.poly, nobleBackend.g2.generator, id, its, seededRng('w'), nobleBackend);
      assert.equal(ra2.appKeyValid, false);
      assert.equal(rb2.appKeyValid, false);
      assert.deepEqual(rb2.bad, ra2.bad);
    });
  });
}
