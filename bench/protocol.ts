/**
 * @module
 * Protocol benchmark: a genesis DKG and one reshare in the simulator for n = 10, 30, 50, 100
 * operators (BN254 signing keys, default threshold ceil(2n/3)), reporting per round:
 *
 * - standalone node CPU (ms), the figure of the issue 7 budget: what ONE node spends on the
 *   round computing everything itself, as a production node does. One simulated node's inputs
 *   (its source share and session secret, the session's snapshot and submissions) are
 *   captured during the run; afterwards its round is replayed `KMS_BENCH_REPLAYS` times (default
 *   3, after one warm-up) with every cache emptied, and the median is reported with its split:
 *   `deal` (its own deal: t commitments, n evaluations, n seals), `ack` (decode and check all n
 *   deals, open its n shares, one batch check), `outcome` (decode the source polynomial and the
 *   MPK, QUAL with the constant-term and complaint checks, the new public polynomial) and
 *   `confirm` (combine its share, self-check);
 * - simulator per-node CPU (ms) in its own ticks, mean and max. Chain-derived work (deal
 *   decoding, the round outcome, the source polynomial) is memoized across simulated nodes
 *   and paid by whichever node needs it first, so these understate a standalone node: `mean`
 *   by the shared work, `max` by less (that node paid most of it);
 * - the simulator's own speed (its nodes are the production `OperatorLoop`): simulated chain
 *   blocks (one per second) and rounds per wall-clock second over the whole scenario;
 * - bytes on-chain per operator: the payload each party submits (deal = commitments 96·t +
 *   ephemeral key 33 + sealed shares 48·n; ack = 117 per complaint; confirmation = hash 32 +
 *   next session key 33, plus the 96·t polynomial from the first confirmer of a hash), without
 *   calldata or ABI overhead. `perOperator` = all of a round's payload / n.
 *
 * CPU time is the process's user + system time (`process.cpuUsage`), not wall time: on a
 * shared machine other processes do not inflate it (they still slow it a little through caches
 * and memory bandwidth).
 *
 * n = 100 takes minutes (every one of 100 nodes batch-checks 100 deals of 67 commitments).
 *
 * Usage: `npm run bench -- protocol [--json]` (sizes from KMS_BENCH_SIZES, e.g. "10,30"), or
 * directly `npx tsx bench/protocol.ts [--sizes 10,30] [--json]`.
 */
import { pathToFileURL } from 'node:url';
import { keccak256 } from 'viem';
import { bls } from '../src/crypto/bls12381/index.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { clearDealParseCache } from '../src/protocol/deal-codec.ts';
import { dealerTransition, initDealer } from '../src/protocol/dealer.ts';
import { mustHex } from '../src/protocol/hex.ts';
import type { Address, Hex, RecordedSubmission, SessionSnapshot } from '../src/protocol/ledger.ts';
import { initRecipient, recipientTransition, type RecipientState } from '../src/protocol/recipient.ts';
import { clearRoundOutcomeMemo, computeRoundOutcome, decodePoly } from '../src/protocol/round-outcome.ts';
import type { Behaviour } from '../src/sim/byzantine.ts';
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
  /** One standalone node's CPU milliseconds for the round (median of the replays) and its split. */
  readonly node: NodeRoundCpu;
  /** Simulator per-node CPU milliseconds in this round (memoized chain work: see the module comment). */
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
  /**
   * The simulator's own speed over the scenario (its nodes are production `OperatorLoop`s):
   * chain blocks (one per simulated second) and rounds per wall-clock second.
   */
  readonly simBlocksPerSecond: number;
  readonly simRoundsPerSecond: number;
}

export const DEFAULT_SIZES: readonly number[] = [10, 30, 50, 100];

/** CPU milliseconds of one standalone node's round, by step (see the module comment). */
export interface NodeRoundCpu {
  readonly deal: number;
  readonly ack: number;
  readonly outcome: number;
  readonly confirm: number;
  readonly total: number;
}

/** Everything one node needs to redo its part of a round alone. */
export interface NodeRoundInput {
  readonly domain: Uint8Array;
  readonly me: Address;
  readonly snapshot: SessionSnapshot;
  readonly submissions: readonly RecordedSubmission[];
  /** Reshare: the source version's public polynomial (hex, as published) and the pinned MPK. */
  readonly sourcePoly: Hex | null;
  readonly mpk: Hex | null;
  /** Reshare: the node's share of the source version. */
  readonly sourceShare: bigint | null;
  /** The secret half of the node's session key listed in the snapshot. */
  readonly sessionSecret: Uint8Array;
}

