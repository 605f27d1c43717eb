/**
 * @module
 * The one timing helper of the benchmark suites, and their table printer. A figure is the
 * median ops/s of `runs` timed runs after one warm-up run; a run repeats the operation until it
 * has taken at least `minMs` (so a slow operation simply runs fewer times).
 */

export interface BenchOptions {
  /** Print one JSON line instead of a table. */
  readonly json: boolean;
  /** Timed runs per primitive (median reported). Default 5. */
  readonly runs?: number;
  /** Minimum duration of one run in milliseconds. Default 200. */
  readonly minMs?: number;
}

export interface BenchResult {
  /** The BLS12-381 backend (`mcl`, `noble`), or `n/a` for a primitive that uses neither. */
  readonly backend: string;
  readonly op: string;
  readonly opsPerSec: number;
  readonly msPerOp: number;
}

/** A named operation to time. */
export type Op = readonly [name: string, f: () => unknown];

/** Milliseconds per call of `f`, called again and again for at least `minMs` (one run, no warm-up). */
export function msPerCall(f: () => unknown, minMs: number): number {
  let n = 0;
  const t0 = performance.now();
  let dt = 0;
  do {
    f();
    n++;
    dt = performance.now() - t0;
  } while (dt < minMs);
  return dt / n;
}

/** Median ops/s of `f` over `runs` runs of at least `minMs` each, after one warm-up run. */
export function measure(f: () => unknown, runs: number, minMs: number): number {
  const run = (): number => 1000 / msPerCall(f, minMs);
  run(); // warm-up (JIT, wasm tiers, lazy precomputation tables)
  const rates = Array.from({ length: runs }, run).sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}

/** Times every op of `ops` under the label `backend`. */
export function measureAll(backend: string, ops: readonly Op[], runs: number, minMs: number): BenchResult[] {
  return ops.map(([op, f]) => {
    const opsPerSec = measure(f, runs, minMs);
    return { backend, op, opsPerSec, msPerOp: 1000 / opsPerSec };
  });
}

const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');

/**
 * Prints one row per op: the `noble` and `mcl` figures and their ratio; an op measured only
 * under `n/a` (no BLS12-381 backend involved) gets its figure in the last column.
 */
export function printTable(title: string, results: readonly BenchResult[]): void {
  const rate = (backend: string, op: string): number =>
    results.find((r) => r.backend === backend && r.op === op)?.opsPerSec ?? NaN;
  const width = Math.max(18, ...results.map((r) => r.op.length + 2));
  const hasSingle = results.some((r) => r.backend === 'n/a');
  console.log(title);
  console.log(
    `${'primitive'.padEnd(width)}${'noble'.padStart(12)}${'mcl'.padStart(12)}${'mcl/noble'.padStart(12)}` +
      (hasSingle ? 'backend-free'.padStart(14) : ''),
  );
  for (const op of new Set(results.map((r) => r.op))) {
    const [n, m, s] = [rate('noble', op), rate('mcl', op), rate('n/a', op)];
    const ratio = Number.isFinite(n) && Number.isFinite(m) ? `${(m / n).toFixed(1)}x` : '-';
    console.log(
      `${op.padEnd(width)}${fmt(n).padStart(12)}${fmt(m).padStart(12)}${ratio.padStart(12)}` +
        (hasSingle ? fmt(s).padStart(14) : ''),
    );
  }
}

/** `measure` for an async operation (awaited one at a time): median ops/s over `runs` runs. */
export async function measureAsync(f: () => Promise<unknown>, runs: number, minMs: number): Promise<number> {
  const run = async (): Promise<number> => {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      await f();
      n++;
      dt = performance.now() - t0;
    } while (dt < minMs);
    return (n * 1000) / dt;
  };
  await run(); // warm-up
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push(await run());
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}
