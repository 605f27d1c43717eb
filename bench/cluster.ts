/**
 * @module
 * Round critical path on a real cluster (issue 7, item 3): anvil, the registry and n real
 * `kms-server` processes on loopback (test/cluster/harness.ts), a genesis DKG and then
 * `KMS_BENCH_RESHARES` (default 3) reshares at consecutive boundaries, for n = 4 and 10.
 *
 * For every round and phase it measures the **critical path**: from the moment the phase
 * became actionable on-chain to the moment the last submission it needed was mined.
 *
 *   deal     session opened (block of `openSession`)      → last deal mined (the deal window's early close)
 *   ack      deal window closed                            → last ack mined (the ack window's early close)
 *   confirm  ack window closed                             → the confirmation that reached the quorum (completion)
 *   total    deal + ack + confirm = session opened → session completed (unless a window closed
 *            at its deadline — flagged `!`: then the phase counts to its last submission, the
 *            next one starts at the deadline, and `wall` keeps the idle wait)
 *
 * "Mined" is wall-clock time: the bench polls anvil's `eth_blockNumber` every
 * `KMS_BENCH_POLL_MS` (default 10 ms) and stamps each block with the moment it first saw it;
 * block numbers of the events (`SessionOpened`, `PhaseClosed`, `SessionCompleted`, the
 * submissions) then give the times. Windows close early once every expected party has
 * submitted, so no figure contains an idle wait for a window deadline (a phase that did close
 * at its deadline is flagged).
 *
 * The split of a phase comes from the node whose submission closed it. Every node logs, for
 * each submission, when its tick began reading the chain (`tickAt`), when it had read the
 * session (`steppedAt`), when the round machines returned (`computedAt`), when it handed the
 * transaction to the writer after persisting (`sentAt`) and when the receipt came back
 * (`minedAt`) — `src/node/operator-loop.ts`, `SubmissionTiming`; the same figures feed the
 * `kms_round_step_seconds` histogram. Hence:
 *
 *   detect   phase actionable → that node's tick began reading      (idle: waiting for a tick)
 *   read     → session view read (chain reads; 2–3 RPCs per ledger read)
 *   compute  → round machines done (crypto)
 *   persist  → transaction handed to the writer (SQLite transaction)
 *   chain    → block with the transaction seen by the bench (gas estimate, send, mining)
 *
 * The five add up to the phase's critical path. Processes share one wall clock (Date.now).
 *
 * Mining (`KMS_BENCH_MINING`, default both, one cluster each):
 * - `mixed` — `anvil --block-time 1 --mixed-mining`: every transaction is mined as soon as it
 *   arrives (automine), and an empty block every second keeps chain time moving (the nodes
 *   work in chain time; plain automine would freeze it between transactions and no boundary
 *   would ever pass). This shows what the nodes cost, unquantized.
 * - `block-time` — `anvil --block-time 1` (SPEC 2b, what `npm start` and the tests run): a
 *   transaction waits for the next 1 s block, so every phase is quantized to whole blocks.
 *
 * Environment: KMS_BENCH_CLUSTER_SIZES (default "4,10"), KMS_BENCH_RESHARES (3),
 * KMS_BENCH_MINING ("mixed,block-time"), KMS_BENCH_TICK_MS (500, the production tick),
 * KMS_BENCH_INTERVAL (30 s; windows of (interval − 3) / 3 s each), KMS_BENCH_CPU_PROF=<dir> (start every node with
 * `--cpu-prof` into <dir>/<mining>-n<n>; profiles are written when the nodes stop),
 * KMS_BENCH_HEAD_POLL_MS (the nodes' `--head-poll-ms`; 0 = tick on the 500 ms timer only, as
 * before the head poll), KMS_BENCH_COUNT_RPC=1 (every node's RPC through a counting proxy;
 * reports RPC/s per node — the proxy hop skews the timings of that run).
 *
 * Usage: `npm run bench -- cluster [--json]`, or `npx tsx bench/cluster.ts [--json]`.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kmsRegistryAbi } from '../src/chain/kms-registry-artifact.ts';
import type { SubmissionTiming } from '../src/node/operator-loop.ts';
import type { Address } from '../src/protocol/ledger.ts';
import { phaseEnds } from '../src/protocol/session-rules.ts';
import { startCluster, type Cluster } from '../test/cluster/harness.ts';
import { quantile } from './timing.ts';

export type Mining = 'mixed' | 'block-time';
export type PhaseName = 'deal' | 'ack' | 'confirm';

export interface ClusterBenchOptions {
  readonly json: boolean;
  readonly sizes?: readonly number[];
  readonly reshares?: number;
  readonly mining?: readonly Mining[];
  readonly tickMs?: number;
  readonly interval?: number;
  readonly pollMs?: number;
  /** Directory for `--cpu-prof` profiles of every node (none by default). */
  readonly cpuProfDir?: string;
  /** The nodes' `--head-poll-ms` (default: the node's own, 100 ms; 0: tick on the timer only). */
  readonly headPollMs?: number;
  /** Route every node's RPC through a counting proxy and report RPC/s per node (adds a hop: timings are then not comparable). */
  readonly countRpc?: boolean;
}

