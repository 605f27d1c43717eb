/**
 * @module
 * Randomized fault runs (issue 13 item 3): N production `OperatorLoop`s with in-memory key
 * stores on the fork chain (`fork-chain.ts`: blocks, a mempool, finality depth, reorgs, per-node
 * lagging and faulty RPC views), one block per simulated second, with faults drawn from one
 * seed, and the invariants checked after every block (`fault-invariants.ts`).
 *
 * A run has two phases:
 *   faults  until `rounds` sessions have opened and their outcomes are final: at every block
 *           a fault may start, drawn from the seed (kinds below), within a budget that keeps
 *           at most max(1, n − t − 1) nodes impaired at once and at most one store loss per
 *           completed version (so the key can never be lost by design: a lost key is a
 *           liveness violation, not a fault the protocol promises to survive);
 *   quiet   every node restarted, healed and honest again: a reshare must complete within
 *           two intervals (a boundary comes within one, its round ends within the next).
 *
 * Faults (`FAULT_KINDS`): `crash` (at once, or at the node's next submission — between
 * persisting and sending — or right after it), `restart` (implied: every crash restarts after
 * 1..15 blocks), `wipe` (the node loses its key store and rejoins: a fresh session key, a
 * recipient again next round), `partition` (no reads, no writes for 3..20 blocks), `lag` (the
 * endpoint serves blocks 1..finalityDepth behind the head), `rpc` (timeouts and lost
 * receipts), `reorg` (the last 1..finalityDepth blocks replaced; their transactions kept,
 * reordered, partly or wholly dropped), `drop` (a node's queued transactions leave the mempool),
 * `byzantine` (one dealer per session: bad shares, malformed or wrong-constant deals, false
 * complaints, withheld messages), `join`, `leave`, `eject` and `threshold` (governance
 * membership and threshold changes, between rounds).
 *
 * Determinism: the chain, the nodes' randomness and the fault schedule all come from the seed;
 * ticks interleave only through promises, drained before every block. `digest` hashes every
 * block (number, hash, time, transactions) and every fault: one seed, one digest.
 */
import { createHash } from 'node:crypto';
import { makeDomain } from '../crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../crypto/operator-sig.ts';
import { seededRng, type Rng } from '../crypto/rng.ts';
import { generateSealKeyPair } from '../crypto/seal.ts';
import * as fr from '../crypto/fr.ts';
import { MemoryKeyStore } from '../node/memory-key-store.ts';
import { ensureSessionKey, OperatorLoop, type LoopLogger } from '../node/operator-loop.ts';
import { bytesToHex } from '../protocol/hex.ts';
import { LedgerError, type Address, type Hex, type LedgerWriter } from '../protocol/ledger.ts';
import { thresholdBounds } from '../protocol/session-rules.ts';
import type { Outgoing } from '../protocol/transition.ts';
import { badShares, complaintSpam, falseComplaint, malformedDeal, withholdAck, withholdConfirm, withholdDeal, wrongConstant, type Behaviour, type ByzantineContext } from './byzantine.ts';
import { guardStore, NodeDownError } from './crashable.ts';
import { FaultInvariants } from './fault-invariants.ts';
import { ForkChain, type ChainView } from './fork-chain.ts';
import { randomFaults, RpcFaultError, TransactionDroppedError } from './rpc-faults.ts';

export const FAULT_KINDS = ['crash', 'wipe', 'partition', 'lag', 'rpc', 'reorg', 'drop', 'byzantine', 'join', 'leave', 'eject', 'threshold'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Test-only faults that break an invariant on purpose (the checker must report them). */
export const INJECTIONS = ['corrupt-share'] as const;
export type Injection = (typeof INJECTIONS)[number];

export interface FaultRunOptions {
  readonly seed: number;
  /** Operators registered at genesis (2..16). */
  readonly nodes: number;
  /** Sessions to run under faults (genesis included). */
  readonly rounds: number;
  readonly faults: readonly FaultKind[];
  /** Reshare interval in blocks (= seconds); windows scale with it. Default 30. */
  readonly interval?: number;
  readonly finalityDepth?: number;
  /** Breaks an invariant on purpose, to test the checker. */
  readonly inject?: Injection | null;
  /** Every line hashed into the digest (blocks, faults), as it happens: `--trace`. */
  readonly trace?: (line: string) => void;
  /** Called after every block (progress output). */
  readonly onBlock?: (block: number, phase: 'faults' | 'quiet') => void;
}

export interface FaultRunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly rounds: { readonly completed: number; readonly failed: number };
  readonly invariants: { readonly held: boolean; readonly violations: readonly string[] };
  readonly digest: Hex;
  readonly faults: Readonly<Record<string, number>>;
  readonly blocks: number;
}