/** Process CPU time (user + system) in milliseconds. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** What a node knew when it dealt and acked, captured by a pass-through behaviour. */
interface Captured {
  me?: Address;
  sourceShare?: bigint;
  sessionSecret?: Uint8Array;
}

function spy(into: Captured): Behaviour {
  return {
    name: 'bench-capture',
    rewrite(out, ctx) {
      into.me = ctx.me;
      if (ctx.sourceShare !== null) into.sourceShare = ctx.sourceShare;
      if (ctx.sessionSecret !== null) into.sessionSecret = ctx.sessionSecret;
      return [...out];
    },
  };
}

/**
 * Replays one node's round with every protocol cache emptied (a standalone node shares no work
 * with anybody) and returns its CPU milliseconds by step. Throws if the node would not have
 * dealt, acked without complaints and confirmed: the figure is only meaningful for an honest
 * round.
 */
export function replayNodeRound(input: NodeRoundInput, rngSeed = 'bench-replay'): NodeRoundCpu {
  clearDealParseCache();
  clearRoundOutcomeMemo();
  const { domain, me, snapshot } = input;
  const rng = seededRng(rngSeed);
  const deals = input.submissions.filter((s) => s.type === 'deal');
  const final = input.submissions.filter((s) => s.type !== 'confirm');
  const lap = (() => {
    let t = cpuMs();
    return (): number => {
      const now = cpuMs();
      const dt = now - t;
      t = now;
      return dt;
    };
  })();

  const dealer = initDealer(snapshot, me);
  if (dealer) {
    const d = dealerTransition(dealer, { type: 'deal-window-open' }, { rng, domain, snapshot, me, sourceShare: input.sourceShare, consentThreshold: null });
    if (!d.ok || d.state.status !== 'dealt') throw new Error(`replay: ${me} did not deal (${d.ok ? d.state.reason : d.error.message})`);
  }
  const deal = lap();

  const ctx = { rng, domain, snapshot, me, sessionSecret: input.sessionSecret, consentThreshold: null };
  const r0 = initRecipient(snapshot, me, null);
  if (!r0) throw new Error(`replay: ${me} is not a recipient`);
  const a = recipientTransition(r0, { type: 'deals-final', submissions: deals }, ctx);
  if (!a.ok || a.state.status !== 'acked' || (a.state.complaints?.length ?? 0) > 0) throw new Error(`replay: ${me} did not ack cleanly`);
  const ack = lap();

  let sourcePoly = null;
  if (snapshot.kind === 'reshare') {
    if (!input.sourcePoly || keccak256(input.sourcePoly) !== snapshot.sourcePolyHash) throw new Error('replay: source polynomial missing or not the snapshot\'s');
    sourcePoly = decodePoly(mustHex(input.sourcePoly, 'source polynomial'));
  }
  const mpk = input.mpk ? bls.g2.decode(mustHex(input.mpk, 'mpk')) : null;
  const o = computeRoundOutcome({ domain, snapshot, submissions: final, sourcePoly });
  if (!o.ok) throw new Error(`replay: session ${snapshot.id} outcome failed`);
  const outcome = lap();

  const c = recipientTransition(a.state as RecipientState, { type: 'acks-final', submissions: final, sourcePoly, mpk }, ctx);
  if (!c.ok || c.state.status !== 'confirmed') throw new Error(`replay: ${me} did not confirm (${c.ok ? c.state.reason : c.error.message})`);
  const confirm = lap();
  return { deal, ack, outcome, confirm, total: deal + ack + outcome + confirm };
}

