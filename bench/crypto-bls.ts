/**
 * @module
 * Benchmark of the BLS12-381 facade: ops/s of each primitive on BOTH backends (noble, mcl) with
 * the same seeded inputs. Primitives: G1 mul (48-byte group, random point), G2 mul (96-byte
 * group), strict G1/G2 decode (includes the subgroup check), hashToG1 (RFC 9380, app-id DST),
 * pairingCheck of 2 pairs (one multi-Miller loop + one final exponentiation), MSM of 20 terms
 * in G2 (Feldman check size for t = 20), gtPow (Fp12 exponentiation by a 255-bit scalar).
 * Each figure is the median of several timed runs after a warm-up; a run repeats the operation
 * until it has taken at least `minMs`.
 */
import { APP_ID_DST, getMclBackend, nobleBackend, type Bls12381 } from '../src/crypto/bls12381/index.ts';
import { random } from '../src/crypto/fr.ts';
import { seededRng } from '../src/crypto/rng.ts';

export interface BenchOptions {
  /** Print one JSON line instead of a table. */
  readonly json: boolean;
  /** Timed runs per primitive (median reported). Default 5. */
  readonly runs?: number;
  /** Minimum duration of one run in milliseconds. Default 200. */
  readonly minMs?: number;
}

export interface BenchResult {
  readonly backend: string;
  readonly op: string;
  readonly opsPerSec: number;
  readonly msPerOp: number;
}

/** Median ops/s of `f` over `runs` runs of at least `minMs` each, after one warm-up run. */
export function measure(f: () => unknown, runs: number, minMs: number): number {
  const run = (): number => {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      f();
      n++;
      dt = performance.now() - t0;
    } while (dt < minMs);
    return (n * 1000) / dt;
  };
  run(); // warm-up (JIT, wasm tiers, lazy precomputation tables)
  const rates = Array.from({ length: runs }, run).sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}

function primitives(b: Bls12381): Array<[string, () => unknown]> {
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
  const backends = [nobleBackend, await getMclBackend()];
  const results: BenchResult[] = [];
  for (const b of backends) {
    for (const [op, f] of primitives(b)) {
      const opsPerSec = measure(f, runs, minMs);
      results.push({ backend: b.name, op, opsPerSec, msPerOp: 1000 / opsPerSec });
    }
  }
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'bls', results }));
  } else {
    const ops = [...new Set(results.map((r) => r.op))];
    const rate = (backend: string, op: string): number =>
      results.find((r) => r.backend === backend && r.op === op)?.opsPerSec ?? NaN;
    console.log('BLS12-381 (ops/s, median of %d runs of >= %d ms)', runs, minMs);
    console.log(`${'primitive'.padEnd(18)}${'noble'.padStart(12)}${'mcl'.padStart(12)}${'mcl/noble'.padStart(12)}`);
    for (const op of ops) {
      const [n, m] = [rate('noble', op), rate('mcl', op)];
      console.log(`${op.padEnd(18)}${n.toFixed(1).padStart(12)}${m.toFixed(1).padStart(12)}${(m / n).toFixed(1).padStart(11)}x`);
    }
  }
  return results;
}
