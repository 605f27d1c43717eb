/**
 * @module
 * Benchmark of the BLS12-381 facade: ops/s of each primitive on BOTH backends (noble, mcl) with
 * the same seeded inputs. Primitives: G1 mul (48-byte group, random point), G2 mul (96-byte
 * group), strict G1/G2 decode (includes the subgroup check), hashToG1 (RFC 9380, app-id DST),
 * pairingCheck of 2 pairs (one multi-Miller loop + one final exponentiation), MSM of 20 terms
 * in G2 (Feldman check size for t = 20), gtPow (Fp12 exponentiation by a 255-bit scalar).
 * Timing: `./timing.ts` (median of several runs of at least `minMs` each, after a warm-up).
 */
import { APP_ID_DST, getMclBackend, nobleBackend, type Bls12381 } from '../src/crypto/bls12381/index.ts';
import { random } from '../src/crypto/fr.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { measureAll, printTable, type BenchOptions, type BenchResult, type Op } from './timing.ts';

function primitives(b: Bls12381): Op[] {
  const rng = seededRng('bench-bls');
  const k = random(rng);
  const p1 = b.g1.mul(b.g1.generator, random(rng));
  const p2 = b.g2.mul(b.g2.generator, random(rng));
  const e1 = b.g1.encode(p1);
  const e2 = b.g2.encode(p2);
  const msg = rng(32);
  const sig = b.g1.mul(p1, k);
  const pk = b.g2.mul(b.g2.generator, k);
  const pairs = [
    [sig, b.g2.generator],
    [b.g1.neg(p1), pk],
  ] as const;
  const msmPoints = Array.from({ length: 20 }, () => b.g2.mul(b.g2.generator, random(rng)));
  const msmScalars = Array.from({ length: 20 }, () => random(rng));
  const gt = b.pairing(p1, p2);
  return [
    ['G1 mul', () => b.g1.mul(p1, k)],
    ['G2 mul', () => b.g2.mul(p2, k)],
    ['G1 decode', () => b.g1.decode(e1)],
    ['G2 decode', () => b.g2.decode(e2)],
    ['hashToG1', () => b.hashToG1(msg, APP_ID_DST)],
    ['pairingCheck(2)', () => b.pairingCheck(pairs)],
    ['G2 msm(20)', () => b.g2.msm(msmPoints, msmScalars)],
    ['gtPow', () => b.gtPow(gt, k)],
  ];
}

/** Runs the BLS12-381 suite on both backends and prints ops/s per primitive. */
export async function benchBls(opts: BenchOptions): Promise<BenchResult[]> {
  const runs = opts.runs ?? 5;
  const minMs = opts.minMs ?? 200;
  const results: BenchResult[] = [];
  for (const b of [nobleBackend, await getMclBackend()]) results.push(...measureAll(b.name, primitives(b), runs, minMs));
  if (opts.json) console.log(JSON.stringify({ suite: 'bls', results }));
  else printTable(`BLS12-381 (ops/s, median of ${runs} runs of >= ${minMs} ms)`, results);
  return results;
}
