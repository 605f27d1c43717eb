/**
 * @module
 * A chain worth simulating (issue 13 item 2): the registry's rules (`MemoryLedger`) on a chain
 * of blocks with a mempool, finality lag, reorganisations of bounded depth, dropped
 * transactions and per-node RPC faults — so the production operator loop can be tested on
 * what real chains do, deterministically. Pure: no I/O, no wall clock; randomness only from
 * the seeded rng handed in (`rng`, used by `order: 'shuffle'` and `reinclude: 'some'`).
 *
 * **Blocks.** Block 0 (genesis) is at `ledger.startTime` and holds nothing. Each later block
 * has a timestamp (never below its parent's; equal is allowed) and the transactions it
 * includes, in order. The state at block k is what replaying blocks 1..k on a fresh
 * `MemoryLedger` gives (`chain-cursor.ts`); a write the rules refuse at its block is a failed
 * transaction there, as on a chain.
 *
 * **Writing.** `writer(account)` (and every view's writer) sends transactions:
 *
 *   mode       a write …
 *   automine   executes at once on the head, at the head's time; accepted, it is mined in a
 *              block of its own at that time and the call resolves with its result;
 *              refused, it rejects with the `LedgerError` and no block is made. `setTime(t)`
 *              mines an empty block at t (reads then see chain time t, as with the memory
 *              ledger's clock). What today's loop tests expect.
 *   blocks     is first executed on a scratch copy of the head (`estimate: 'latest'`, the
 *              default) or of the head plus the queued transactions (`'pending'`, what the
 *              chain ledger's estimate uses): refused, it rejects at once (an estimate that
 *              reverts) and nothing is queued. Accepted, it waits in the mempool; the call
 *              resolves when `mine` includes it (its receipt) with its result, or rejects
 *              with its refusal if it reverts at inclusion (e.g. `WrongPhase`: the window
 *              closed meanwhile).
 *
 * A sender's transactions keep their relative order in every block (nonces): choosing a
 * subset that leaves one of a sender's transactions out leaves its later ones out too.
 *
 * **Finality.** The final block is `head − finalityDepth` (genesis while the chain is
 * shorter). `finalView()` reads it; its `now()` is that block's time. Final blocks never
 * change: a reorg deeper than `finalityDepth` is refused.
 *
 * **Reorgs.** `reorg({ depth })` replaces the last `depth` blocks with new ones (as many or
 * more: the head's number stays or grows) holding a chosen subset of their transactions in a
 * chosen order, at timestamps not below the fork point's. Left-out transactions vanish, as
 * with anvil's `anvil_reorg` (or go back to the mempool: `dropped: 'mempool'`, as geth
 * does). Their senders already had their receipts: nothing tells them but the chain itself
 * (a view's `reorgs` grows; its reads no longer show the write), exactly as on a real chain.
 *
 * **Dropped transactions.** `drop(account)` removes the account's queued transactions from
 * the mempool (a node evicted them). Their calls reject with `TransactionDroppedError` once
 * `receiptTimeoutBlocks` more blocks have been mined without them (default 0: at once). The
 * chain ledger's receipt wait fails as soon as its node no longer knows the transaction (three
 * polls, well within one block) and after 60 s at most, as a `ChainRequestError`; a larger
 * value models a wait that only gives up on its timeout (the chain's only clock is its blocks).
 *
 * **Views.** `ledgerFor(account, { lag, faults })` gives one node its own `Ledger` over its
 * own endpoint (`fork-chain-view.ts`): reads `lag` blocks behind the head, calls failing by a
 * fault rule (`rpc-faults.ts`), a reorg count, reads pinned to one block per
 * `readsAtOneBlock`. The chain itself is also a `Ledger`: reads at the head, no faults.
 *
 * Replays: each view keeps its own `MemoryLedger`, moved forward block by block; a reorg or
 * a larger lag makes it replay from genesis (a memory ledger cannot be copied without
 * changing its file). The blocks mode's scratch copy is rebuilt the same way whenever it no
 * longer matches the head (after an accepted estimate, a block, a drop, a reorg).
 */
