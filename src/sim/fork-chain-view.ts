/**
 * @module
 * One node's view of the simulated chain (`ForkChain.ledgerFor`): a full `Ledger` — reads,
 * writer, final view, reorg count, reads pinned to one block — over its own RPC endpoint,
 * which may lag the head by `lag` blocks and fail calls by a fault rule (`rpc-faults.ts`).
 *
 * - **Reads** see the block `lag` below the chain's head (the head when `lag` is 0). Inside
 *   `readsAtOneBlock(f)` every read sees the block the first read of `f` saw, even if the chain
 *   moves or reorganises meanwhile (a real node serves a block by hash a while after it was
 *   replaced), until a write through this view: sent or refused, the chain moved on from the
 *   pinned block (as the chain ledger does).
 * - **reorgs** counts the reorganisations this view noticed: the block it saw last is no longer
 *   on the chain when it next looks at the head (several reorgs in between count once, as with
 *   the chain ledger).
 * - **finalView()** reads the block `finalityDepth` below this view's head (genesis while the
 *   chain is shorter): a lagging endpoint's finality lags too, and is never ahead of its head.
 *   Its reads are not pinned (the chain ledger's final view is a ledger of its own).
 * - **Writes** go to the chain's mempool (`ForkChain`); the view adds its faults.
 *
 * Each view replays the chain into a `MemoryLedger` of its own (`chain-cursor.ts`), so views
 * at different blocks never disturb each other.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  LedgerError,
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
import type { MemoryLedger, MemoryLedgerOptions } from '../protocol/memory-ledger.ts';
import { Cursor, type BlockSource, type ChainBlock, type WriteMethod } from './chain-cursor.ts';
import { RpcFaultError, type FaultRule, type RpcCall } from './rpc-faults.ts';

/** What a view needs from its chain (implemented by `ForkChain`). */
export interface ChainAccess extends BlockSource {
  readonly chainId: bigint;
  readonly registry: Address;
  readonly ledgerOptions: MemoryLedgerOptions;
  readonly finalityDepth: number;
  headNumber(): number;
  /** The canonical block at number n, clamped to 0..head. */
  canonical(n: number): ChainBlock;
  isCanonical(block: ChainBlock): boolean;
  /**
   * Sends a write: `queued` settles once the chain accepted it (or refused it, like an
   * estimate that reverts), `receipt` once it was mined (or reverted, or was dropped).
   */
  send(from: Address, method: WriteMethod, args: readonly unknown[]): { queued: Promise<void>; receipt: Promise<unknown> };
}

export interface ViewOptions {
  /** Blocks behind the head this endpoint serves (default 0). */
  readonly lag?: number;
  /** Which calls fail, and how (default: none). */
  readonly faults?: FaultRule | null;
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/** An account as the memory ledger's writer takes it: 20-byte hex, lowercased. */
export function anAccount(value: unknown, what = 'account'): Address {
  if (typeof value !== 'string' || !ADDRESS_RE.test(value)) throw new LedgerError('BadParameter', `${what} is not a 20-byte 0x-hex address`);
  return value.toLowerCase() as Address;
}

function aLag(lag: unknown): number {
  if (typeof lag !== 'number' || !Number.isSafeInteger(lag) || lag < 0) throw new RangeError(`lag must be a non-negative integer number of blocks, got ${String(lag)}`);
  return lag;
}

/** A `LedgerWriter` whose every method sends its name and arguments through `send`. */
export function writerOf(account: Address, send: (method: WriteMethod, args: readonly unknown[]) => Promise<unknown>): LedgerWriter {
  // Each method's return type is its transaction's result (void, a session id, an app id);
  // `send` returns what the chain's execution returned, so the casts only restate that.
  const m = <K extends WriteMethod>(k: K): LedgerWriter[K] => ((...args: unknown[]) => send(k, args)) as unknown as LedgerWriter[K];
  return {
    account,
    allowOperator: m('allowOperator'),
    ejectOperator: m('ejectOperator'),
    setThresholdOverride: m('setThresholdOverride'),
    setInterval: m('setInterval'),
    setWindows: m('setWindows'),
    setChurnCap: m('setChurnCap'),
    setProtocolVersion: m('setProtocolVersion'),
    armGenesis: m('armGenesis'),
    transferOwnership: m('transferOwnership'),
    acceptOwnership: m('acceptOwnership'),
    cancelGovernanceChange: m('cancelGovernanceChange'),
    register: m('register'),
    updateSocket: m('updateSocket'),
    rotateSessionKey: m('rotateSessionKey'),
    deregister: m('deregister'),
    openSession: m('openSession'),
    submitDeal: m('submitDeal'),
    submitAck: m('submitAck'),
    submitConfirmation: m('submitConfirmation'),
    createApp: m('createApp'),
    setAttestationMethods: m('setAttestationMethods'),
    publishRelease: m('publishRelease'),
    transferApp: m('transferApp'),
    acceptApp: m('acceptApp'),
    setAppFrozen: m('setAppFrozen'),
    rotateAppKey: m('rotateAppKey'),
  };
}

/** The registry's reads over a cursor; subclasses choose the block each read sees. */
abstract class CursorReader implements LedgerReader {
  readonly chainId: bigint;
  readonly registry: Address;

