/**
 * @module
 * One simulated node's `Ledger`: the in-memory ledger as that node's RPC endpoint shows it,
 * `lag` seconds behind the head (SPEC 4: a node that sees the chain late acts late but never
 * on a partial view). The production `OperatorLoop` runs on it unchanged.
 *
 * Reads go through the shared `LedgerMirror` at chain time `now − lag` (a consistent past
 * state: a prefix of every session's log with its own counter and digest); the lag and the
 * head time are read at each call, so a scenario can change them between ticks. Operators,
 * governance, apps and releases are read at the head (the ledger arbitrates `openSession` at
 * the head anyway). Writes go to the writer handed in (the simulator's, which logs, mirrors
 * and applies faults), executed at the head as on a chain.
 *
 * The in-memory ledger has no reorgs, so every block is final the moment it exists: the
 * node's final view is its own (lagged) view, which is never ahead of its latest one.
 */
import { LedgerError, type Address, type AppRecord, type Governance, type Hex, type Ledger, type LedgerReader, type LedgerWriter, type OperatorRecord, type RecordedSubmission, type Release, type Session, type VersionRecord } from '../protocol/ledger.ts';
import type { MemoryLedger } from '../protocol/memory-ledger.ts';
import type { LedgerMirror, LedgerView } from './ledger-mirror.ts';

export interface LaggedLedgerOptions {
  readonly ledger: MemoryLedger;
  readonly mirror: LedgerMirror;
  /** Seconds the endpoint lags the head, read at every call. */
  readonly lag: () => number;
  /** The earliest chain time a view may show (the chain's first block). */
  readonly startTime: number;
  readonly writer: LedgerWriter;
}

export class LaggedLedger implements Ledger {
  readonly chainId: bigint;
  readonly registry: Address;
  readonly #o: LaggedLedgerOptions;

  constructor(options: LaggedLedgerOptions) {
    this.#o = options;
    this.chainId = options.ledger.chainId;
    this.registry = options.ledger.registry;
  }

  async #view(): Promise<LedgerView> {
    await this.#o.mirror.refresh();
    return this.#o.mirror.at(Math.max(this.#o.startTime, this.#o.ledger.time - this.#o.lag()));
  }

  async now(): Promise<number> {
    return (await this.#view()).now;
  }

  getGovernance(): Promise<Governance> {
    return this.#o.ledger.getGovernance();
  }

  isAllowed(operator: Address): Promise<boolean> {
    return this.#o.ledger.isAllowed(operator);
  }

  getOperators(): Promise<OperatorRecord[]> {
    return this.#o.ledger.getOperators();
  }

  getOperator(operator: Address): Promise<OperatorRecord | null> {
    return this.#o.ledger.getOperator(operator);
  }

  async latestSessionId(): Promise<number> {
    return (await this.#view()).latestSessionId();
  }

  async getSession(id: number): Promise<Session | null> {
    return (await this.#view()).session(id);
  }

  async getSubmissions(id: number): Promise<RecordedSubmission[]> {
    const v = await this.#view();
    if (v.session(id) === null) throw new LedgerError('UnknownSession', `session ${id} is not visible at chain time ${v.now}`);
    // The mirror's objects are shared by every node (round-outcome memoizes per object): a copy
    // of the array only, never of the submissions, which nobody mutates.
    return [...v.submissions(id)];
  }

  async getMpk(): Promise<Hex | null> {
    return (await this.#view()).mpk();
  }

  async getVersion(id: number): Promise<VersionRecord | null> {
    return (await this.#view()).version(id);
  }

  async activeVersion(): Promise<VersionRecord | null> {
    return (await this.#view()).activeVersion();
  }

  getApp(appId: Hex): Promise<AppRecord | null> {
    return this.#o.ledger.getApp(appId);
  }

  getRelease(appId: Hex, index: number): Promise<Release | null> {
    return this.#o.ledger.getRelease(appId, index);
  }

  writer(account: Address): LedgerWriter {
    if (account.toLowerCase() !== this.#o.writer.account.toLowerCase()) throw new Error(`lagged ledger: no key for ${account}`);
    return this.#o.writer;
  }

  /** No reorgs in the in-memory ledger: what this endpoint shows is final. */
  finalView(): LedgerReader {
    return this;
  }
}