const CHAIN_ID = 31337n;
const REGISTRY: Address = '0x00000000000000000000000000000000000000aa';
const OWNER: Address = '0x00000000000000000000000000000000000000ff';
const START = 1_000_000;
const MAX_NODES = 24;

/** One simulated operator: its store (disk), its endpoint, and its running loop (if up). */
export interface RunNode {
  readonly index: number;
  readonly label: string;
  readonly address: Address;
  readonly view: ChainView;
  store: MemoryKeyStore;
  loop: OperatorLoop | null;
  incarnation: number;
  sessionKeyReady: boolean;
  busy: Promise<void> | null;
  /** Block number at which a crashed node restarts. */
  restartAt: number | null;
  /** No ticks (no reads, no writes) until this block. */
  partitionUntil: number;
  lagUntil: number;
  rpcUntil: number;
  /** Crash at its next submission: before sending it, or right after. */
  crashAtSend: 'before' | 'after' | null;
  /** Misbehaves as a dealer / recipient in this session (null: honest). */
  byzantine: { readonly session: number; readonly behaviour: Behaviour } | null;
  /** Sessions in which it misbehaved (not an honest node there). */
  readonly cheatedIn: Set<number>;
  /** Sessions in which it lost its store (its round states there are gone). */
  readonly log: string[];
}

/** `node.ts`'s tick errors that are faults the run injected, never bugs. */
function expectedError(e: unknown): boolean {
  return e instanceof NodeDownError || e instanceof RpcFaultError || e instanceof TransactionDroppedError;
}

class Draw {
  readonly #rng: Rng;
  constructor(rng: Rng) {
    this.#rng = rng;
  }
  /** Uniform in [0, 1). */
  u(): number {
    const b = this.#rng(4);
    return ((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0) / 2 ** 32;
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.u() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from nothing');
    return xs[this.int(0, xs.length - 1)] as T;
  }
  chance(p: number): boolean {
    return this.u() < p;
  }
}

export async function runFaults(o: FaultRunOptions): Promise<FaultRunResult> {
  return new FaultRun(o).run();
}

class FaultRun {
  readonly #o: FaultRunOptions;
  readonly #hash = createHash('sha256');
  readonly #draw: Draw;
  readonly #faults = new Set<FaultKind>();
  readonly counts: Record<string, number> = {};
  readonly chain: ForkChain;
  readonly nodes: RunNode[] = [];
  readonly #domain = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });
  readonly #interval: number;
  readonly #depth: number;
  #check!: FaultInvariants;
  #membershipRound = 0;
  #injected = false;