  constructor(chain: ChainAccess) {
    this.chainId = chain.chainId;
    this.registry = chain.registry;
  }

  /** The block a read of `method` sees (throws the call's fault, if any). */
  protected abstract target(method: string): ChainBlock;
  protected abstract cursor(): Cursor;

  #read<T>(method: string, f: (l: MemoryLedger) => Promise<T>): Promise<T> {
    let block: ChainBlock;
    try {
      block = this.target(method);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.cursor().at(block, f);
  }

  now(): Promise<number> {
    return this.#read('now', (l) => l.now());
  }
  getGovernance(): Promise<Governance> {
    return this.#read('getGovernance', (l) => l.getGovernance());
  }
  isAllowed(operator: Address): Promise<boolean> {
    return this.#read('isAllowed', (l) => l.isAllowed(operator));
  }
  getOperators(): Promise<OperatorRecord[]> {
    return this.#read('getOperators', (l) => l.getOperators());
  }
  getOperator(operator: Address): Promise<OperatorRecord | null> {
    return this.#read('getOperator', (l) => l.getOperator(operator));
  }
  latestSessionId(): Promise<number> {
    return this.#read('latestSessionId', (l) => l.latestSessionId());
  }
  getSession(id: number): Promise<Session | null> {
    return this.#read('getSession', (l) => l.getSession(id));
  }
  getSubmissions(id: number): Promise<RecordedSubmission[]> {
    return this.#read('getSubmissions', (l) => l.getSubmissions(id));
  }
  getMpk(): Promise<Hex | null> {
    return this.#read('getMpk', (l) => l.getMpk());
  }
  getReceiptHead(operator: Address): Promise<Hex> {
    return this.#read('getReceiptHead', (l) => l.getReceiptHead(operator));
  }
  getVersion(id: number): Promise<VersionRecord | null> {
    return this.#read('getVersion', (l) => l.getVersion(id));
  }
  activeVersion(): Promise<VersionRecord | null> {
    return this.#read('activeVersion', (l) => l.activeVersion());
  }
  getApp(appId: Hex): Promise<AppRecord | null> {
    return this.#read('getApp', (l) => l.getApp(appId));
  }
  getRelease(appId: Hex, index: number): Promise<Release | null> {
    return this.#read('getRelease', (l) => l.getRelease(appId, index));
  }
}

/** The reads of a view's last final block (`ChainView.finalView()`). */
class FinalReader extends CursorReader {
  readonly #view: ChainView;
  readonly #chain: ChainAccess;
  readonly #cursor: Cursor;

  constructor(chain: ChainAccess, view: ChainView, cursor: Cursor) {
    super(chain);
    this.#chain = chain;
    this.#view = view;
    this.#cursor = cursor;
  }

  protected override target(method: string): ChainBlock {
    this.#view.fault('read', method, true);
    return this.#chain.canonical(this.#view.headBlock().number - this.#chain.finalityDepth);
  }