/** The split of one phase, from the node whose submission closed it (ms). */
export interface CriticalSplit {
  readonly node: number;
  readonly detectMs: number;
  readonly readMs: number;
  readonly computeMs: number;
  /** CPU time of `computeMs` (the rest was waiting for a core). */
  readonly computeCpuMs: number;
  readonly persistMs: number;
  readonly chainMs: number;
}

export interface PhaseFigure {
  /** Phase actionable → last needed submission mined (ms, wall clock). */
  readonly ms: number;
  /** How the phase ended: every expected submission in (early close), the quorum (confirm), or the deadline. */
  readonly closedBy: 'all-in' | 'quorum' | 'deadline';
  readonly critical: CriticalSplit | null;
  /** Over every node that submitted in this phase (first submission, no resends). */
  readonly nodes: {
    readonly count: number;
    readonly computeMedianMs: number;
    readonly computeMaxMs: number;
    readonly computeCpuMedianMs: number;
    readonly computeCpuMaxMs: number;
    readonly persistMedianMs: number;
    readonly readMedianMs: number;
    /** sentAt → receipt, as the node saw it. */
    readonly chainMedianMs: number;
    readonly detectMaxMs: number;
  };
}

export interface RoundFigure {
  readonly session: number;
  readonly kind: 'dkg' | 'reshare';
  readonly outcome: 'completed' | 'failed';
  /** First block at or past the boundary seen → `openSession` mined (ms); not part of `totalMs`. */
  readonly openMs: number | null;
  readonly phases: Readonly<Record<PhaseName, PhaseFigure>> | null;
  /** deal + ack + confirm: the critical path, without idle waits for a deadline. */
  readonly totalMs: number | null;
  /** Session opened → completed (ms): `totalMs` plus any wait for a window deadline. */
  readonly wallMs: number | null;
  /** Session opened → every recipient confirmed (the confirm window's early close), ms. */
  readonly allConfirmedMs: number | null;
}

export interface ClusterRun {
  readonly n: number;
  readonly t: number;
  readonly mining: Mining;
  readonly tickMs: number;
  /** The nodes' head poll (ms; 100 is the node's default, 0 = ticks on the timer only). */
  readonly headPollMs: number;
  readonly interval: number;
  readonly rounds: readonly RoundFigure[];
  /** Medians over the completed reshares. */
  readonly median: {
    readonly rounds: number;
    readonly phases: Readonly<Record<PhaseName, { readonly ms: number; readonly detectMs: number; readonly readMs: number; readonly computeMs: number; readonly computeCpuMs: number; readonly persistMs: number; readonly chainMs: number }>>;
    readonly totalMs: number;
    readonly openMs: number;
  };
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly wallSeconds: number;
  readonly cpuProfiles?: string;
  /** With `countRpc`: JSON-RPC requests per node per second from arming genesis to the last reshare (median, max over nodes). */
  readonly rpcPerNodeSecond?: { readonly median: number; readonly max: number };
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

const PHASES: readonly PhaseName[] = ['deal', 'ack', 'confirm'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: readonly number[]): number => quantile(xs.filter(Number.isFinite), 0.5);
const max = (xs: readonly number[]): number => (xs.length === 0 ? NaN : Math.max(...xs));

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    // not Linux: os.cpus() names it
  }
  return {
    cpuModel, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version, platform: `${process.platform}-${process.arch}`,
  };
}

