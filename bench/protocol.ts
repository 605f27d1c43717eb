/**
 * @module
 * Protocol benchmark: a genesis DKG and one reshare in the simulator for n = 10, 30, 50, 100
 * operators (BN254 signing keys, default threshold ceil(2n/3)), reporting per round:
 *
 * - per-node CPU time (ms): the time each node spends in its own ticks, mean and max. Pure
 *   chain-derived work (deal decoding, the round outcome, the source polynomial) is memoized
 *   across simulated nodes and paid by whichever node needs it first, so `max` is close to
 *   what a standalone node spends and `mean` slightly under it;
 * - bytes on-chain per operator: the payload each party submits (deal = commitments 96·t +
 *   ephemeral key 33 + sealed shares 48·n; ack = 117 per complaint; confirmation = hash 32 +
 *   next session key 33, plus the 96·t polynomial from the first confirmer of a hash), without
 *   calldata or ABI overhead. `perOperator` = all of a round's payload / n.
 *
 * n = 100 takes minutes (every one of 100 nodes batch-checks 100 deals of 67 commitments).
 *
 * Usage: `npm run bench -- protocol [--json]` (sizes from KMS_BENCH_SIZES, e.g. "10,30"), or
 * directly `npx tsx bench/protocol.ts [--sizes 10,30] [--json]`.
 */
import { pathToFileURL } from 'node:url';
import type { RecordedSubmission } from '../src/protocol/ledger.ts';
import { Scenario } from '../src/sim/scenario.ts';

export interface ProtocolBenchOptions {
  /** Print one JSON line instead of a table. */
  readonly json: boolean;
  /** Operator counts to run (default 10, 30, 50, 100). */
  readonly sizes?: readonly number[];
}

export interface ProtocolBenchRow {
  readonly n: number;
  readonly t: number;
  readonly round: 'dkg' | 'reshare';
  /** Per-node CPU milliseconds in this round. */
  readonly cpuMeanMs: number;
  readonly cpuMaxMs: number;
  /** Payload bytes of one deal, one (empty) ack, and the mean confirmation. */
  readonly dealBytes: number;
  readonly ackBytes: number;
  readonly confirmBytes: number;
  /** All payload bytes of the round divided by n. */
  readonly perOperatorBytes: number;
  /** Wall-clock seconds for the whole scenario (registration, DKG, reshare). */
  readonly scenarioSeconds: number;
}

export const DEFAULT_SIZES: readonly number[] = [10, 30, 50, 100];

const hexBytes = (h: string): number => (h.length - 2) / 2;

function payloadBytes(s: RecordedSubmission): number {
  switch (s.type) {
    case 'deal':
      return hexBytes(s.commitments) + hexBytes(s.ephemeralKey) + s.sealedShares.reduce((a, x) => a + hexBytes(x), 0);
    case 'ack':
      return s.complaints.reduce((a, c) => a + 20 + hexBytes(c.sharedKey) + hexBytes(c.proof), 0);
    case 'confirm':
      return 32 + hexBytes(s.publicPoly) + hexBytes(s.nextSessionKey);
  }
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Runs the protocol benchmark for each size; prints a table (or one JSON line) and returns the rows. */
export async function benchProtocol(opts: ProtocolBenchOptions): Promise<ProtocolBenchRow[]> {
  const sizes = opts.sizes ?? sizesFromEnv() ?? DEFAULT_SIZES;
  const rows: ProtocolBenchRow[] = [];
  for (const n of sizes) {
    const t0 = performance.now();
    const run = await new Scenario({ seed: `bench-protocol-${n}`, n, cpuClock: () => performance.now(), keepTranscript: false })
      .genesis()
      .reshare()
      .run();
    const scenarioSeconds = (performance.now() - t0) / 1000;
    for (const r of run.rounds) {
      if (r.outcome !== 'completed' || r.session === null || !r.snapshot) {
        const first = run.sim.transcript.find((e) => e.kind === 'error');
        throw new Error(`bench protocol: n=${n} ${r.label} did not complete (${r.outcome})${first ? `; first node error: ${first.node} ${first.detail}` : ''}`);
      }
      const cpu = run.sim.operators.map((op) => op.cpu.get(r.session as number) ?? 0);
      const subs = await run.sim.ledger.getSubmissions(r.session);
      const of = (type: RecordedSubmission['type']) => subs.filter((s) => s.type === type).map(payloadBytes);
      rows.push({
        n,
        t: r.snapshot.tNew,
        round: r.snapshot.kind,
        cpuMeanMs: Math.round(mean(cpu)),
        cpuMaxMs: Math.round(Math.max(...cpu)),
        dealBytes: Math.round(mean(of('deal'))),
        ackBytes: Math.round(mean(of('ack'))),
        confirmBytes: Math.round(mean(of('confirm'))),
        perOperatorBytes: Math.round(subs.map(payloadBytes).reduce((a, b) => a + b, 0) / n),
        scenarioSeconds: Math.round(scenarioSeconds * 10) / 10,
      });
    }
    // Progress on stderr, so `--json` output on stdout stays one line.
    console.error(`protocol: n=${n} done in ${scenarioSeconds.toFixed(1)} s`);
  }
  if (opts.json) console.log(JSON.stringify({ suite: 'protocol', results: rows }));
  else {
    console.log('\nprotocol (simulator, per node per round)');
    console.table(rows.map((r) => ({
      n: r.n, t: r.t, round: r.round, 'cpu mean ms': r.cpuMeanMs, 'cpu max ms': r.cpuMaxMs,
      'deal B': r.dealBytes, 'ack B': r.ackBytes, 'confirm B': r.confirmBytes, 'B/operator': r.perOperatorBytes, 'scenario s': r.scenarioSeconds,
    })));
  }
  return rows;
}

function parseSizes(v: string | undefined, what: string): number[] | null {
  if (v === undefined || v === '') return null;
  const sizes = v.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new RangeError(`${what}: expected comma-separated integers ≥ 2, got "${v}"`);
  return sizes;
}

function sizesFromEnv(): number[] | null {
  return parseSizes(process.env['KMS_BENCH_SIZES'], 'KMS_BENCH_SIZES');
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const i = argv.findIndex((a) => a === '--sizes' || a.startsWith('--sizes='));
  let sizes: number[] | null = null;
  try {
    if (i >= 0) sizes = parseSizes((argv[i] as string).includes('=') ? (argv[i] as string).split('=')[1] : argv[i + 1], '--sizes');
  } catch (e) {
    console.error(`bench protocol: ${(e as Error).message}`);
    return 2;
  }
  const known = new Set(['--json', '--sizes']);
  const bad = argv.filter((a, k) => a.startsWith('-') && !known.has(a.split('=')[0] as string) && !(k === i + 1));
  if (bad.length > 0 || (i >= 0 && sizes === null)) {
    console.error('usage: npx tsx bench/protocol.ts [--sizes 10,30,50,100] [--json]');
    return 2;
  }
  await benchProtocol({ json, ...(sizes ? { sizes } : {}) });
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