  constructor(o: FaultRunOptions) {
    if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new RangeError(`seed: expected a non-negative integer, got ${o.seed}`);
    if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 16) throw new RangeError(`nodes: expected 2..16, got ${o.nodes}`);
    if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 1000) throw new RangeError(`rounds: expected 1..1000, got ${o.rounds}`);
    this.#o = o;
    this.#interval = o.interval ?? 30;
    this.#depth = o.finalityDepth ?? 3;
    for (const f of o.faults) this.#faults.add(f);
    this.#draw = new Draw(seededRng(`sim ${o.seed}/faults`));
    const w = Math.max(2, Math.floor((this.#interval - 4) / 4));
    this.chain = new ForkChain({
      ledger: { chainId: CHAIN_ID, registry: REGISTRY, owner: OWNER, interval: this.#interval, dealWindow: w, ackWindow: w, confirmWindow: w, inclusionMargin: 4, startTime: START },
      finalityDepth: this.#depth,
      mode: 'automine',
      rng: seededRng(`sim ${o.seed}/chain`),
    });
  }

  #record(line: string): void {
    this.#hash.update(`${line}\n`);
    this.#o.trace?.(line);
  }

  #count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  async run(): Promise<FaultRunResult> {
    const gov = this.chain.writer(OWNER);
    for (let i = 0; i < this.#o.nodes; i++) await this.#addOperator(gov);
    await gov.armGenesis(this.#o.nodes);
    // The deployment is final before any fault: a reorg that dropped a registration or the
    // arming is governance's to resend, not a fault of the nodes under test.
    for (let i = 0; i <= this.#depth; i++) await this.chain.mine({ time: this.chain.time });
    this.chain.setMode('blocks');
    this.#check = new FaultInvariants(this.chain, this.nodes, this.#domain);
    for (const n of this.nodes) this.#start(n);

    // Phase 1: faults until `rounds` sessions have opened and their outcomes are final.
    const maxFaultBlocks = (this.#o.rounds + 3) * this.#interval * 2;
    let blocks = 0;
    while (blocks < maxFaultBlocks && !(await this.#roundsDone())) {
      await this.#faultStep();
      await this.#block('faults');
      blocks++;
    }
    // Phase 2: quiet. Everyone back, honest, healed; a reshare must complete within two intervals.
    await this.#heal();
    const quietFrom = this.chain.time;
    const deadline = this.chain.head.number + 2 * this.#interval;
    let recovered = false;
    while (this.chain.head.number < deadline) {
      await this.#block('quiet');
      blocks++;
      if (await this.#completedAfter(quietFrom)) {
        recovered = true;
        break;
      }
    }
    if (!recovered) this.#check.violate(`liveness: no reshare completed within two intervals after the faults stopped (chain time ${quietFrom} → ${this.chain.time})`);
    // Let finality catch up and every node settle, then the end checks.
    for (let i = 0; i < this.#depth + 4; i++) await this.#block('quiet');
    await this.#check.atEnd();

    const final = this.chain.finalView();
    let completed = 0;
    let failed = 0;
    for (let id = 1; id <= (await final.latestSessionId()); id++) {
      const s = await final.getSession(id);
      if (s?.progress.outcome === 'completed') completed++;
      else if (s?.progress.outcome === 'failed') failed++;
    }
    const violations = this.#check.violations;
    this.#record(`end completed=${completed} failed=${failed} violations=${violations.length}`);
    return {
      seed: this.#o.seed, nodes: this.#o.nodes, rounds: { completed, failed },
      invariants: { held: violations.length === 0, violations: [...violations] },
      digest: `0x${this.#hash.digest('hex')}`,
      faults: { ...this.counts },
      blocks,
    };
  }

  async #roundsDone(): Promise<boolean> {
    const final = this.chain.finalView();
    const latest = await final.latestSessionId();
    if (latest < this.#o.rounds) return false;
    const s = await final.getSession(this.#o.rounds);
    return s !== null && s.progress.outcome !== 'pending';
  }

  async #completedAfter(t: number): Promise<boolean> {
    for (let id = await this.chain.latestSessionId(); id >= 1; id--) {
      const s = await this.chain.getSession(id);
      if (!s || s.snapshot.openedAt < t) return false;
      if (s.progress.outcome === 'completed') return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------
  // Nodes

  async #addOperator(gov: LedgerWriter): Promise<RunNode> {
    const i = this.nodes.length;
    const label = `op${i}`;
    const rng = seededRng(`sim ${this.#o.seed}/identity ${i}`);
    const address = `0x${bytesToHex(rng(20)).slice(2)}` as Address;
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), this.#domain);
    const kp = generateSealKeyPair(rng);
    const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: address });
    store.putSessionKey({ publicKey: bytesToHex(kp.publicKey), secretKey: kp.secretKey, createdAt: this.chain.time });
    // Allow, then register (each waits for its receipt: in blocks mode the next block mines it).
    const registered = gov.allowOperator(address, true).then(() => this.chain.writer(address).register({
      socket: `http://${label}.sim.invalid`, sigKeyType: 'ecdsa', sigPublicKey: bytesToHex(signer.publicKey),
      proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: bytesToHex(kp.publicKey),
    }));
    if (this.chain.mode === 'automine') await registered;
    else {
      registered.then(() => this.#record(`registered ${label}`), (e: unknown) => {
        if (!(e instanceof LedgerError) && !expectedError(e)) this.#check.violate(`registering ${label} threw: ${String(e)}`);
        this.#record(`registering ${label} refused: ${e instanceof LedgerError ? e.code : String(e)}`);
      });
    }
    const n: RunNode = {
      index: i, label, address, view: this.chain.ledgerFor(address), store, loop: null, incarnation: 0, sessionKeyReady: false, busy: null,
      restartAt: null, partitionUntil: 0, lagUntil: 0, rpcUntil: 0, crashAtSend: null, byzantine: null, cheatedIn: new Set(), log: [],
    };
    this.nodes.push(n);
    return n;
  }

  #start(n: RunNode): void {
    const inc = ++n.incarnation;
    n.sessionKeyReady = false;
    n.busy = null;
    n.restartAt = null;
    const alive = () => n.incarnation === inc;
    const line = (level: string) => (obj: object, msg: string) => {
      n.log.push(`[block ${this.chain.head.number}] ${level}: ${msg} ${JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`);
      if (n.log.length > 120) n.log.shift();
    };
    const log: LoopLogger = { debug() {}, info: line('info'), warn: line('warn'), error: line('error') };
    n.loop = new OperatorLoop({
      ledger: n.view, writer: this.#writer(n, alive), store: guardStore(n.store, alive, n.label), me: n.address, domain: this.#domain,
      consentThreshold: null, rngFor: (s, p) => seededRng(`sim ${this.#o.seed}/${n.label}/${inc}/${s}/${p}/${this.chain.head.number}`),
      log, clock: () => this.chain.head.number * 1000, cpuClock: () => 0,
    });
  }

  #crash(n: RunNode, restartIn: number): void {
    if (!n.loop) return;
    n.loop = null;
    n.incarnation++;
    n.busy = null;
    n.crashAtSend = null;
    n.restartAt = this.chain.head.number + restartIn;
  }

  /** The node's writer, through its crash plan and Byzantine behaviour; refused once its incarnation is gone. */
  #writer(n: RunNode, alive: () => boolean): LedgerWriter {
    const base = n.view.writer(n.address);
    const guard = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      if (!alive()) throw new NodeDownError(n.label);
      return f(...a);
    };
    const submit = (o: Outgoing) => guard(async () => {
      if (n.crashAtSend === 'before') {
        this.#fault(`crash ${n.label} between persist and send (${o.kind}, session ${o.body.session})`, 'crash');
        this.#crash(n, this.#draw.int(1, 10));
        throw new NodeDownError(n.label);
      }
      const outs = n.byzantine?.session === o.body.session ? await this.#rewrite(n, o) : [o];
      for (const x of outs) {
        if (x.kind === 'deal') await base.submitDeal(x.body);
        else if (x.kind === 'ack') await base.submitAck(x.body);
        else await base.submitConfirmation(x.body);
      }
      if (n.crashAtSend === 'after' && alive()) {
        this.#fault(`crash ${n.label} right after sending (${o.kind}, session ${o.body.session})`, 'crash');
        this.#crash(n, this.#draw.int(1, 10));
      }
    })();
    return {
      ...Object.fromEntries(Object.entries(base).map(([k, v]) => [k, typeof v === 'function' ? guard(v as (...a: unknown[]) => Promise<unknown>) : v])) as unknown as LedgerWriter,
      submitDeal: (body) => submit({ kind: 'deal', body }),
      submitAck: (body) => submit({ kind: 'ack', body }),
      submitConfirmation: (body) => submit({ kind: 'confirm', body }),
    };
  }