/** Median of each step over `runs` cold replays, after one warm-up replay. */
export function medianNodeRound(input: NodeRoundInput, runs: number): NodeRoundCpu {
  replayNodeRound(input, 'bench-replay/warm-up');
  const all = Array.from({ length: runs }, (_, i) => replayNodeRound(input, `bench-replay/${i}`));
  const med = (k: keyof NodeRoundCpu): number => {
    const xs = all.map((r) => r[k]).sort((a, b) => a - b);
    return Math.round(xs[Math.floor(xs.length / 2)] as number);
  };
  return { deal: med('deal'), ack: med('ack'), outcome: med('outcome'), confirm: med('confirm'), total: med('total') };
}

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
  const replays = replaysFromEnv();
  const rows: ProtocolBenchRow[] = [];
  for (const n of sizes) {
    const t0 = performance.now();
    // Node 0's inputs are captured in both rounds for the standalone replay.
    const captured: Captured[] = [{}, {}];
    const run = await new Scenario({ seed: `bench-protocol-${n}`, n, cpuClock: cpuMs, keepTranscript: false })
      .genesis()
      .byzantine(0, spy(captured[0] as Captured))
      .reshare()
      .byzantine(0, spy(captured[1] as Captured))
      .run();
    const scenarioSeconds = (performance.now() - t0) / 1000;
    // The simulator's own speed: chain blocks (one per simulated second) and rounds per wall second.
    const simBlocksPerSecond = Math.round((run.sim.simMs / 1000 / scenarioSeconds) * 10) / 10;
    const simRoundsPerSecond = Math.round((run.rounds.length / scenarioSeconds) * 1000) / 1000;
    for (const [k, r] of run.rounds.entries()) {
      if (r.outcome !== 'completed' || r.session === null || !r.snapshot) {
        const first = run.sim.transcript.find((e) => e.kind === 'error');
        throw new Error(`bench protocol: n=${n} ${r.label} did not complete (${r.outcome})${first ? `; first node error: ${first.node} ${first.detail}` : ''}`);
      }
      const cpu = run.sim.operators.map((op) => op.cpu.get(r.session as number) ?? 0);
      const subs = await run.sim.ledger.getSubmissions(r.session);
      const of = (type: RecordedSubmission['type']) => subs.filter((s) => s.type === type).map(payloadBytes);
      const cap = captured[k] as Captured;
      if (!cap.me || !cap.sessionSecret) throw new Error(`bench protocol: n=${n} ${r.label}: node 0's inputs were not captured`);
      const reshare = r.snapshot.kind === 'reshare';
      const node = medianNodeRound({
        domain: run.sim.domain,
        me: cap.me,
        snapshot: r.snapshot,
        submissions: subs,
        sourcePoly: reshare ? ((await run.sim.ledger.getVersion(r.snapshot.sourceVersion))?.publicPoly ?? null) : null,
        mpk: reshare ? await run.sim.ledger.getMpk() : null,
        sourceShare: cap.sourceShare ?? null,
        sessionSecret: cap.sessionSecret,
      }, replays);
      rows.push({
        n,
        t: r.snapshot.tNew,
        round: r.snapshot.kind,
        node,
        cpuMeanMs: Math.round(mean(cpu)),
        cpuMaxMs: Math.round(Math.max(...cpu)),
        dealBytes: Math.round(mean(of('deal'))),
        ackBytes: Math.round(mean(of('ack'))),
        confirmBytes: Math.round(mean(of('confirm'))),
        perOperatorBytes: Math.round(subs.map(payloadBytes).reduce((a, b) => a + b, 0) / n),
        scenarioSeconds: Math.round(scenarioSeconds * 10) / 10,
        simBlocksPerSecond,
        simRoundsPerSecond,
      });
    }
    // Progress on stderr, so `--json` output on stdout stays one line.
    console.error(`protocol: n=${n} done in ${scenarioSeconds.toFixed(1)} s`);
  }
  if (opts.json) console.log(JSON.stringify({ suite: 'protocol', results: rows }));
  else {
    console.log(`\nprotocol (per node per round, CPU ms; standalone node = median of ${replays} cold replays; sim = simulator, memoized chain work)`);
    console.table(rows.map((r) => ({
      n: r.n, t: r.t, round: r.round,
      'node ms': r.node.total, deal: r.node.deal, ack: r.node.ack, outcome: r.node.outcome, confirm: r.node.confirm,
      'sim mean': r.cpuMeanMs, 'sim max': r.cpuMaxMs,
      'deal B': r.dealBytes, 'ack B': r.ackBytes, 'confirm B': r.confirmBytes, 'B/operator': r.perOperatorBytes, 'scenario s': r.scenarioSeconds,
      'sim blocks/s': r.simBlocksPerSecond, 'sim rounds/s': r.simRoundsPerSecond,
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

function replaysFromEnv(): number {
  const v = process.env['KMS_BENCH_REPLAYS'];
  if (v === undefined || v === '') return 3;
  const k = Number(v);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`KMS_BENCH_REPLAYS: expected an integer ≥ 1, got "${v}"`);
  return k;
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