  protected override cursor(): Cursor {
    return this.#cursor;
  }
}

export class ChainView extends CursorReader implements Ledger {
  /** The node this endpoint serves (named in faults and errors). */
  readonly account: Address;
  readonly #chain: ChainAccess;
  readonly #cursor: Cursor;
  readonly #finalCursor: Cursor;
  #final: FinalReader | null = null;
  #lag: number;
  #faults: FaultRule | null;
  readonly #scope = new AsyncLocalStorage<{ pin: ChainBlock | null }>();
  #lastHead: ChainBlock | null = null;
  #reorgs = 0;
  #seq = 0;

  /** `cursors`: share a chain's own cursors (its main view); otherwise the view gets its own. */
  constructor(chain: ChainAccess, account: Address, options: ViewOptions = {}, cursors?: { head: Cursor; final: Cursor }) {
    super(chain);
    this.#chain = chain;
    this.account = anAccount(account);
    this.#lag = aLag(options.lag ?? 0);
    this.#faults = options.faults ?? null;
    this.#cursor = cursors?.head ?? new Cursor(chain, chain.ledgerOptions);
    this.#finalCursor = cursors?.final ?? new Cursor(chain, chain.ledgerOptions);
  }

  /** Blocks behind the chain's head this view reads. */
  get lag(): number {
    return this.#lag;
  }

  /** Changes the lag from the next read on (a larger lag makes the view go back: a stale endpoint). */
  setLag(lag: number): void {
    this.#lag = aLag(lag);
  }

  /** Replaces the fault rule (null: no faults). */
  setFaults(rule: FaultRule | null): void {
    this.#faults = rule;
  }

  /** Reorganisations this view noticed (`LedgerReader.reorgs`). */
  get reorgs(): number {
    return this.#reorgs;
  }

  /** The block an unpinned read of this view sees now. */
  headBlock(): ChainBlock {
    return this.#chain.canonical(this.#chain.headNumber() - this.#lag);
  }

  /** @internal Throws the fault the rule picks for this call, if any (`lost-receipt` on a read is a timeout). */
  fault(kind: RpcCall['kind'], method: string, final = false): 'lost-receipt' | null {
    const call: RpcCall = { kind, method, node: this.account, seq: ++this.#seq, head: this.#chain.headNumber(), final };
    const f = this.#faults?.(call) ?? null;
    if (f === null) return null;
    if (kind === 'read' || f === 'timeout') throw new RpcFaultError(kind === 'read' ? 'timeout' : f, call);
    return f;
  }

  protected override target(method: string): ChainBlock {
    this.fault('read', method);
    const scope = this.#scope.getStore();
    if (scope?.pin) return scope.pin;
    const block = this.headBlock();
    const last = this.#lastHead;
    if (last !== null && last.hash !== block.hash && !this.#chain.isCanonical(last)) this.#reorgs++;
    this.#lastHead = block;
    if (scope) scope.pin = block;
    return block;
  }

  protected override cursor(): Cursor {
    return this.#cursor;
  }

  /** Every read inside `f` sees one block (see the module comment). */
  readsAtOneBlock<T>(f: () => Promise<T>): Promise<T> {
    return this.#scope.run({ pin: null }, f);
  }

  finalView(): LedgerReader {
    this.#final ??= new FinalReader(this.#chain, this, this.#finalCursor);
    return this.#final;
  }

  writer(account: Address): LedgerWriter {
    const from = anAccount(account);
    const send = async (method: WriteMethod, args: readonly unknown[]): Promise<unknown> => {
      try {
        const fault = this.fault('send', method);
        const { queued, receipt } = this.#chain.send(from, method, args);
        await queued;
        if (fault === 'lost-receipt') {
          throw new RpcFaultError('lost-receipt', { kind: 'send', method, node: this.account, seq: this.#seq, head: this.#chain.headNumber(), final: false });
        }
        return await receipt;
      } finally {
        // Sent, refused or failed: the chain moved on from the pinned block.
        const scope = this.#scope.getStore();
        if (scope) scope.pin = null;
      }
    };
    return writerOf(from, send);
  }
}