/**
 * Stamps every block with the wall-clock moment the bench first saw it, by polling
 * `eth_blockNumber` (blocks first seen in the same poll share its stamp).
 */
class BlockClock {
  readonly seen = new Map<bigint, number>();
  #last = -1n;
  #stopped = false;
  #loop: Promise<void> | null = null;

  constructor(private readonly rpcUrl: string, private readonly pollMs: number) {}

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        try {
          const res = await fetch(this.rpcUrl, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
          });
          const at = Date.now();
          const body = (await res.json()) as { result?: string };
          if (typeof body.result === 'string') {
            const head = BigInt(body.result);
            for (let b = this.#last + 1n; b <= head; b++) if (!this.seen.has(b)) this.seen.set(b, at);
            if (head > this.#last) this.#last = head;
          }
        } catch {
          // anvil busy or stopping: the next poll stamps what this one missed
        }
        await sleep(this.pollMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  at(block: bigint): number {
    return this.seen.get(block) ?? NaN;
  }
}

/** One submission as a node logged it (`submitted deal|ack|confirm`, with its `SubmissionTiming`). */
interface LoggedSubmission extends SubmissionTiming {
  readonly node: number;
  readonly session: number;
  readonly kind: PhaseName;
}

function readSubmissionLogs(c: Cluster): LoggedSubmission[] {
  const out: LoggedSubmission[] = [];
  for (const node of c.nodes) {
    let text = '';
    try {
      text = readFileSync(node.logPath, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('"msg":"submitted ')) continue;
      try {
        const j = JSON.parse(line) as Partial<Omit<LoggedSubmission, 'node'>>;
        if (typeof j.session !== 'number' || typeof j.tickAt !== 'number' || typeof j.sentAt !== 'number' || typeof j.steppedAt !== 'number' || typeof j.minedAt !== 'number') continue;
        if (j.kind !== 'deal' && j.kind !== 'ack' && j.kind !== 'confirm') continue;
        const computedAt = typeof j.computedAt === 'number' ? j.computedAt : j.sentAt;
        const computeCpuMs = typeof j.computeCpuMs === 'number' ? j.computeCpuMs : NaN;
        out.push({ node: node.index, session: j.session, kind: j.kind, tickAt: j.tickAt, steppedAt: j.steppedAt, computedAt, computeCpuMs, sentAt: j.sentAt, minedAt: j.minedAt, resend: j.resend === true });
      } catch {
        // a line cut by a kill: ignore
      }
    }
  }
  return out;
}

interface ChainEvent {
  readonly name: string;
  readonly block: bigint;
  readonly logIndex: number;
  readonly session: number;
  readonly from: Address | null;
  readonly phase: number | null;
  readonly kind: number | null;
  readonly boundary: number | null;
}

async function readEvents(c: Cluster): Promise<ChainEvent[]> {
  const logs = await c.ledger.client.getContractEvents({ address: c.registry, abi: kmsRegistryAbi, fromBlock: 0n, toBlock: 'latest' });
  const out: ChainEvent[] = [];
  for (const l of logs) {
    // Only the session events are read here; their args all carry `session`.
    const a = l.args as Record<string, unknown>;
    if (typeof a['session'] !== 'bigint') continue;
    const who = a['dealer'] ?? a['recipient'];
    const snap = (a['snapshot'] ?? {}) as Record<string, unknown>;
    const int = (v: unknown): number | null => (typeof v === 'bigint' || typeof v === 'number' ? Number(v) : null);
    out.push({
      name: l.eventName, block: l.blockNumber, logIndex: l.logIndex, session: Number(a['session']),
      from: typeof who === 'string' ? (who.toLowerCase() as Address) : null,
      phase: int(a['phase']),
      kind: int(snap['kind']),
      boundary: int(snap['boundary']),
    });
  }
  return out;
}

/** The figures of one session from the chain's events, the block stamps and the nodes' logs. */
async function roundFigure(c: Cluster, clock: BlockClock, events: readonly ChainEvent[], logs: readonly LoggedSubmission[], session: number): Promise<RoundFigure | null> {
  const ev = events.filter((e) => e.session === session);
  const opened = ev.find((e) => e.name === 'SessionOpened');
  if (!opened) return null;
  const kind = opened.kind === 0 ? 'dkg' : 'reshare';
  const completed = ev.find((e) => e.name === 'SessionCompleted');
  const closed = (p: number) => ev.find((e) => e.name === 'PhaseClosed' && e.phase === p);
  const nodeOf = new Map(c.nodes.map((nd) => [nd.address, nd.index]));

  // Boundary → open: the first block whose timestamp reached the boundary.
  let openMs: number | null = null;
  if (opened.boundary !== null) {
    for (let b = opened.block; b >= 0n && b >= opened.block - 120n; b--) {
      const blk = await c.ledger.client.getBlock({ blockNumber: b });
      if (Number(blk.timestamp) < opened.boundary) {
        openMs = clock.at(opened.block) - clock.at(b + 1n);
        break;
      }
    }
  }
  if (!completed) return { session, kind, outcome: 'failed', openMs, phases: null, totalMs: null, wallMs: null, allConfirmedMs: null };
  const onChain = await c.ledger.getSession(session);
  const deadlines = onChain ? phaseEnds(onChain) : null;
  /** The first block after `after` whose timestamp reached `ts`: where a window closed at its deadline. */
  const firstBlockAt = async (ts: number, after: bigint): Promise<bigint> => {
    const head = await c.ledger.client.getBlockNumber();
    for (let b = after + 1n; b <= head; b++) if (Number((await c.ledger.client.getBlock({ blockNumber: b })).timestamp) >= ts) return b;
    return after;
  };

  const ends: Record<PhaseName, ChainEvent | undefined> = { deal: closed(0), ack: closed(1), confirm: completed };
  const phases = {} as Record<PhaseName, PhaseFigure>;
  let start = clock.at(opened.block);
  const t0 = start;
  const subName: Record<PhaseName, string> = { deal: 'DealSubmitted', ack: 'AckSubmitted', confirm: 'ConfirmationSubmitted' };
  for (const p of PHASES) {
    const end = ends[p];
    const subs = ev.filter((e) => e.name === subName[p]);
    // Without an early close the phase ran to its deadline (someone did not submit): its last
    // submission bounds the work; the next phase starts at the deadline.
    const endBlock = end?.block ?? (subs.length > 0 ? subs[subs.length - 1]!.block : opened.block);
    const endAt = clock.at(endBlock);
    const mine = logs.filter((l) => l.session === session && l.kind === p && !l.resend);
    // The submission that closed the phase: those mined in the end block; of several (1 s
    // blocks), the one sent last.
    const inEnd = new Set(subs.filter((e) => e.block === endBlock && e.from !== null).map((e) => nodeOf.get(e.from as Address)));
    const closer = logs
      .filter((l) => l.session === session && l.kind === p && inEnd.has(l.node))
      .sort((a, b) => b.sentAt - a.sentAt)[0];
    const critical: CriticalSplit | null = closer ? {
      node: closer.node,
      detectMs: Math.max(0, closer.tickAt - start),
      readMs: closer.steppedAt - Math.max(closer.tickAt, start),
      computeMs: closer.computedAt - closer.steppedAt,
      computeCpuMs: closer.computeCpuMs,
      persistMs: closer.sentAt - closer.computedAt,
      chainMs: endAt - closer.sentAt,
    } : null;
    phases[p] = {
      ms: endAt - start,
      closedBy: end ? (p === 'confirm' ? 'quorum' : 'all-in') : 'deadline',
      critical,
      nodes: {
        count: mine.length,
        computeMedianMs: median(mine.map((l) => l.computedAt - l.steppedAt)),
        computeMaxMs: max(mine.map((l) => l.computedAt - l.steppedAt)),
        computeCpuMedianMs: median(mine.map((l) => l.computeCpuMs)),
        computeCpuMaxMs: max(mine.map((l) => l.computeCpuMs).filter(Number.isFinite)),
        persistMedianMs: median(mine.map((l) => l.sentAt - l.computedAt)),
        readMedianMs: median(mine.map((l) => l.steppedAt - Math.max(l.tickAt, start))),
        chainMedianMs: median(mine.map((l) => l.minedAt - l.sentAt)),
        detectMaxMs: max(mine.map((l) => Math.max(0, l.tickAt - start))),
      },
    };
    start = endAt;
    if (!end && deadlines) start = clock.at(await firstBlockAt(p === 'deal' ? deadlines.dealEnd : deadlines.ackEnd, endBlock));
  }
  const allConfirmed = closed(2);
  return {
    session, kind, outcome: 'completed', openMs, phases,
    totalMs: PHASES.reduce((a, p) => a + phases[p].ms, 0),
    wallMs: clock.at(completed.block) - t0,
    allConfirmedMs: allConfirmed ? clock.at(allConfirmed.block) - t0 : null,
  };
}

type RunSettings = Required<Omit<ClusterBenchOptions, 'json' | 'sizes' | 'mining' | 'cpuProfDir' | 'headPollMs'>> & Pick<ClusterBenchOptions, 'cpuProfDir' | 'headPollMs'>;

async function runOne(n: number, mining: Mining, o: RunSettings): Promise<ClusterRun> {
  const began = Date.now();
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const w = Math.floor((o.interval - 3) / 3);
  const c = await startCluster({ n, interval: o.interval, windows: { deal: w, ack: w, confirm: w }, tickMs: o.tickMs, mining, name: `bench-${mining}-n${n}`, start: false, logLevel: 'info', rpcProxy: o.countRpc });
  const clock = new BlockClock(c.rpcUrl, o.pollMs);
  const profDir = o.cpuProfDir ? resolve(o.cpuProfDir, `${mining}-n${n}`) : undefined;
  try {
    clock.start();
    if (profDir) mkdirSync(profDir, { recursive: true });
    await c.startNodes(c.nodes.map((nd) => nd.index), {
      timeoutMs: 300_000, // ten processes starting on a loaded 2-core machine
      ...(o.headPollMs !== undefined ? { env: { KMS_HEAD_POLL_MS: String(o.headPollMs) } } : {}),
      ...(profDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}),
    });
    progress(`cluster ${mining} n=${n}: ${n} nodes up, arming genesis`);
    await c.waitForRoom(Math.min(o.interval - 1, 3 * w + 3));
    await c.armGenesis();
    const rpcAt = { t: Date.now(), counts: o.countRpc ? c.nodes.map((nd) => c.rpcRequests(nd.index)) : [] };
    // Wait on the chain only (no /status polling: it would load the nodes being measured).
    const waitVersion = (min: number) => c.waitFor(`version ≥ ${min}`, async () => {
      const v = await c.ledger.activeVersion();
      return v && v.id >= min ? v : undefined;
    }, { timeoutMs: (o.interval * 3 + 60) * 1000, pollMs: 1000 });
    let v = await waitVersion(1);
    progress(`cluster ${mining} n=${n}: genesis = version ${v.id}`);
    for (let k = 0; k < o.reshares; k++) {
      v = await waitVersion(v.id + 1);
      progress(`cluster ${mining} n=${n}: reshare ${k + 1}/${o.reshares} = version ${v.id}`);
    }
    const rpcRates = o.countRpc ? c.nodes.map((nd, k) => (c.rpcRequests(nd.index) - (rpcAt.counts[k] ?? 0)) / ((Date.now() - rpcAt.t) / 1000)) : [];
    // Every recipient's confirmation (the window's early close, or its deadline), then a little
    // more: every node logs its last submissions, the clock stamps the last blocks.
    await c.waitForPhase(v.id, 'closed', { timeoutMs: (w + 10) * 1000, pollMs: 500 }).catch(() => undefined);
    await sleep(1000);
    const events = await readEvents(c);
    if (profDir) await c.stopNodes(c.nodes.map((nd) => nd.index)); // SIGTERM: the profiles are written at exit
    await clock.stop();
    const logs = readSubmissionLogs(c);
    const sessions = [...new Set(events.filter((e) => e.name === 'SessionOpened').map((e) => e.session))].sort((a, b) => a - b);
    const rounds: RoundFigure[] = [];
    for (const s of sessions) {
      const r = await roundFigure(c, clock, events, logs, s);
      if (r) rounds.push(r);
    }
    const reshares = rounds.filter((r) => r.kind === 'reshare' && r.phases !== null);
    const med = (f: (r: RoundFigure) => number | undefined) => median(reshares.map((r) => f(r) ?? NaN));
    const phaseMedians = Object.fromEntries(PHASES.map((p) => [p, {
      ms: med((r) => r.phases?.[p].ms),
      detectMs: med((r) => r.phases?.[p].critical?.detectMs),
      readMs: med((r) => r.phases?.[p].critical?.readMs),
      computeMs: med((r) => r.phases?.[p].critical?.computeMs),
      computeCpuMs: med((r) => r.phases?.[p].critical?.computeCpuMs),
      persistMs: med((r) => r.phases?.[p].critical?.persistMs),
      chainMs: med((r) => r.phases?.[p].critical?.chainMs),
    }])) as ClusterRun['median']['phases'];
    return {
      n, t: Math.ceil((2 * n) / 3), mining, tickMs: o.tickMs, headPollMs: o.headPollMs ?? 100, interval: o.interval, rounds,
      median: { rounds: reshares.length, phases: phaseMedians, totalMs: med((r) => r.totalMs ?? undefined), openMs: med((r) => r.openMs ?? undefined) },
      loadAverage: { start: loadStart, end: loadavg().map((x) => Math.round(x * 100) / 100) },
      wallSeconds: Math.round((Date.now() - began) / 1000),
      ...(profDir ? { cpuProfiles: profDir } : {}),
      ...(o.countRpc ? { rpcPerNodeSecond: { median: Math.round(median(rpcRates) * 10) / 10, max: Math.round(max(rpcRates) * 10) / 10 } } : {}),
    };
  } finally {
    await clock.stop();
    await c.stop();
  }
}

function progress(msg: string): void {
  // Progress on stderr, so `--json` output on stdout stays one line.
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

const f0 = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : String(Math.round(v)));

export function printRun(r: ClusterRun): void {
  const how = r.mining === 'mixed' ? 'anvil --block-time 1 --mixed-mining (instant mining)' : 'anvil --block-time 1';
  console.log(`\ncluster n=${r.n} t=${r.t}, ${how}, tick ${r.tickMs} ms, head poll ${r.headPollMs ? `${r.headPollMs} ms` : 'off'}, interval ${r.interval} s; load average ${r.loadAverage.start.join(' ')} → ${r.loadAverage.end.join(' ')}; ${r.wallSeconds} s`);
  const W = 44;
  console.log(`session kind     outcome    open | ${'deal (detect/read/cpu/db/chain #node)'.padEnd(W)} | ${'ack'.padEnd(W)} | ${'confirm'.padEnd(W)} |  total   wall all-conf`);
  for (const x of r.rounds) {
    const ph = (p: PhaseName) => {
      const f = x.phases?.[p];
      if (!f) return '-'.padEnd(W);
      const cr = f.critical;
      const split = cr ? `${f0(cr.detectMs)}/${f0(cr.readMs)}/${f0(cr.computeMs)}/${f0(cr.persistMs)}/${f0(cr.chainMs)} #${cr.node}` : '?';
      return `${f0(f.ms).padStart(6)}${f.closedBy === 'deadline' ? '!' : ' '} (${split})`.padEnd(W);
    };
    console.log(`${String(x.session).padStart(7)} ${x.kind.padEnd(8)} ${x.outcome.padEnd(9)} ${f0(x.openMs).padStart(5)} | ${ph('deal')} | ${ph('ack')} | ${ph('confirm')} | ${f0(x.totalMs).padStart(6)} ${f0(x.wallMs ?? x.totalMs).padStart(6)} ${f0(x.allConfirmedMs).padStart(6)}`);
  }
  const m = r.median;
  console.log(`median over ${m.rounds} reshares (ms; split = the closing node's detect / read / compute / persist / chain):`);
  console.log('phase      critical   detect     read  compute (cpu)  persist    chain');
  for (const p of PHASES) {
    const q = m.phases[p];
    console.log(`${p.padEnd(9)}${f0(q.ms).padStart(9)}${f0(q.detectMs).padStart(9)}${f0(q.readMs).padStart(9)}${f0(q.computeMs).padStart(9)}${`(${f0(q.computeCpuMs)})`.padStart(6)}${f0(q.persistMs).padStart(9)}${f0(q.chainMs).padStart(9)}`);
  }
  console.log(`${'total'.padEnd(9)}${f0(m.totalMs).padStart(9)}   (boundary → open, not in total: ${f0(m.openMs)} ms)`);
  const all = (p: PhaseName, k: Exclude<keyof PhaseFigure['nodes'], 'count'>) =>
    f0(median(r.rounds.filter((x) => x.kind === 'reshare').map((x) => x.phases?.[p].nodes[k] ?? NaN)));
  console.log('every node (median over reshares of the per-round median / max over nodes):');
  for (const p of PHASES) console.log(`  ${p.padEnd(8)} read ${all(p, 'readMedianMs')}, compute ${all(p, 'computeMedianMs')} (max ${all(p, 'computeMaxMs')}; cpu ${all(p, 'computeCpuMedianMs')}, max ${all(p, 'computeCpuMaxMs')}), persist ${all(p, 'persistMedianMs')}, send→receipt ${all(p, 'chainMedianMs')}, detect max ${all(p, 'detectMaxMs')}`);
  if (r.cpuProfiles) console.log(`cpu profiles: ${r.cpuProfiles}`);
  if (r.rpcPerNodeSecond) console.log(`JSON-RPC requests per node per second (through the counting proxy): median ${r.rpcPerNodeSecond.median}, max ${r.rpcPerNodeSecond.max}`);
}

const envList = (name: string): string[] | undefined => process.env[name]?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

export async function benchCluster(opts: ClusterBenchOptions): Promise<{ machine: MachineInfo; runs: ClusterRun[] }> {
  const sizes = opts.sizes ?? envList('KMS_BENCH_CLUSTER_SIZES')?.map(Number) ?? [4, 10];
  const mining = opts.mining ?? (envList('KMS_BENCH_MINING') as Mining[] | undefined) ?? ['mixed', 'block-time'];
  for (const m of mining) if (m !== 'mixed' && m !== 'block-time') throw new RangeError(`KMS_BENCH_MINING: unknown mining "${String(m)}" (mixed, block-time)`);
  for (const n of sizes) if (!Number.isInteger(n) || n < 2 || n > 18) throw new RangeError(`cluster size ${n}: expected 2..18 (anvil accounts)`);
  const o = {
    reshares: opts.reshares ?? Number(process.env['KMS_BENCH_RESHARES'] ?? 3),
    tickMs: opts.tickMs ?? Number(process.env['KMS_BENCH_TICK_MS'] ?? 500),
    interval: opts.interval ?? Number(process.env['KMS_BENCH_INTERVAL'] ?? 30),
    pollMs: opts.pollMs ?? Number(process.env['KMS_BENCH_POLL_MS'] ?? 10),
    countRpc: opts.countRpc ?? process.env['KMS_BENCH_COUNT_RPC'] === '1',
    ...(opts.cpuProfDir ?? process.env['KMS_BENCH_CPU_PROF'] ? { cpuProfDir: opts.cpuProfDir ?? process.env['KMS_BENCH_CPU_PROF'] } : {}),
    ...(opts.headPollMs ?? process.env['KMS_BENCH_HEAD_POLL_MS'] ? { headPollMs: opts.headPollMs ?? Number(process.env['KMS_BENCH_HEAD_POLL_MS']) } : {}),
  };
  const machine = machineInfo();
  const runs: ClusterRun[] = [];
  for (const m of mining) {
    for (const n of sizes) {
      const run = await runOne(n, m, o);
      runs.push(run);
      if (!opts.json) printRun(run);
    }
  }
  if (opts.json) console.log(JSON.stringify({ suite: 'cluster', machine, runs }));
  else console.log(`\nmachine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node} (${machine.platform})`);
  return { machine, runs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchCluster({ json: process.argv.includes('--json') });
}