  async #rewrite(n: RunNode, o: Outgoing): Promise<readonly Outgoing[]> {
    const b = n.byzantine;
    if (!b) return [o];
    const id = o.body.session;
    const session = await n.view.getSession(id);
    if (!session) return [o];
    const s = session.snapshot;
    const source = s.kind === 'reshare' ? n.store.getVersion(s.sourceVersion) : null;
    const j = s.recipients.indexOf(n.address);
    const key = j >= 0 ? n.store.getSessionKey(s.recipientKeys[j] as Hex) : null;
    const ctx: ByzantineContext = {
      me: n.address, snapshot: s, submissions: await n.view.getSubmissions(id), domain: this.#domain,
      rng: seededRng(`sim ${this.#o.seed}/byzantine/${n.label}/${id}/${o.kind}`),
      sourceShare: source && source.publicPolyHash === s.sourcePolyHash ? source.share : null,
      sessionSecret: key?.secretKey ?? null,
      addressOf: (i) => (this.nodes[i] as RunNode).address,
    };
    n.cheatedIn.add(id);
    return b.behaviour.rewrite ? b.behaviour.rewrite([o], ctx) : [o];
  }

  #tickIdle(): void {
    const head = this.chain.head.number;
    for (const n of this.nodes) {
      const loop = n.loop;
      if (!loop || n.busy || head < n.partitionUntil) continue;
      const inc = n.incarnation;
      const p = (async () => {
        if (!n.sessionKeyReady) {
          const rng = seededRng(`sim ${this.#o.seed}/session key/${n.label}/${inc}/${head}`);
          n.sessionKeyReady = (await ensureSessionKey(n.view, this.#writer(n, () => n.incarnation === inc), guardStore(n.store, () => n.incarnation === inc, n.label), n.address, await n.view.now(), rng)) !== null;
        }
        await loop.tick();
      })().then(
        () => undefined,
        (e: unknown) => {
          if (n.incarnation !== inc || expectedError(e)) return;
          this.#check.violate(`${n.label}: a tick threw at block ${this.chain.head.number}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n    ${n.log.slice(-8).join('\n    ')}`);
        },
      ).finally(() => {
        if (n.busy === p) n.busy = null;
      });
      n.busy = p;
    }
  }

  async #block(phase: 'faults' | 'quiet'): Promise<void> {
    const b = await this.chain.mine({ time: this.chain.time + 1 });
    this.#record(`block ${b.number} ${b.hash} t=${b.time} txs=${b.txs.map((t) => `${t.id}:${t.method}`).join(',')}`);
    await settle();
    for (const n of this.nodes) {
      if (n.restartAt !== null && b.number >= n.restartAt) {
        this.#start(n);
        this.#record(`restart ${n.label}`);
      }
      if (n.lagUntil > 0 && b.number >= n.lagUntil) {
        n.view.setLag(0);
        n.lagUntil = 0;
      }
      if (n.rpcUntil > 0 && b.number >= n.rpcUntil) {
        n.view.setFaults(null);
        n.rpcUntil = 0;
      }
    }
    await this.#check.afterBlock();
    if (this.#o.inject === 'corrupt-share' && !this.#injected) this.#injectCorruptShare();
    this.#tickIdle();
    await settle();
    this.#tickIdle();
    await settle();
    this.#o.onBlock?.(b.number, phase);
  }

  /** Test-only: an honest node's stored share gets + 1 (the checker must catch it). */
  #injectCorruptShare(): void {
    for (const n of this.nodes) {
      const v = n.store.listVersions().find((x) => x.status === 'active');
      if (!v) continue;
      n.store.putVersion({ ...v, share: fr.add(v.share, 1n) });
      this.#injected = true;
      this.#fault(`inject: corrupt ${n.label}'s share of version ${v.id}`, 'inject');
      return;
    }
  }

  #fault(text: string, kind: string): void {
    this.#count(kind);
    this.#record(`fault ${text}`);
  }

  // -------------------------------------------------------------------------------------
  // The fault schedule

  /** Nodes not fully working now (down, partitioned, lagging, faulty RPC, Byzantine this session). */
  #impaired(): Set<number> {
    const head = this.chain.head.number;
    const out = new Set<number>();
    for (const n of this.nodes) {
      if (!n.loop || head < n.partitionUntil || n.lagUntil > 0 || n.rpcUntil > 0 || n.crashAtSend !== null || n.byzantine !== null) out.add(n.index);
    }
    return out;
  }

  async #faultStep(): Promise<void> {
    const d = this.#draw;
    const head = this.chain.head.number;
    const latest = await this.chain.latestSessionId();
    const session = latest > 0 ? await this.chain.getSession(latest) : null;
    const active = await this.chain.activeVersion();
    const ops = (await this.chain.getOperators()).filter((x) => x.status === 'active');
    const t = session?.snapshot.tNew ?? thresholdBounds(ops.length).min;
    const budget = Math.max(1, ops.length - t - 1);
    const impaired = this.#impaired();
    // Byzantine behaviour lasts for one session: clear it once a newer one exists.
    for (const n of this.nodes) if (n.byzantine && n.byzantine.session < latest) n.byzantine = null;

    const candidates = this.nodes.filter((n) => !impaired.has(n.index) && ops.some((x) => x.address === n.address));
    const canImpair = impaired.size < budget && candidates.length > 0;
    if (this.#faults.size === 0 || !d.chance(0.25)) return;
    const kind = d.pick([...this.#faults]);
    switch (kind) {
      case 'crash': {
        if (!canImpair) return;
        const n = d.pick(candidates);
        const how = d.pick(['now', 'before', 'after'] as const);
        if (how === 'now') {
          this.#fault(`crash ${n.label} now`, 'crash');
          this.#crash(n, d.int(1, 15));
        } else {
          this.#record(`fault plan: crash ${n.label} ${how} its next submission`);
          n.crashAtSend = how;
        }
        return;
      }
      case 'wipe': {
        // A lost store is a lost share: only while more than t nodes hold the active version
        // (the simulator sees the stores), so the key is never lost by design.
        if (!canImpair || !active) return;
        const holding = this.nodes.filter((x) => x.store.getVersion(active.id)?.publicPolyHash === active.publicPolyHash);
        if (holding.length - 1 < active.threshold) return;
        const pool = candidates.filter((x) => holding.includes(x));
        if (pool.length === 0) return;
        const n = d.pick(pool);
        this.#fault(`wipe ${n.label}: it loses its key store`, 'wipe');
        this.#crash(n, d.int(1, 10));
        n.store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: n.address });
        this.#check.forget(n);
        return;
      }
      case 'partition': {
        if (!canImpair) return;
        const n = d.pick(candidates);
        const k = d.int(3, 20);
        this.#fault(`partition ${n.label} for ${k} blocks`, 'partition');
        n.partitionUntil = head + k;
        return;
      }
      case 'lag': {
        if (!canImpair) return;
        const n = d.pick(candidates);
        const lag = d.int(1, this.#depth);
        const k = d.int(5, 30);
        this.#fault(`lag ${n.label} ${lag} blocks for ${k} blocks`, 'lag');
        n.view.setLag(lag);
        n.lagUntil = head + k;
        return;
      }
      case 'rpc': {
        if (!canImpair) return;
        const n = d.pick(candidates);
        const k = d.int(5, 20);
        this.#fault(`rpc faults on ${n.label} for ${k} blocks`, 'rpc');
        n.view.setFaults(randomFaults(seededRng(`sim ${this.#o.seed}/rpc/${n.label}/${head}`), { read: 0.15, send: 0.1, lostReceipt: 0.1 }));
        n.rpcUntil = head + k;
        return;
      }
      case 'reorg': {
        if (head - this.chain.finalBlock.number < 1) return;
        const depth = d.int(1, Math.min(this.#depth, head - this.chain.finalBlock.number));
        const reinclude = d.pick(['all', 'none', 'some'] as const);
        const order = d.pick(['same', 'reverse', 'shuffle'] as const);
        const r = await this.chain.reorg({ depth, reinclude, order });
        this.#fault(`reorg depth ${depth} (${reinclude}, ${order}): dropped ${r.dropped.map((x) => x.id).join(',') || 'none'}`, 'reorg');
        return;
      }
      case 'drop': {
        const n = d.pick(this.nodes);
        const dropped = await this.chain.drop(n.address);
        if (dropped.length > 0) this.#fault(`drop ${n.label}'s queued transactions ${dropped.map((x) => x.id).join(',')}`, 'drop');
        return;
      }
      case 'byzantine': {
        // Chosen between rounds for the next session (a dealer deals at its first tick in a
        // session), among the nodes that hold the active version (the next dealers); one at a time.
        if (!canImpair || !session || session.progress.outcome === 'pending' || this.nodes.some((x) => x.byzantine !== null)) return;
        const next = latest + 1;
        const dealers = candidates.filter((n) => (active ? n.store.getVersion(active.id) !== null : true));
        if (dealers.length === 0) return;
        const n = d.pick(dealers);
        const victim = d.pick(this.nodes.filter((x) => x !== n));
        const options: Behaviour[] = [
          badShares({ to: [victim.index] }),
          malformedDeal(),
          falseComplaint({ against: victim.index, proof: d.chance(0.5) ? 'valid' : 'invalid' }),
          complaintSpam(),
          withholdDeal(),
          withholdAck(),
          withholdConfirm(),
        ];
        if (active) options.push(wrongConstant());
        const behaviour = d.pick(options);
        this.#fault(`byzantine ${n.label} in session ${next}: ${behaviour.name}`, 'byzantine');
        n.byzantine = { session: next, behaviour };
        n.cheatedIn.add(next);
        return;
      }
      case 'join':
      case 'leave':
      case 'eject':
      case 'threshold': {
        // Governance and membership: between rounds (the latest session closed), one per round.
        if (!session || session.progress.outcome === 'pending' || this.#membershipRound === latest) return;
        this.#membershipRound = latest;
        await this.#membership(kind, ops.map((x) => x.address), impaired);
        return;
      }
    }
  }

  async #membership(kind: 'join' | 'leave' | 'eject' | 'threshold', members: readonly Address[], impaired: ReadonlySet<number>): Promise<void> {
    const d = this.#draw;
    const gov = this.chain.writer(OWNER);
    // Blocks mode: a write is estimated now and mined in the next block; its result is recorded then.
    const tryWrite = (what: string, f: () => Promise<unknown>): void => {
      this.#count(kind);
      this.#record(`fault ${what} (sent)`);
      f().then(() => this.#record(`${what}: mined`), (e: unknown) => {
        if (!(e instanceof LedgerError) && !expectedError(e)) this.#check.violate(`${what} threw: ${String(e)}`);
        this.#record(`${what}: refused (${e instanceof LedgerError ? e.code : String(e)})`);
      });
    };
    if (kind === 'join') {
      if (this.nodes.length >= MAX_NODES) return;
      const n = await this.#addOperator(gov);
      this.#fault(`join ${n.label}`, 'join');
      this.#start(n);
      return;
    }
    // Never below 3 members, never the last healthy holders.
    if (kind !== 'threshold' && members.length <= 3) return;
    const pool = this.nodes.filter((n) => members.includes(n.address) && !impaired.has(n.index));
    if (kind === 'leave' || kind === 'eject') {
      // A departure that leaves governance's override above the members would stop every
      // session until governance changes it (ThresholdOverrideNoLongerFits, by design).
      const override = (await this.chain.getGovernance()).thresholdOverride;
      if (pool.length === 0 || override > members.length - 1 || (override > 0 && override < thresholdBounds(members.length - 1).min)) return;
      const n = d.pick(pool);
      if (kind === 'leave') tryWrite(`leave ${n.label}`, () => this.chain.writer(n.address).deregister());
      else tryWrite(`eject ${n.label}`, () => gov.ejectOperator(n.address));
      return;
    }
    const b = thresholdBounds(members.length);
    const t = d.chance(0.3) ? 0 : d.int(b.min, b.max);
    tryWrite(`threshold override ${t}`, () => gov.setThresholdOverride(t));
  }

  /** End of the fault phase: every node back, honest, healed, in sync. */
  async #heal(): Promise<void> {
    // Governance back to the default threshold (an override may no longer fit the members).
    if ((await this.chain.getGovernance()).thresholdOverride !== 0) {
      this.chain.writer(OWNER).setThresholdOverride(0).then(() => this.#record('heal: threshold override 0 mined'), (e: unknown) => this.#record(`heal: threshold override 0 refused: ${String(e)}`));
    }
    for (const n of this.nodes) {
      n.byzantine = null;
      n.crashAtSend = null;
      n.partitionUntil = 0;
      if (n.lagUntil > 0) n.view.setLag(0);
      if (n.rpcUntil > 0) n.view.setFaults(null);
      n.lagUntil = 0;
      n.rpcUntil = 0;
      if (!n.loop) this.#start(n);
    }
    this.#record('heal: faults stop');
  }
}

/** Lets every promise that can make progress do so (the loops do no I/O: microtasks only). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}