import type { Rng } from '../crypto/rng.ts';
import {
  ZERO_HASH,
  type Address,
  type AppRecord,
  type Governance,
  type Hex,
  type Ledger,
  type LedgerReader,
  type LedgerWriter,
  type OperatorRecord,
  type RecordedSubmission,
  type Release,
  type Session,
  type VersionRecord,
} from '../protocol/ledger.ts';
import { MemoryLedger, type MemoryLedgerOptions } from '../protocol/memory-ledger.ts';
import { Cursor, executeBlock, executeTx, type ChainBlock, type ChainTx, type TxOutcome, type WriteMethod } from './chain-cursor.ts';
import { anAccount, ChainView, writerOf, type ChainAccess, type ViewOptions } from './fork-chain-view.ts';
import { TransactionDroppedError } from './rpc-faults.ts';

export type { ChainBlock, ChainTx, TxOutcome, WriteMethod } from './chain-cursor.ts';
export { ChainView, type ViewOptions } from './fork-chain-view.ts';

export type MiningMode = 'automine' | 'blocks';

export interface ForkChainOptions {
  /** The registry's deployment (chain id, address, owner, governance, genesis time). */
  readonly ledger: MemoryLedgerOptions;
  /** The final block is this many blocks below the head; reorgs are at most this deep. */
  readonly finalityDepth: number;
  /** Default `automine`. */
  readonly mode?: MiningMode;
  /** Blocks mode: the state a write is checked against before it is queued (default `latest`). */
  readonly estimate?: 'latest' | 'pending';
  /** Blocks mined after a drop before the dropped calls reject (default 0: at once, as the chain ledger notices). */
  readonly receiptTimeoutBlocks?: number;
  /** Seeded randomness for `shuffle` and `some` (required only by them). */
  readonly rng?: Rng;
}

/** Which queued transactions a block includes. */
export type TxSelection = 'all' | 'none' | number | ((tx: ChainTx) => boolean);
export type TxOrder = 'fifo' | 'reverse' | 'shuffle';

export interface MineOptions {
  /** The block's timestamp: at least the head's (default: the head's + 1). */
  readonly time?: number;
  /** Default `all`; a number takes the first n queued; a predicate picks (nonce order kept). */
  readonly include?: TxSelection;
  /** Default `fifo` (the order the chain accepted them). */
  readonly order?: TxOrder;
}

export interface ReorgOptions {
  /** How many blocks at the head are replaced: 1..finalityDepth. */
  readonly depth: number;
  /** How many blocks replace them (default `depth`; never fewer). */
  readonly blocks?: number;
  /**
   * Which of the replaced blocks' transactions the new blocks hold: `all` (default), `none`,
   * `some` (each kept with probability 1/2, from the chain's rng) or a predicate.
   */
  readonly reinclude?: 'all' | 'none' | 'some' | ((tx: ChainTx) => boolean);
  /** Order of the kept transactions within each new block: `same` (default), `reverse`, `shuffle`. */
  readonly order?: 'same' | 'reverse' | 'shuffle';
  /**
   * Where the kept transactions go: `same-blocks` (default: the new block at the index of
   * their old one), `first` or `last` (all in that new block).
   */
  readonly into?: 'same-blocks' | 'first' | 'last';
  /**
   * Timestamps of the new blocks: one for all, or one each (non-decreasing, none below the
   * fork point's). Default: the replaced blocks' own, extra blocks at the last one's.
   */
  readonly time?: number | readonly number[];
  /** The left-out transactions: `vanish` (default, as anvil) or back to the `mempool` (as geth). */
  readonly dropped?: 'vanish' | 'mempool';
}

export interface ReorgReport {
  /** The number of the last block kept (the fork point). */
  readonly fork: number;
  readonly replaced: readonly ChainBlock[];
  readonly blocks: readonly ChainBlock[];
  readonly kept: readonly ChainTx[];
  readonly dropped: readonly ChainTx[];
}

