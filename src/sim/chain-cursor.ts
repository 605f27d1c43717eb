/**
 * @module
 * Blocks and transactions of the simulated chain (`fork-chain.ts`), and a cursor: the registry's
 * state at one block, obtained by replay.
 *
 * The state at block k is, by definition, what a fresh `MemoryLedger` holds after replaying the
 * transactions of blocks 1..k, each block at its timestamp (`setTime`), in order. A refused
 * write in a replay is a failed transaction, as on a chain: it changes nothing and the block
 * goes on. The memory ledger is deterministic, so every replay of the same blocks yields the
 * same state and the same outcomes.
 *
 * A cursor keeps one `MemoryLedger` and moves it **forward** along parent links, one block at a
 * time. It cannot move back (a `MemoryLedger` cannot be copied or rewound without changing it,
 * and it is another engineer's file), so a cursor asked for a block that does not descend from
 * its own — a reorg replaced its block, or a reader's lag grew — starts again from a fresh
 * ledger and replays the target's ancestry from genesis. That is rare (reorgs, lag changes),
 * while moving forward costs only the new blocks' transactions.
 *
 * Every operation on a cursor runs in its own queue, one at a time, so a reader never sees a
 * block half applied even though replaying awaits each write.
 */
import { LedgerError, type Address, type Hex, type LedgerWriter } from '../protocol/ledger.ts';
import { MemoryLedger, type MemoryLedgerOptions } from '../protocol/memory-ledger.ts';

/** The ledger writes a transaction can carry: every `LedgerWriter` method. */
export type WriteMethod = Exclude<keyof LedgerWriter, 'account'>;

/** A transaction: one ledger write, by one account. Immutable once created. */
export interface ChainTx {
  /** 1, 2, … in the order the chain first saw them. */
  readonly id: number;
  readonly from: Address;
  readonly method: WriteMethod;
  /** The call's arguments, deep-copied and frozen when the transaction was sent. */
  readonly args: readonly unknown[];
}

export interface ChainBlock {
  readonly number: number;
  /** Unique per block ever made (a reorg's replacement blocks get new hashes). */
  readonly hash: Hex;
  /** The genesis block's parent is the zero hash. */
  readonly parentHash: Hex;
  /** Chain time (seconds); never below the parent's. */
  readonly time: number;
  /** Included transactions, in execution order. */
  readonly txs: readonly ChainTx[];
}

/** What a transaction did when its block was executed: its return value, or why it reverted. */
export type TxOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: Error };

/** The blocks a cursor can reach: every block ever made, by hash (orphans included). */
export interface BlockSource {
  readonly genesis: ChainBlock;
  block(hash: Hex): ChainBlock | undefined;
  /** Called with the outcomes of every block a cursor executes (identical on every replay). */
  executed(block: ChainBlock, outcomes: readonly TxOutcome[]): void;
}

/**
 * Executes one transaction on a ledger. The memory ledger's writer runs each method
 * synchronously inside an async function: by the time this returns, the write is applied or
 * refused, and nothing else ran in between.
 */
export function executeTx(ledger: MemoryLedger, tx: ChainTx): Promise<unknown> {
  // The writer's methods have different signatures; a transaction carries the method's name
  // and arguments as sent, so they are called through an index (the args were typed at send).
  const writer = ledger.writer(tx.from) as unknown as Record<WriteMethod, (...args: unknown[]) => Promise<unknown>>;
  return writer[tx.method](...tx.args);
}

/** Executes a block's transactions at its timestamp; a refused one is a failed transaction. */
export async function executeBlock(ledger: MemoryLedger, block: ChainBlock): Promise<TxOutcome[]> {
  ledger.setTime(block.time);
  const outcomes: TxOutcome[] = [];
  for (const tx of block.txs) {
    try {
      outcomes.push({ ok: true, value: await executeTx(ledger, tx) });
    } catch (e) {
      // A refusal (LedgerError) is a revert; anything else the memory ledger throws on
      // malformed arguments would be a revert on the contract too.
      outcomes.push({ ok: false, error: e instanceof Error ? e : new LedgerError('BadParameter', String(e)) });
    }
  }
  return outcomes;
}

export class Cursor {
  readonly #source: BlockSource;
  readonly #options: MemoryLedgerOptions;
  #ledger: MemoryLedger;
  /** The block whose state `#ledger` holds, or null when a failed move left it unknown. */
  #block: ChainBlock | null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(source: BlockSource, options: MemoryLedgerOptions) {
    this.#source = source;
    this.#options = options;
    this.#ledger = new MemoryLedger(options);
    this.#block = source.genesis;
  }

  /** The block this cursor's state is at (null while unknown). */
  get block(): ChainBlock | null {
    return this.#block;
  }

  /** Runs `f` on the state at `target` (moving there first), after every earlier operation. */
  at<T>(target: ChainBlock, f: (ledger: MemoryLedger) => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      await this.#moveTo(target);
      return f(this.#ledger);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `f` on the state at `parent`; if it returns a block (whose parent is `parent`), the
   * state `f` left is that block's, without replaying it. The automining chain uses this to
   * execute a write once: on the head's state, becoming the new head only if it was accepted.
   */
  extend<T>(parent: ChainBlock, f: (ledger: MemoryLedger) => Promise<{ block: ChainBlock | null; result: T }>): Promise<T> {
    const run = this.#queue.then(async () => {
      await this.#moveTo(parent);
      try {
        const { block, result } = await f(this.#ledger);
        if (block !== null) this.#block = block;
        return result;
      } catch (e) {
        this.#block = null;
        throw e;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #moveTo(target: ChainBlock): Promise<void> {
    if (this.#block?.hash === target.hash) return;
    let path = this.#block === null ? null : this.#pathFrom(this.#block, target);
    if (path === null) {
      this.#ledger = new MemoryLedger(this.#options);
      this.#block = this.#source.genesis;
      path = this.#pathFrom(this.#source.genesis, target);
      if (path === null) throw new Error(`chain cursor: block ${target.number} (${target.hash}) does not descend from genesis`);
    }
    try {
      for (const b of path) {
        this.#source.executed(b, await executeBlock(this.#ledger, b));
        this.#block = b;
      }
    } catch (e) {
      this.#block = null;
      throw e;
    }
  }

  /** The blocks after `from` up to `to`, oldest first, or null when `to` does not descend from `from`. */
  #pathFrom(from: ChainBlock, to: ChainBlock): ChainBlock[] | null {
    const path: ChainBlock[] = [];
    let b: ChainBlock | undefined = to;
    while (b !== undefined && b.number > from.number) {
      path.push(b);
      b = this.#source.block(b.parentHash);
    }
    if (b === undefined || b.hash !== from.hash) return null;
    return path.reverse();
  }
}