export type TxStatus = 'queued' | 'mined' | 'dropped';

export interface TxRecord {
  readonly tx: ChainTx;
  readonly status: TxStatus;
  /** Mined: the canonical block holding it. */
  readonly block: number | null;
  /** Mined: what it did there. */
  readonly outcome: TxOutcome | null;
}

/**
 * Blocks mode: the scratch state estimates run on. `base` is the head it was built on,
 * `covers` the queued transactions executed on it (`pending`), `clean` false once an estimate
 * under `latest` changed it.
 */
interface Probe {
  readonly ledger: MemoryLedger;
  readonly base: Hex;
  readonly covers: number[];
  clean: boolean;
}

interface Settle {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Queued {
  readonly tx: ChainTx;
  /** Null for a transaction whose call already settled (one a reorg sent back to the mempool). */
  readonly settle: Settle | null;
}

function anInteger(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RangeError(`${what} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** Deep-freezes the copied arguments of a transaction: every replay must see the same call. */
function frozen<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) frozen(x);
    Object.freeze(v);
  }
  return v;
}

function randomBelow(rng: Rng, n: number): number {
  const b = rng(4);
  const u = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  return u % n;
}

/** Fisher–Yates with the seeded rng. */
function shuffled<T>(xs: readonly T[], rng: Rng): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomBelow(rng, i + 1);
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/**
 * Refills each sender's positions in `ordered` with its transactions in the order the chain
 * accepted them (ids ascend with nonces): reordering moves senders, never a sender's nonces.
 */
function keepSenderOrder(ordered: readonly ChainTx[]): ChainTx[] {
  const bySender = new Map<Address, ChainTx[]>();
  for (const tx of ordered) bySender.set(tx.from, [...(bySender.get(tx.from) ?? []), tx]);
  for (const list of bySender.values()) list.sort((a, b) => a.id - b.id);
  const next = new Map<Address, number>();
  return ordered.map((tx) => {
    const i = next.get(tx.from) ?? 0;
    next.set(tx.from, i + 1);
    return (bySender.get(tx.from) as ChainTx[])[i] as ChainTx;
  });
}

/** The chosen transactions of `candidates` (in their order), minus every one after a left-out one of the same sender. */
function withoutNonceGaps(candidates: readonly ChainTx[], chosen: (tx: ChainTx) => boolean): ChainTx[] {
  const gap = new Set<Address>();
  const out: ChainTx[] = [];
  for (const tx of [...candidates].sort((a, b) => a.id - b.id)) {
    if (gap.has(tx.from) || !chosen(tx)) gap.add(tx.from);
    else out.push(tx);
  }
  const keep = new Set(out);
  return candidates.filter((tx) => keep.has(tx));
}

export class ForkChain implements Ledger {
  readonly chainId: bigint;
  readonly registry: Address;
  readonly finalityDepth: number;
  readonly estimate: 'latest' | 'pending';
  readonly receiptTimeoutBlocks: number;
  readonly #ledgerOptions: MemoryLedgerOptions;
  readonly #rng: Rng | undefined;
  #mode: MiningMode;
  readonly #blocks = new Map<Hex, ChainBlock>();
  readonly #canonical: ChainBlock[] = [];
  readonly #outcomes = new Map<Hex, readonly TxOutcome[]>();
  readonly #genesis: ChainBlock;
  #blockSeq = 0;
  readonly #txs: ChainTx[] = [];
  #mempool: Queued[] = [];
  #awaitingTimeout: { queued: Queued; blocksLeft: number }[] = [];
  #reorgs = 0;
  /** All chain changes (sends, blocks, reorgs, drops) run one at a time. */
  #lock: Promise<unknown> = Promise.resolve();
  /** Blocks mode: the scratch state writes are checked on, and what it holds. */
  #probe: Probe | null = null;
  readonly #access: ChainAccess;
  readonly #headCursor: Cursor;
  readonly #main: ChainView;

  constructor(options: ForkChainOptions) {
    // The memory ledger validates the deployment (windows, addresses) and names the genesis time.
    const genesis = new MemoryLedger(options.ledger);
    this.chainId = genesis.chainId;
    this.registry = genesis.registry;
    this.#ledgerOptions = { ...options.ledger };
    this.finalityDepth = anInteger(options.finalityDepth, 'finalityDepth', 0);
    this.receiptTimeoutBlocks = anInteger(options.receiptTimeoutBlocks ?? 0, 'receiptTimeoutBlocks', 0);
    const mode = options.mode ?? 'automine';
    if (mode !== 'automine' && mode !== 'blocks') throw new RangeError(`mode must be automine or blocks, got ${String(mode)}`);
    this.#mode = mode;
    const estimate = options.estimate ?? 'latest';
    if (estimate !== 'latest' && estimate !== 'pending') throw new RangeError(`estimate must be latest or pending, got ${String(estimate)}`);
    this.estimate = estimate;
    this.#rng = options.rng;
    this.#genesis = this.#newBlock(null, genesis.time, []);
    this.#access = {
      chainId: this.chainId,
      registry: this.registry,
      ledgerOptions: this.#ledgerOptions,
      finalityDepth: this.finalityDepth,
      genesis: this.#genesis,
      headNumber: () => this.#canonical.length - 1,
      block: (hash) => this.#blocks.get(hash),
      executed: (block, outcomes) => {
        this.#outcomes.set(block.hash, outcomes);
      },
      canonical: (n) => this.block(n),
      isCanonical: (b) => this.#canonical[b.number]?.hash === b.hash,
      send: (from, method, args) => this.#send(from, method, args),
    };
    this.#headCursor = new Cursor(this.#access, this.#ledgerOptions);
    this.#main = new ChainView(this.#access, genesis.registry, {}, { head: this.#headCursor, final: new Cursor(this.#access, this.#ledgerOptions) });
  }

  // ---------------------------------------------------------------------------------------
  // Blocks

  get mode(): MiningMode {
    return this.#mode;
  }

  /** Switches mining mode; to automine only with an empty mempool (nothing would mine it). */
  setMode(mode: MiningMode): void {
    if (mode !== 'automine' && mode !== 'blocks') throw new RangeError(`mode must be automine or blocks, got ${String(mode)}`);
    if (mode === 'automine' && this.#mempool.length > 0) {
      throw new Error(`cannot switch to automine with ${this.#mempool.length} queued transaction(s): mine or drop them first`);
    }
    this.#mode = mode;
  }

  get head(): ChainBlock {
    return this.#canonical[this.#canonical.length - 1] as ChainBlock;
  }

  /** The last final block (`head − finalityDepth`, genesis while the chain is shorter). */
  get finalBlock(): ChainBlock {
    return this.block(this.head.number - this.finalityDepth);
  }

  /** The canonical block at number n, clamped to genesis..head. */
  block(n: number): ChainBlock {
    const i = Math.max(0, Math.min(Math.floor(n), this.#canonical.length - 1));
    return this.#canonical[i] as ChainBlock;
  }

  /** Chain time of the head block. */
  get time(): number {
    return this.head.time;
  }

  /** Reorganisations so far (`LedgerReader.reorgs`). */
  get reorgs(): number {
    return this.#reorgs;
  }

  /** The transactions waiting in the mempool, in the order the chain accepted them. */
  mempool(): ChainTx[] {
    return this.#mempool.map((q) => q.tx);
  }

  /** Every transaction the chain accepted so far, with where it is now. */
  transactions(): TxRecord[] {
    const mined = new Map<number, { block: number; outcome: TxOutcome | null }>();
    for (const b of this.#canonical) {
      const outcomes = this.#outcomes.get(b.hash);
      b.txs.forEach((tx, i) => mined.set(tx.id, { block: b.number, outcome: outcomes?.[i] ?? null }));
    }
    const queued = new Set(this.#mempool.map((q) => q.tx.id));
    return this.#txs.map((tx) => {
      const m = mined.get(tx.id);
      if (m) return { tx, status: 'mined', block: m.block, outcome: m.outcome };
      return { tx, status: queued.has(tx.id) ? 'queued' : 'dropped', block: null, outcome: null };
    });
  }

  /**
   * Automine: moves chain time to `t` by mining an empty block at t (nothing when t is the
   * head's time). Blocks mode makes blocks with `mine` only.
   */
  setTime(t: number): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#mode !== 'automine') throw new Error('setTime is for automine; in blocks mode, mine({ time }) makes the next block');
      this.#checkTime(t);
      if (t > this.head.time) await this.#extendHead(this.#newBlock(this.head, t, []));
    });
  }

  /** Mines one block holding queued transactions (see `MineOptions`); resolves with it. */
  mine(options: MineOptions | number = {}): Promise<ChainBlock> {
    const o: MineOptions = typeof options === 'number' ? { time: options } : options;
    return this.#exclusive(async () => {
      const time = o.time ?? this.head.time + 1;
      this.#checkTime(time);
      const chosen = this.#select(o.include ?? 'all');
      const order = o.order ?? 'fifo';
      if (order !== 'fifo' && order !== 'reverse' && order !== 'shuffle') throw new RangeError(`order must be fifo, reverse or shuffle, got ${String(order)}`);
      let txs: ChainTx[] = order === 'reverse' ? [...chosen].reverse() : order === 'shuffle' ? shuffled(chosen, this.#needRng('order: shuffle')) : [...chosen];
      txs = keepSenderOrder(txs);
      const ids = new Set(txs.map((tx) => tx.id));
      const included = this.#mempool.filter((q) => ids.has(q.tx.id));
      this.#mempool = this.#mempool.filter((q) => !ids.has(q.tx.id));
      const block = this.#newBlock(this.head, time, txs);
      const outcomes = await this.#extendHead(block);
      const byId = new Map(txs.map((tx, i) => [tx.id, outcomes[i]]));
      for (const q of included) {
        const r = byId.get(q.tx.id);
        if (!q.settle || !r) continue;
        if (r.ok) q.settle.resolve(r.value);
        else q.settle.reject(r.error);
      }
      this.#tickTimeouts();
      return block;
    });
  }

  /**
   * Removes `account`'s queued transactions (those `which` picks, default all, and every later
   * one of the account: nonce order) from the mempool. Returns them.
   */
  drop(account: Address, which: (tx: ChainTx) => boolean = () => true): Promise<ChainTx[]> {
    const from = anAccount(account);
    return this.#exclusive(async () => {
      const mine = this.#mempool.filter((q) => q.tx.from === from);
      const kept = new Set(withoutNonceGaps(mine.map((q) => q.tx), (tx) => !which(tx)));
      const gone = mine.filter((q) => !kept.has(q.tx));
      this.#mempool = this.#mempool.filter((q) => !gone.includes(q));
      for (const q of gone) this.#awaitingTimeout.push({ queued: q, blocksLeft: this.receiptTimeoutBlocks });
      this.#tickTimeouts(0);
      return gone.map((q) => q.tx);
    });
  }

  /** Replaces the last `depth` blocks (see `ReorgOptions`); refuses to touch a final block. */
  reorg(options: ReorgOptions): Promise<ReorgReport> {
    return this.#exclusive(async () => {
      const head = this.head;
      const depth = anInteger(options.depth, 'reorg depth', 1);
      if (depth > this.finalityDepth) {
        throw new RangeError(`a reorg of depth ${depth} would replace final blocks: the finality depth is ${this.finalityDepth}, and final blocks never change`);
      }
      if (depth > head.number) throw new RangeError(`a reorg of depth ${depth} would replace the genesis block: the head is block ${head.number}`);
      const fork = this.block(head.number - depth);
      const replaced = this.#canonical.slice(fork.number + 1);
      const count = anInteger(options.blocks ?? depth, 'reorg blocks', depth);
      const times = this.#reorgTimes(options.time, replaced, count, fork);

      const candidates = replaced.flatMap((b) => b.txs);
      const mode = options.reinclude ?? 'all';
      const rng = mode === 'some' ? this.#needRng('reinclude: some') : undefined;
      const pick = (tx: ChainTx): boolean => {
        if (mode === 'all') return true;
        if (mode === 'none') return false;
        if (mode === 'some') return ((rng as Rng)(1)[0] ?? 0) < 128;
        if (typeof mode === 'function') return mode(tx);
        throw new RangeError(`reinclude must be all, none, some or a predicate, got ${String(mode)}`);
      };
      // Draw for every candidate in order, so one seed gives one choice whatever the senders.
      const picks = new Map(candidates.map((tx) => [tx.id, pick(tx)]));
      const kept = withoutNonceGaps(candidates, (tx) => picks.get(tx.id) === true);
      const keptIds = new Set(kept.map((tx) => tx.id));
      const dropped = candidates.filter((tx) => !keptIds.has(tx.id));

      const into = options.into ?? 'same-blocks';
      const groups: ChainTx[][] = Array.from({ length: count }, () => []);
      replaced.forEach((b, i) => {
        for (const tx of b.txs) {
          if (!keptIds.has(tx.id)) continue;
          const at = into === 'same-blocks' ? i : into === 'first' ? 0 : into === 'last' ? count - 1 : -1;
          if (at < 0) throw new RangeError(`into must be same-blocks, first or last, got ${String(into)}`);
          (groups[at] as ChainTx[]).push(tx);
        }
      });
      const order = options.order ?? 'same';
      if (order !== 'same' && order !== 'reverse' && order !== 'shuffle') throw new RangeError(`order must be same, reverse or shuffle, got ${String(order)}`);
      const arranged = groups.map((g) => keepSenderOrder(order === 'reverse' ? [...g].reverse() : order === 'shuffle' ? shuffled(g, this.#needRng('order: shuffle')) : g));

      const rest = options.dropped ?? 'vanish';
      if (rest !== 'vanish' && rest !== 'mempool') throw new RangeError(`dropped must be vanish or mempool, got ${String(rest)}`);

      // Everything is checked: only now does the chain change.
      this.#canonical.length = fork.number + 1;
      const blocks: ChainBlock[] = [];
      for (const [i, txs] of arranged.entries()) blocks.push(this.#newBlock(this.head, times[i] as number, txs));
      if (rest === 'mempool') this.#mempool = [...dropped.map((tx) => ({ tx, settle: null })), ...this.#mempool];
      this.#reorgs++;
      this.#probe = null;
      await this.#headCursor.at(this.head, () => undefined);
      return { fork: fork.number, replaced, blocks, kept, dropped };
    });
  }

  #reorgTimes(time: ReorgOptions['time'], replaced: readonly ChainBlock[], count: number, fork: ChainBlock): number[] {
    const times = time === undefined
      ? Array.from({ length: count }, (_, i) => (replaced[Math.min(i, replaced.length - 1)] as ChainBlock).time)
      : typeof time === 'number' ? Array.from({ length: count }, () => time) : [...time];
    if (times.length !== count) throw new RangeError(`reorg: ${count} new block(s) need ${count} timestamp(s), got ${times.length}`);
    let prev = fork.time;
    for (const t of times) {
      if (!Number.isSafeInteger(t) || t < prev) throw new RangeError(`reorg: block timestamps must be integers, non-decreasing from the fork point's ${fork.time}; got ${times.join(', ')}`);
      prev = t;
    }
    return times;
  }

  // ---------------------------------------------------------------------------------------
  // Views

  /** One node's own endpoint on this chain (see `fork-chain-view.ts`). */
  ledgerFor(account: Address, options: ViewOptions = {}): ChainView {
    return new ChainView(this.#access, account, options);
  }

  writer(account: Address): LedgerWriter {
    const from = anAccount(account);
    return writerOf(from, async (method, args) => {
      const { queued, receipt } = this.#send(from, method, args);
      await queued;
      return receipt;
    });
  }

  finalView(): LedgerReader {
    return this.#main.finalView();
  }

  readsAtOneBlock<T>(f: () => Promise<T>): Promise<T> {
    return this.#main.readsAtOneBlock(f);
  }

  // Reads at the head -------------------------------------------------------------------------

  now(): Promise<number> {
    return this.#main.now();
  }
  getGovernance(): Promise<Governance> {
    return this.#main.getGovernance();
  }
  isAllowed(operator: Address): Promise<boolean> {
    return this.#main.isAllowed(operator);
  }
  getOperators(): Promise<OperatorRecord[]> {
    return this.#main.getOperators();
  }
  getOperator(operator: Address): Promise<OperatorRecord | null> {
    return this.#main.getOperator(operator);
  }
  latestSessionId(): Promise<number> {
    return this.#main.latestSessionId();
  }
  getSession(id: number): Promise<Session | null> {
    return this.#main.getSession(id);
  }
  getSubmissions(id: number): Promise<RecordedSubmission[]> {
    return this.#main.getSubmissions(id);
  }
  getMpk(): Promise<Hex | null> {
    return this.#main.getMpk();
  }

  getReceiptHead(operator: Address): Promise<Hex> {
    return this.#main.getReceiptHead(operator);
  }
  getVersion(id: number): Promise<VersionRecord | null> {
    return this.#main.getVersion(id);
  }
  activeVersion(): Promise<VersionRecord | null> {
    return this.#main.activeVersion();
  }
  getApp(appId: Hex): Promise<AppRecord | null> {
    return this.#main.getApp(appId);
  }
  getRelease(appId: Hex, index: number): Promise<Release | null> {
    return this.#main.getRelease(appId, index);
  }

  // ---------------------------------------------------------------------------------------
  // Internals

  #exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(f);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #needRng(what: string): Rng {
    if (!this.#rng) throw new Error(`${what} draws randomness: give the chain a seeded rng (ForkChainOptions.rng)`);
    return this.#rng;
  }

  #checkTime(t: number): void {
    if (!Number.isSafeInteger(t)) throw new RangeError(`block time must be an integer number of seconds, got ${String(t)}`);
    if (t < this.head.time) throw new RangeError(`block time ${t} is before the head's (${this.head.time}): chain time never goes back`);
  }

  #newBlock(parent: ChainBlock | null, time: number, txs: readonly ChainTx[]): ChainBlock {
    const serial = ++this.#blockSeq;
    const block: ChainBlock = Object.freeze({
      number: parent === null ? 0 : parent.number + 1,
      hash: `0x${serial.toString(16).padStart(64, '0')}` as Hex,
      parentHash: parent?.hash ?? ZERO_HASH,
      time,
      txs: Object.freeze([...txs]),
    });
    this.#blocks.set(block.hash, block);
    this.#canonical.push(block);
    return block;
  }

  /** Executes the new head on the head cursor; returns its outcomes. */
  async #extendHead(block: ChainBlock): Promise<readonly TxOutcome[]> {
    this.#probe = null;
    await this.#headCursor.at(block, () => undefined);
    return this.#outcomes.get(block.hash) ?? [];
  }

  #select(include: TxSelection): ChainTx[] {
    const queued = this.#mempool.map((q) => q.tx);
    if (include === 'all') return withoutNonceGaps(queued, () => true);
    if (include === 'none') return [];
    if (typeof include === 'number') {
      anInteger(include, 'include', 0);
      return withoutNonceGaps(queued.slice(0, include), () => true);
    }
    if (typeof include === 'function') return withoutNonceGaps(queued, include);
    throw new RangeError(`include must be all, none, a count or a predicate, got ${String(include)}`);
  }

  /** Counts a mined block against dropped transactions' receipt waits (`by` 0: settle those due now). */
  #tickTimeouts(by = 1): void {
    const due: Queued[] = [];
    this.#awaitingTimeout = this.#awaitingTimeout.filter((w) => {
      w.blocksLeft -= by;
      if (w.blocksLeft > 0) return true;
      due.push(w.queued);
      return false;
    });
    for (const q of due) q.settle?.reject(new TransactionDroppedError(q.tx.id, q.tx.method, q.tx.from));
  }

  #send(from: Address, method: WriteMethod, args: readonly unknown[]): { queued: Promise<void>; receipt: Promise<unknown> } {
    let settle: Settle = { resolve: () => {}, reject: () => {} };
    const receipt = new Promise<unknown>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Handled here: a caller that stops at `queued` (a refusal, a lost receipt) must not leave
    // an unhandled rejection behind; a caller awaiting `receipt` still sees the rejection.
    receipt.catch(() => undefined);
    const queued = this.#exclusive(async () => {
      // Arguments are copied as sent: a caller changing its objects afterwards changes nothing.
      const tx: ChainTx = Object.freeze({ id: this.#txs.length + 1, from, method, args: frozen(structuredClone([...args])) });
      if (this.#mode === 'automine') await this.#automine(tx, settle);
      else await this.#enqueue(tx, settle);
    });
    queued.catch((e: unknown) => settle.reject(e instanceof Error ? e : new Error(String(e))));
    return { queued, receipt };
  }

  /** Executes on the head; accepted, it is the next block (at the head's time). */
  async #automine(tx: ChainTx, settle: Settle): Promise<void> {
    const head = this.head;
    const outcome = await this.#headCursor.extend(head, async (l) => {
      try {
        const value = await executeTx(l, tx);
        this.#txs.push(tx);
        const block = this.#newBlock(head, head.time, [tx]);
        const result: TxOutcome = { ok: true, value };
        this.#outcomes.set(block.hash, [result]);
        return { block, result };
      } catch (e) {
        // Refused: the memory ledger changed nothing, the cursor is still at the head.
        return { block: null, result: { ok: false, error: e instanceof Error ? e : new Error(String(e)) } as TxOutcome };
      }
    });
    this.#probe = null;
    if (!outcome.ok) throw outcome.error;
    settle.resolve(outcome.value);
  }

  /** Blocks mode: check on the scratch state, then queue. */
  async #enqueue(tx: ChainTx, settle: Settle): Promise<void> {
    const probe = await this.#scratch();
    await executeTx(probe.ledger, tx); // a refusal rejects the send; the scratch state is unchanged
    this.#txs.push(tx);
    this.#mempool.push({ tx, settle });
    if (this.estimate === 'pending') probe.covers.push(tx.id);
    else probe.clean = false;
  }

  /** The scratch state for the next estimate: the head (`latest`) or the head plus the mempool (`pending`). */
  async #scratch(): Promise<Probe> {
    const head = this.head;
    const want = this.estimate === 'pending' ? this.#mempool.map((q) => q.tx.id) : [];
    const p = this.#probe;
    if (p !== null && p.clean && p.base === head.hash && p.covers.length === want.length && p.covers.every((id, i) => id === want[i])) return p;
    const ledger = new MemoryLedger(this.#ledgerOptions);
    for (const b of this.#canonical.slice(1)) await executeBlock(ledger, b);
    if (this.estimate === 'pending') {
      // A queued transaction that no longer passes will revert at inclusion: it leaves the
      // pending state as it was, like a failed transaction.
      for (const q of this.#mempool) await executeTx(ledger, q.tx).catch(() => undefined);
    }
    this.#probe = { ledger, base: head.hash, covers: want, clean: true };
    return this.#probe;
  }
}
