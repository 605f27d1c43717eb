/**
 * @module
 * `ChainLedger`: the `Ledger` interface (src/protocol/ledger.ts) over the registry contract
 * through viem. The same conformance suite holds it and the in-memory ledger to one set of
 * rules (test/ledger/conformance.ts, test/chain/chain-ledger.test.ts).
 *
 * Reads: every ledger read resolves the configured block tag (`latest` by default; `safe`
 * or `finalized` on public chains) to one block and pins every call to it, so one read sees
 * one block. `getSubmissions` replays the session's events and proves them complete against
 * the stored (counter, digest) of the same block; on a mismatch it retries with a fresh
 * block a few times and then throws `LedgerError('IncompleteView')`: it never returns a
 * partial view.
 *
 * Writes: each transaction is first estimated against the pending block (anvil's pending
 * block carries the timestamp set by `evm_setNextBlockTimestamp`), so a refusal surfaces
 * as the contract's custom error without mining anything; then it is sent with a margin on
 * the estimate and its receipt awaited. Writes from one account are serialised (nonces).
 * Refusals become `ContractRefusalError` (a `LedgerError` whose `code` is the custom error's
 * name) with meta lines naming the contract, function, account, session and block. Inputs
 * that the ABI cannot carry (malformed hex, wrong-sized bytes32, non-integers) are mapped so
 * that the contract refuses them with the same code as the in-memory ledger, or refused
 * here with that code.
 *
 * RPC URLs are redacted (credentials, API-key path segments, query values) in every message.
 *
 * Transport and sending (`rpc-pool.ts`, `tx-sender.ts`): the ledger talks to the chain through
 * an `RpcPool` — one URL or several, with failover and an optional quorum; a tick's
 * `readsAtOneBlock` is one pool view — and sends through a `TxSender` per account (EIP-1559
 * fees under `maxFeePerGas`, nonces, replacement of a transaction that is not mined).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  createPublicClient,
  createWalletClient,
  decodeErrorResult,
  encodeFunctionData,
  parseEventLogs,
  parseGwei,
  type Account,
  type Address as ViemAddress,
  type Chain,
  type Hash,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  LEDGER_ERROR_CODES,
  LedgerError,
  ZERO_HASH,
  type AckSubmission,
  type Address,
  type AppRecord,
  type AttestationMethod,
  type ConfirmSubmission,
  type DealSubmission,
  type Governance,
  type Hex,
  type Ledger,
  type LedgerErrorCode,
  type LedgerWriter,
  type OperatorRecord,
  type RecordedSubmission,
  type RegisterParams,
  type SessionSnapshot,
  type Release,
  type Session,
  type VersionRecord,
} from '../protocol/ledger.ts';
import { packDeal } from '../protocol/deal-bytes.ts';
import { chainProfile, checkReadPoint, type Finality } from './profiles.ts';
import { ChainError, ChainRequestError, ContractRefusalError, redactIn, redactRpcUrl, walkCauses } from './errors.ts';
import { ChainViewError, createRpcPool, RpcPool } from './rpc-pool.ts';
import { replaceAfterBlocks, TxSender, type TxEvent } from './tx-sender.ts';
import { kmsRegistryAbi } from './kms-registry-artifact.ts';
import { CHANGE_KINDS, COMPLAINT_PROBLEMS, KEY_PROBLEMS, LENGTH_FIELDS, PARAMETER_PROBLEMS, reasonText } from './refusal-reasons.ts';
import {
  readActiveVersionId,
  readApp,
  readGovernance,
  readIsAllowed,
  readLatestSessionId,
  readMpk,
  readReceiptHead,
  readOperator,
  readOperators,
  readRelease,
  readSessionState,
  readSnapshot,
  readSubmissions,
  readVersion,
  toProgress,
  type ReadContext,
} from './registry-reads.ts';

export type ReadTag = 'latest' | 'safe' | 'finalized';
/** Where a ledger's reads resolve their block: a tag, or the head minus N confirmations. */
export type ReadPoint = ReadTag | { readonly confirmations: number };

/** `latest`, `finalized`, `head − 12`: for messages. */
export function describeReadPoint(p: ReadPoint): string {
  return typeof p === 'string' ? p : `head − ${p.confirmations}`;
}

/** A private key per account, or a function that finds one (undefined: unknown account). */
export type KeySource = Readonly<Record<string, Hex>> | ((account: Address) => Hex | undefined);

/** What every sent transaction reports (for metrics and the gas benchmark). */
export interface TransactionInfo {
  readonly functionName: string;
  readonly account: Address;
  readonly hash: Hash;
  readonly blockNumber: bigint;
  readonly gasUsed: bigint;
  /** Calldata size in bytes. */
  readonly calldataBytes: number;
  /** The session a submission belongs to (deal, ack, confirmation). */
  readonly session?: number;
}

export interface ChainLedgerOptions {
  /** JSON-RPC URL (may carry credentials; they never appear in errors). */
  readonly rpcUrl: string;
  /** Several JSON-RPC URLs, in order of preference (`rpcUrl` is then ignored): `rpc-pool.ts`. */
  readonly rpcUrls?: readonly string[];
  /** Providers that must agree on every read (default 1; `rpc-pool.ts`). */
  readonly rpcQuorum?: number;
  /** A pool built already (`createChainLedger`, `finalView`): `rpcUrl`, `rpcUrls`, `rpcQuorum` are ignored. */
  readonly pool?: RpcPool;
  /**
   * Cap on a transaction's max fee per gas, wei: a number, null for none (the default), or
   * `'profile'` for the chain profile's default cap (`profiles.ts`, by chain id). `tx-sender.ts`.
   */
  readonly maxFeePerGas?: bigint | null | 'profile';
  /** Blocks a transaction waits before a fee bump (default: from the chain profile's block time). */
  readonly replaceAfterBlocks?: number;
  /** Every step of sending a transaction (sent, replaced, dropped, mined, fee cap, nonce). */
  readonly onTxEvent?: (event: TxEvent & { readonly account: Address }) => void;
  /** Registry contract address. */
  readonly registry: Address;
  /** EIP-155 chain id (checked against the node by `createChainLedger`). */
  readonly chainId: bigint | number;
  /**
   * Block tag every read resolves first (default `latest`: SPEC 4 v3, a node acts on the
   * latest block). Ignored when `readPoint` is given.
   */
  readonly blockTag?: ReadTag | undefined;
  /** Where reads resolve their block, tag or confirmations (default: `blockTag`). */
  readonly readPoint?: ReadPoint;
  /**
   * How this chain's finality is read, for `finalView()` (default the `finalized` tag); the
   * chain profiles (`profiles.ts`) give it per chain id.
   */
  readonly finality?: Finality;
  /** Private keys for `writer(account)`. */
  readonly keys?: KeySource;
  /** Attempts for a provably complete submission log before `IncompleteView` (default 4). */
  readonly attempts?: number;
  /** Pause between attempts in ms (default 250). */
  readonly retryDelayMs?: number;
  /** Receipt polling interval in ms (default 100). */
  readonly pollingIntervalMs?: number;
  /** Block the pre-send gas estimate runs against (default `pending`: the next block's time). */
  readonly estimateTag?: 'pending' | 'latest';
  /** Extra gas on top of the estimate, in percent (default 25). */
  readonly gasMarginPercent?: number;
  /** Called after every mined transaction. */
  readonly onTransaction?: (info: TransactionInfo) => void;
  /** A viem chain definition for the wallet clients (default: a minimal one from chainId). */
  readonly chain?: Chain;
  /**
   * Send the calls made at once as one JSON-RPC batch (default true; `createChainLedger`
   * switches it off for an endpoint that refuses batches).
   */
  readonly batch?: boolean;
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;
const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/;
const ZERO_ADDRESS: Address = `0x${'0'.repeat(40)}`;
const ZERO_BYTES32: Hex = `0x${'0'.repeat(64)}`;
const CODES = new Set<string>(LEDGER_ERROR_CODES);
/** Unknown attestation methods map to a bit the contract refuses (BadParameter), as the memory ledger does. */
const UNKNOWN_METHOD_BIT = 0x80;

const lc = (a: string): Address => a.toLowerCase() as Address;
const isHex = (v: unknown): v is Hex => typeof v === 'string' && HEX_RE.test(v);
/** Well-formed hex, lowercased, or `fallback` (a value the contract refuses with the memory ledger's code). */
const hexOr = (v: unknown, fallback: Hex): Hex => (isHex(v) ? (v.toLowerCase() as Hex) : fallback);
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** A uint argument, or 0 (which the contract refuses where the memory ledger refuses a bad number). */
const uintOr0 = (v: unknown): bigint => (isUint(v) ? BigInt(v) : 0n);

function anAddress(value: unknown, what: string): Address {
  if (typeof value !== 'string' || !ADDRESS_RE.test(value)) {
    throw new LedgerError('BadParameter', `${what} is not a 20-byte 0x-hex address`);
  }
  return lc(value);
}

function methodBits(methods: readonly AttestationMethod[]): number {
  if (!Array.isArray(methods)) throw new LedgerError('BadParameter', 'attestation methods must be a list');
  let bits = 0;
  for (const m of methods) bits |= m === 'ecdsa' ? 1 : m === 'jwt' ? 2 : UNKNOWN_METHOD_BIT;
  return bits;
}

/** Custom error arguments as short `name: value` text for messages. */
function describeRefusal(errorName: string, args: readonly unknown[]): string {
  // Addresses print lowercase, as everywhere in the ledger (viem decodes them checksummed).
  const a = args.map((x) => (typeof x === 'string' && ADDRESS_RE.test(x) ? x.toLowerCase() : String(x)));
  switch (errorName) {
    case 'WrongPhase':
      return `session ${a[0]} is in phase ${phaseName(Number(args[1]))}, not ${phaseName(Number(args[2]))}`;
    case 'BadLength': {
      const field = reasonText(LENGTH_FIELDS, args[0]);
      // SealedShares counts shares (one per recipient); every other field counts bytes.
      if (field === 'deal') return `a deal (tNew G2 commitments ‖ 33-byte ephemeral key ‖ one 48-byte sealed share per recipient) must be ${a[1]} bytes, got ${a[2]}`;
      return `${field} must be ${a[1]} ${field === 'sealedShares' ? 'shares (one per recipient)' : 'bytes'}, got ${a[2]}`;
    }
    case 'BadComplaint':
      return `complaint ${a[0]}: ${reasonText(COMPLAINT_PROBLEMS, args[1])}`;
    case 'BadKey':
      return reasonText(KEY_PROBLEMS, args[0]);
    case 'BadParameter':
      return reasonText(PARAMETER_PROBLEMS, args[0]);
    case 'NothingQueued':
      return `no ${reasonText(CHANGE_KINDS, args[0])} change is waiting to take effect (it may already be in effect)`;
    case 'NotPendingOwner':
      return `${a[0]} is not the proposed owner (or no transfer is proposed)`;
    case 'TooManyOperators':
      return `the registry already holds ${a[0]} operators, its maximum`;
    case 'ThresholdOutOfBounds':
      return `threshold ${a[0]} is outside ${a[1]}..${a[2]}`;
    case 'ThresholdOverrideNoLongerFits':
      return `governance's threshold override ${a[0]} no longer fits this session's ${a[3]} recipients (it must lie within ${a[1]}..${a[2]}); governance must change it`;
    case 'WindowsDoNotFit':
      return `windows ${a[0]}+${a[1]}+${a[2]} s plus inclusion margin ${a[3]} s do not fit in interval ${a[4]} s`;
    case 'NotEnoughOperators':
      return `${a[0]} operators needed, ${a[1]} available`;
    case 'BoundaryNotReached':
      return `the next boundary is ${a[0]}`;
    default:
      return a.length > 0 ? `${errorName}(${a.join(', ')})` : errorName;
  }
}

function phaseName(p: number): string {
  return ['deal', 'ack', 'confirm', 'closed'][p] ?? `#${p}`;
}

/** Revert data (0x…) somewhere in a viem error's cause chain, if any. */
function revertDataOf(err: unknown): Hex | undefined {
  let found: Hex | undefined;
  walkCauses(err, (e) => {
    if (typeof e !== 'object' || e === null) return false;
    const d = (e as { data?: unknown }).data;
    if (typeof d === 'string' && HEX_RE.test(d) && d.length >= 10) {
      found = d as Hex;
      return true;
    }
    if (typeof d === 'object' && d !== null) {
      const inner = (d as { data?: unknown }).data;
      if (typeof inner === 'string' && HEX_RE.test(inner) && inner.length >= 10) {
        found = inner as Hex;
        return true;
      }
    }
    return false;
  });
  return found;
}

interface WriteContext {
  readonly functionName: string;
  readonly account: Address;
  readonly session?: number;
}

/** The registry as a `Ledger`, over viem. */
export class ChainLedger implements Ledger {
  readonly chainId: bigint;
  readonly registry: Address;
  /** Where this ledger's reads resolve their block (`latest` unless this is a final view). */
  readonly readPoint: ReadPoint;
  readonly client: PublicClient;
  /** Calls made at once travel as one JSON-RPC batch (see `ChainLedgerOptions.batch`). */
  readonly batching: boolean;
  /** The RPC providers behind this ledger (shared with its final view). */
  readonly pool: RpcPool;
  /** The cap on every transaction's max fee per gas, wei (null: none). */
  readonly feeCap: bigint | null;
  readonly #keys: KeySource;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #pollingIntervalMs: number;
  readonly #gasMarginPercent: number;
  readonly #estimateTag: 'pending' | 'latest';
  readonly #onTransaction: ((info: TransactionInfo) => void) | undefined;
  readonly #chain: Chain;
  readonly #transport: Transport;
  readonly #queues = new Map<Address, Promise<unknown>>();
  readonly #wallets = new Map<Address, WalletClient<Transport, Chain, Account>>();
  readonly #senders = new Map<Address, TxSender>();
  /** Inside `readsAtOneBlock`: the block every read of that call sees (fetched at the first read). */
  readonly #scope = new AsyncLocalStorage<{ pin: Promise<ReadContext> | null }>();
  readonly #options: ChainLedgerOptions;
  #lastHead: { readonly number: bigint; readonly hash: Hex } | null = null;
  #reorgCount = 0;
  /** How this chain's finality is read (`finalView()`). */
  readonly finality: Finality;
  #final: ChainLedger | undefined;
  /** Snapshots are immutable: keyed by session id and the stored snapshot hash. */
  readonly #snapshots = new Map<string, SessionSnapshot>();

  constructor(options: ChainLedgerOptions) {
    this.chainId = BigInt(options.chainId);
    this.registry = anAddress(options.registry, 'registry');
    this.readPoint = checkReadPoint(options.readPoint ?? options.blockTag ?? 'latest');
    this.finality = checkReadPoint(options.finality ?? 'finalized');
    this.#options = options;
    this.#keys = options.keys ?? {};
    this.#attempts = Math.max(1, options.attempts ?? 4);
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#pollingIntervalMs = options.pollingIntervalMs ?? 100;
    this.#gasMarginPercent = options.gasMarginPercent ?? 25;
    this.#estimateTag = options.estimateTag ?? 'pending';
    this.#onTransaction = options.onTransaction;
    this.#chain = options.chain ?? {
      id: Number(this.chainId),
      name: `chain ${this.chainId}`,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [redactRpcUrl(options.rpcUrl)] } },
    };
    // JSON-RPC batching: the reads a node makes at once (a tick reads governance, the MPK
    // and the latest session together, then the session and its submissions) go out as one
    // HTTP request per round trip. Per-request HTTP overhead was the largest CPU cost of a
    // node's tick in the cluster bench (docs/benchmarks.md §3).
    const urls = options.rpcUrls ?? [options.rpcUrl];
    this.pool = options.pool ?? new RpcPool(urls, { quorum: options.rpcQuorum ?? 1, batch: options.batch !== false, timeoutMs: rpcTimeoutMs(urls.length) });
    this.batching = this.pool.batching;
    const cap = options.maxFeePerGas;
    const profileCap = chainProfile(this.chainId)?.maxFeeGwei ?? null;
    this.feeCap = cap === 'profile' ? (profileCap === null ? null : parseGwei(String(profileCap))) : cap ?? null;
    this.#transport = this.pool.transport;
    this.client = createPublicClient({ chain: this.#chain, transport: this.#transport, pollingInterval: this.#pollingIntervalMs });
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  /**
   * Runs `f` with every read of this ledger inside it (and in what it awaits) pinned to one
   * block: the read tag's block at the first read. A write through this ledger, or a view
   * found incomplete, drops the pin, so the next read sees a newer block. Reads elsewhere
   * (the HTTP API) are not affected. One tick of a node is one such call: one consistent
   * view, and one `eth_getBlockByNumber` instead of one per read.
   */
  readsAtOneBlock<T>(f: () => Promise<T>): Promise<T> {
    // One pool view: the pinned head is one a quorum of providers reports, and every read of
    // the call goes to the providers that reported it (`rpc-pool.ts`).
    return this.pool.view(() => this.#scope.run({ pin: null }, f));
  }

  #unpin(): void {
    const scope = this.#scope.getStore();
    if (scope) scope.pin = null;
  }

  /** Resolves the read tag to one block (inside `readsAtOneBlock`: that call's block). */
  #pin(): Promise<ReadContext> {
    const scope = this.#scope.getStore();
    if (!scope) return this.#pinNow();
    if (!scope.pin) {
      const pin = this.#pinNow();
      scope.pin = pin;
      // A failed pin is not kept: the next read asks again.
      pin.catch(() => {
        if (scope.pin === pin) scope.pin = null;
      });
    }
    return scope.pin;
  }

  async #pinNow(): Promise<ReadContext> {
    const point = this.readPoint;
    const block = await this.#rpc('getBlock', async () => {
      if (typeof point === 'string') return this.client.getBlock({ blockTag: point });
      // N confirmations: the block N below the head (the genesis block while the chain is shorter).
      const head = await this.client.getBlockNumber({ cacheTime: 0 });
      const n = head > BigInt(point.confirmations) ? head - BigInt(point.confirmations) : 0n;
      return this.client.getBlock({ blockNumber: n });
    });
    if (block.number === null || block.hash === null) {
      throw new ChainRequestError('The node returned a block without a number or hash.', { metaMessages: [`Read point: ${describeReadPoint(point)}`] });
    }
    const pinned = { number: block.number, hash: lc(block.hash) as Hex };
    if (point === 'latest') await this.#noticeReorg(pinned, lc(block.parentHash) as Hex);
    return { client: this.client, registry: this.registry, blockNumber: block.number, blockHash: pinned.hash, timestamp: Number(block.timestamp) };
  }

  /**
   * Counts a reorganisation when the head just pinned does not descend from the head pinned
   * before (same height with another hash, a parent that is not the previous head, or the
   * previous head's height now holding another block). One extra call only when the head
   * moved by more than one block since the last pin.
   */
  async #noticeReorg(head: { number: bigint; hash: Hex }, parentHash: Hex): Promise<void> {
    const prev = this.#lastHead;
    if (prev === null || head.hash === prev.hash) {
      this.#lastHead = head;
      return;
    }
    const blockHashAt = async (n: bigint): Promise<Hex | null> => {
      const b = await this.client.getBlock({ blockNumber: n }).catch(() => null);
      return b?.hash ? (lc(b.hash) as Hex) : null;
    };
    if (head.number < prev.number) {
      // An older head than one already seen: a read that overtook another (the HTTP API reads
      // beside the ticks), unless the block seen before has gone.
      if ((await blockHashAt(prev.number)) === prev.hash) return;
      this.#reorgCount++;
      this.#lastHead = head;
      return;
    }
    const descends = head.number === prev.number + 1n
      ? parentHash === prev.hash
      : head.number > prev.number && (await blockHashAt(prev.number)) === prev.hash;
    if (!descends) this.#reorgCount++;
    this.#lastHead = head;
  }

  /** Reorganisations noticed so far by this ledger's reads of the latest block (`LedgerReader.reorgs`). */
  get reorgs(): number {
    return this.#reorgCount;
  }

  /**
   * The registry as of the last final block (`Ledger.finalView`): a ledger over the same
   * endpoint whose reads resolve the chain's finality (`finality` option) instead of the head.
   * Irreversible local steps read only this (SPEC 4, v3).
   */
  finalView(): ChainLedger {
    this.#final ??= new ChainLedger({ ...this.#options, pool: this.pool, blockTag: undefined, readPoint: this.finality, finality: this.finality });
    return this.#final;
  }

  #read<T>(what: string, f: (ctx: ReadContext) => Promise<T>): Promise<T> {
    // With a quorum, a read outside a tick is a view of its own (compared answers).
    return this.pool.guarded(async () => {
      const ctx = await this.#pin();
      return this.#rpc(what, () => f(ctx), ctx);
    });
  }

  /** Runs an RPC-backed step; non-ledger failures become a redacted `ChainRequestError`. */
  async #rpc<T>(what: string, f: () => Promise<T>, ctx?: ReadContext): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof LedgerError) throw err;
      // No consistent view of the chain: said as the pool says it (providers, block, reason).
      const view = walkCauses(err, (e) => e instanceof ChainViewError);
      if (view instanceof ChainViewError) throw view;
      const text = err instanceof Error ? ((err as { shortMessage?: string }).shortMessage ?? err.message) : String(err);
      throw new ChainRequestError(`Reading the registry failed (${what}).`, {
        cause: err,
        details: this.pool.redact(text),
        metaMessages: [
          `Contract: KmsRegistry at ${this.registry}`,
          `RPC: ${this.pool.describe()}`,
          ...(ctx ? [`Block: ${ctx.blockNumber} (${ctx.blockHash})`] : [`Read point: ${describeReadPoint(this.readPoint)}`]),
        ],
      });
    }
  }

  now(): Promise<number> {
    return this.pool.guarded(async () => (await this.#pin()).timestamp);
  }

  getGovernance(): Promise<Governance> {
    return this.#read('getGovernance', readGovernance);
  }

  isAllowed(operator: Address): Promise<boolean> {
    const op = anAddress(operator, 'operator');
    return this.#read('isAllowed', (ctx) => readIsAllowed(ctx, op));
  }

  getOperators(): Promise<OperatorRecord[]> {
    return this.#read('getOperators', readOperators);
  }

  getOperator(operator: Address): Promise<OperatorRecord | null> {
    const op = anAddress(operator, 'operator');
    return this.#read('getOperator', (ctx) => readOperator(ctx, op));
  }

  latestSessionId(): Promise<number> {
    return this.#read('latestSessionId', readLatestSessionId);
  }

  getSession(id: number): Promise<Session | null> {
    return this.#read('getSession', async (ctx) => {
      const state = await readSessionState(ctx, id);
      if (!state) return null;
      const key = `${id}:${state.snapshotHash}`;
      let snapshot = this.#snapshots.get(key);
      if (!snapshot) {
        snapshot = await readSnapshot(ctx, id, state);
        this.#snapshots.set(key, snapshot);
        if (this.#snapshots.size > 16) this.#snapshots.delete(this.#snapshots.keys().next().value as string);
      }
      return { snapshot, snapshotHash: lc(state.snapshotHash), progress: toProgress(state, ctx.timestamp) };
    });
  }

  async getSubmissions(id: number): Promise<RecordedSubmission[]> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      try {
        return await this.#read('getSubmissions', async (ctx) => {
          const state = await readSessionState(ctx, id);
          if (!state) {
            throw new ContractRefusalError('UnknownSession', `session ${id} does not exist`, {
              metaMessages: [`Contract: KmsRegistry at ${this.registry}`, `Session: ${id}`, `Block: ${ctx.blockNumber}`],
            });
          }
          return readSubmissions(ctx, id, state);
        });
      } catch (err) {
        if (!(err instanceof LedgerError) || err.code !== 'IncompleteView') throw err;
        last = err;
        this.#unpin(); // the retry reads a newer block
        if (attempt < this.#attempts) await new Promise((r) => setTimeout(r, this.#retryDelayMs));
      }
    }
    throw last;
  }

  getMpk(): Promise<Hex | null> {
    return this.#read('getMpk', readMpk);
  }

  getReceiptHead(operator: Address): Promise<Hex> {
    if (typeof operator !== 'string' || !ADDRESS_RE.test(operator)) return Promise.reject(new LedgerError('BadParameter', 'an operator address is 20 bytes of 0x-hex'));
    return this.#read('getReceiptHead', (ctx) => readReceiptHead(ctx, lc(operator)));
  }

  getVersion(id: number): Promise<VersionRecord | null> {
    return this.#read('getVersion', (ctx) => readVersion(ctx, id));
  }

  activeVersion(): Promise<VersionRecord | null> {
    return this.#read('activeVersion', async (ctx) => {
      const id = await readActiveVersionId(ctx);
      return id === 0 ? null : readVersion(ctx, id);
    });
  }

  getApp(appId: Hex): Promise<AppRecord | null> {
    if (typeof appId !== 'string' || !BYTES32_RE.test(appId)) return Promise.resolve(null);
    return this.#read('getApp', (ctx) => readApp(ctx, lc(appId)));
  }

  getRelease(appId: Hex, index: number): Promise<Release | null> {
    if (typeof appId !== 'string' || !BYTES32_RE.test(appId)) return Promise.resolve(null);
    return this.#read('getRelease', (ctx) => readRelease(ctx, lc(appId), index));
  }

  // ---------------------------------------------------------------------------------------
  // Writes

  #wallet(account: Address): WalletClient<Transport, Chain, Account> {
    const cached = this.#wallets.get(account);
    if (cached) return cached;
    const keys = this.#keys;
    const key = typeof keys === 'function'
      ? keys(account)
      : (keys[account] ?? Object.entries(keys).find(([a]) => a.toLowerCase() === account)?.[1]);
    if (!key) {
      throw new ChainRequestError('No private key is known for this account.', {
        metaMessages: [`Account: ${account}`, `Contract: KmsRegistry at ${this.registry}`],
        details: 'Pass it in the `keys` option of the ChainLedger.',
      });
    }
    const acct = privateKeyToAccount(key);
    if (lc(acct.address) !== account) {
      throw new ChainRequestError('The private key given for this account belongs to another address.', {
        metaMessages: [`Account: ${account}`, `Key address: ${lc(acct.address)}`],
      });
    }
    const wallet = createWalletClient({ account: acct, chain: this.#chain, transport: this.#transport, pollingInterval: this.#pollingIntervalMs });
    this.#wallets.set(account, wallet);
    return wallet;
  }

  /** The account's transaction sender (one per account: it owns the account's nonces). */
  #sender(account: Address, signer: Account): TxSender {
    let s = this.#senders.get(account);
    if (!s) {
      if (signer.type !== 'local') throw new ChainRequestError('Only local accounts can send.', { metaMessages: [`Account: ${account}`] });
      const onTxEvent = this.#options.onTxEvent;
      s = new TxSender({
        client: this.client, account: signer, chainId: Number(this.chainId),
        maxFeePerGas: this.feeCap,
        replaceAfterBlocks: this.#options.replaceAfterBlocks ?? replaceAfterBlocks(chainProfile(this.chainId)?.blockTime),
        pollingIntervalMs: this.#pollingIntervalMs,
        ...(onTxEvent ? { onEvent: (e: TxEvent) => onTxEvent({ ...e, account }) } : {}),
      });
      this.#senders.set(account, s);
    }
    return s;
  }

  /** The sender of `account` (for fee quotes and the balance check); the account needs a key. */
  sender(account: Address): TxSender {
    const from = anAddress(account, 'account');
    return this.#sender(from, this.#wallet(from).account);
  }

  /** Serialises writes per account (one nonce sequence). */
  #enqueue<T>(account: Address, f: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(account) ?? Promise.resolve();
    const next = prev.then(f, f);
    this.#queues.set(account, next.catch(() => undefined));
    return next;
  }

  #meta(ctx: WriteContext, extra: string[] = []): string[] {
    return [
      `Contract: KmsRegistry at ${this.registry}`,
      `Function: ${ctx.functionName}`,
      `Account: ${ctx.account}`,
      ...(ctx.session !== undefined ? [`Session: ${ctx.session}`] : []),
      `Chain: ${this.chainId}`,
      ...extra,
    ];
  }

  /** A refusal from revert data, or null when the data is not one of the registry's errors. */
  #refusal(data: Hex | undefined, ctx: WriteContext, block: string, cause: unknown): ContractRefusalError | null {
    if (!data) return null;
    let decoded: { errorName: string; args: readonly unknown[] | undefined };
    try {
      decoded = decodeErrorResult({ abi: kmsRegistryAbi, data });
    } catch {
      return null;
    }
    if (!CODES.has(decoded.errorName)) return null;
    const args = decoded.args ?? [];
    return new ContractRefusalError(decoded.errorName as LedgerErrorCode, `${ctx.functionName} refused: ${describeRefusal(decoded.errorName, args)}`, {
      args,
      cause,
      metaMessages: this.#meta(ctx, [`Block: ${block}`]),
    });
  }

  #requestError(message: string, ctx: WriteContext, err: unknown, extra: string[] = []): ChainRequestError {
    const text = err instanceof Error ? ((err as { shortMessage?: string }).shortMessage ?? err.message) : String(err);
    return new ChainRequestError(message, {
      cause: err,
      details: this.pool.redact(text),
      metaMessages: this.#meta(ctx, [`RPC: ${this.pool.describe()}`, ...extra]),
    });
  }

  /** Estimate (refusals surface here), send, await the receipt. */
  #send(ctx: WriteContext, data: Hex): Promise<TransactionReceipt> {
    const wallet = this.#wallet(ctx.account);
    return this.#enqueue(ctx.account, async () => {
      const request = { account: wallet.account, to: this.registry as ViemAddress, data };
      let gas: bigint;
      try {
        gas = await this.client.estimateGas({ ...request, blockTag: this.#estimateTag });
      } catch (err) {
        const view = walkCauses(err, (e) => e instanceof ChainViewError);
        if (view instanceof ChainViewError) throw view; // no consistent view: nothing is sent
        throw this.#refusal(revertDataOf(err), ctx, this.#estimateTag, err) ?? this.#requestError(`${ctx.functionName} could not be estimated.`, ctx, err);
      }
      let receipt: TransactionReceipt;
      try {
        // Fees, nonce, replacement and drops (a dropped transaction is sent again at its
        // nonce at the next block; the loop resends whatever the chain does not show): tx-sender.ts.
        receipt = await this.#sender(ctx.account, wallet.account).send({ to: request.to, data, gas: gas + (gas * BigInt(this.#gasMarginPercent)) / 100n, functionName: ctx.functionName });
      } catch (err) {
        if (err instanceof ChainError) {
          // Already says what happened (fee cap, not mined, nonce taken, no consistent view).
          if (err instanceof ChainViewError) throw err;
          throw new ChainRequestError(err.shortMessage, { cause: err, details: err.details, metaMessages: this.#meta(ctx, [...err.metaMessages]) });
        }
        throw this.#refusal(revertDataOf(err), ctx, 'pending', err) ?? this.#requestError(`${ctx.functionName} could not be sent.`, ctx, err);
      }
      const hash: Hash = receipt.transactionHash;
      if (receipt.status !== 'success') {
        // Reverted after a successful estimate (the state moved in between). Replay it on
        // the state of its block to name the reason.
        let reason: ContractRefusalError | null = null;
        try {
          await this.client.call({ ...request, blockNumber: receipt.blockNumber });
        } catch (err) {
          reason = this.#refusal(revertDataOf(err), ctx, String(receipt.blockNumber), err);
        }
        throw reason ?? new ChainRequestError(`${ctx.functionName} reverted.`, {
          metaMessages: this.#meta(ctx, [`Transaction: ${hash}`, `Block: ${receipt.blockNumber}`]),
        });
      }
      // The receipt's block counts as a head this ledger has seen: if a reorg replaces it before
      // a tick reads it as the head, the next pin still notices (a node must resend at once).
      if (receipt.blockHash && (this.#lastHead === null || receipt.blockNumber > this.#lastHead.number)) {
        this.#lastHead = { number: receipt.blockNumber, hash: lc(receipt.blockHash) as Hex };
      }
      this.#onTransaction?.({
        functionName: ctx.functionName,
        account: ctx.account,
        hash,
        blockNumber: receipt.blockNumber,
        gasUsed: receipt.gasUsed,
        calldataBytes: (data.length - 2) / 2,
        ...(ctx.session !== undefined ? { session: ctx.session } : {}),
      });
      return receipt;
    });
  }

  writer(account: Address): LedgerWriter {
    const from = anAddress(account, 'account');
    this.#wallet(from); // fail now, not at the first write, when the key is unknown
    const send = async (functionName: string, data: Hex, session?: number): Promise<TransactionReceipt> => {
      try {
        return await this.#send({ functionName, account: from, ...(session !== undefined ? { session } : {}) }, data);
      } finally {
        this.#unpin(); // sent or refused, the chain moved on from the pinned block
      }
    };
    const enc = encodeFunctionData;
    const abi = kmsRegistryAbi;
    const sessionArg = (id: unknown): bigint => uintOr0(id);
    const sessionOf = (id: unknown): number | undefined => (isUint(id) ? id : undefined);

    return {
      account: from,

      allowOperator: async (operator, allowed) => {
        const op = anAddress(operator, 'operator');
        await send('allowOperator', enc({ abi, functionName: 'allowOperator', args: [op, allowed === true] }));
      },
      ejectOperator: async (operator) => {
        const op = anAddress(operator, 'operator');
        await send('ejectOperator', enc({ abi, functionName: 'ejectOperator', args: [op] }));
      },
      setThresholdOverride: async (t) => {
        if (!isUint(t)) throw new LedgerError('BadParameter', 'threshold override must be a non-negative integer');
        await send('setThresholdOverride', enc({ abi, functionName: 'setThresholdOverride', args: [BigInt(t)] }));
      },
      setInterval: async (seconds) => {
        await send('setInterval', enc({ abi, functionName: 'setInterval', args: [uintOr0(seconds)] }));
      },
      setWindows: async (deal, ack, confirm) => {
        await send('setWindows', enc({ abi, functionName: 'setWindows', args: [uintOr0(deal), uintOr0(ack), uintOr0(confirm)] }));
      },
      setChurnCap: async (cap) => {
        if (!isUint(cap)) throw new LedgerError('BadParameter', 'churn cap must be a non-negative integer');
        await send('setChurnCap', enc({ abi, functionName: 'setChurnCap', args: [BigInt(cap)] }));
      },
      setProtocolVersion: async (version) => {
        if (!isUint(version) || version < 1) throw new LedgerError('BadParameter', 'a protocol version is an integer from 1 to 65535');
        await send('setProtocolVersion', enc({ abi, functionName: 'setProtocolVersion', args: [BigInt(version)] }));
      },
      armGenesis: async (minOperators) => {
        await send('armGenesis', enc({ abi, functionName: 'armGenesis', args: [uintOr0(minOperators)] }));
      },
      transferOwnership: async (newOwner) => {
        const to = anAddress(newOwner, 'new owner');
        await send('transferOwnership', enc({ abi, functionName: 'transferOwnership', args: [to] }));
      },
      acceptOwnership: async () => {
        await send('acceptOwnership', enc({ abi, functionName: 'acceptOwnership' }));
      },
      cancelGovernanceChange: async (kind) => {
        const index = CHANGE_KINDS.findIndex(([, name]) => name === kind);
        if (index < 0) throw new LedgerError('BadParameter', `unknown governance change ${JSON.stringify(kind)}; expected thresholdOverride, churnCap, schedule or ownership`);
        await send('cancelGovernanceChange', enc({ abi, functionName: 'cancelGovernanceChange', args: [index] }));
      },

      register: async (p: RegisterParams) => {
        const keyType = p.sigKeyType === 'bn254' ? 0 : p.sigKeyType === 'ecdsa' ? 1 : 255;
        await send('register', enc({
          abi,
          functionName: 'register',
          args: [
            typeof p.socket === 'string' ? p.socket : '',
            keyType,
            hexOr(p.sigPublicKey, '0x'),
            hexOr(p.proofOfPossession, '0x'),
            hexOr(p.sessionKey, '0x'),
          ],
        }));
      },
      updateSocket: async (socket) => {
        await send('updateSocket', enc({ abi, functionName: 'updateSocket', args: [typeof socket === 'string' ? socket : ''] }));
      },
      rotateSessionKey: async (key) => {
        await send('rotateSessionKey', enc({ abi, functionName: 'rotateSessionKey', args: [hexOr(key, '0x')] }));
      },
      deregister: async () => {
        await send('deregister', enc({ abi, functionName: 'deregister' }));
      },
      openSession: async () => {
        const receipt = await send('openSession', enc({ abi, functionName: 'openSession' }));
        const [opened] = parseEventLogs({ abi, eventName: 'SessionOpened', logs: receipt.logs });
        if (!opened) throw new ChainRequestError('openSession succeeded without a SessionOpened event.', { metaMessages: [`Transaction: ${receipt.transactionHash}`] });
        return Number(opened.args.session);
      },

      submitDeal: async (d: Omit<DealSubmission, 'type' | 'from'>) => {
        // One packed byte string (deal-bytes.ts); the contract checks its total length.
        const deal = d !== null && typeof d === 'object' ? packDeal(d) : null;
        if (deal === null) throw new LedgerError('BadLength', 'a deal\'s commitments, ephemeral key and sealed shares must be 0x-hex');
        await send('submitDeal', enc({ abi, functionName: 'submitDeal', args: [sessionArg(d.session), deal] }), sessionOf(d.session));
      },
      submitAck: async (a: Omit<AckSubmission, 'type' | 'from'>) => {
        if (!Array.isArray(a.complaints)) throw new LedgerError('BadComplaint', 'complaints must be a list');
        const complaints = a.complaints.map((c) => ({
          dealer: (typeof c.dealer === 'string' && ADDRESS_RE.test(c.dealer) ? lc(c.dealer) : ZERO_ADDRESS) as ViemAddress,
          sharedKey: hexOr(c.sharedKey, '0x'),
          proof: hexOr(c.proof, '0x'),
        }));
        await send('submitAck', enc({ abi, functionName: 'submitAck', args: [sessionArg(a.session), complaints] }), sessionOf(a.session));
      },
      submitConfirmation: async (c: Omit<ConfirmSubmission, 'type' | 'from'>) => {
        if (typeof c.publicPolyHash !== 'string' || !BYTES32_RE.test(c.publicPolyHash)) {
          throw new LedgerError('BadLength', 'publicPolyHash must be 32 bytes of 0x-hex');
        }
        const receiptHead = c.receiptHead ?? ZERO_HASH;
        if (typeof receiptHead !== 'string' || !BYTES32_RE.test(receiptHead)) throw new LedgerError('BadLength', 'receiptHead must be 32 bytes of 0x-hex');
        await send('submitConfirmation', enc({
          abi,
          functionName: 'submitConfirmation',
          // Malformed polynomial hex becomes one byte: refused as BadLength, as in the memory ledger.
          args: [sessionArg(c.session), lc(c.publicPolyHash), hexOr(c.publicPoly, '0x00'), hexOr(c.nextSessionKey, '0x'), lc(receiptHead)],
        }), sessionOf(c.session));
      },

      createApp: async (salt, methods) => {
        if (typeof salt !== 'string' || !BYTES32_RE.test(salt)) throw new LedgerError('BadLength', 'an app salt is 32 bytes of 0x-hex');
        const receipt = await send('createApp', enc({ abi, functionName: 'createApp', args: [lc(salt), methodBits(methods)] }));
        const [created] = parseEventLogs({ abi, eventName: 'AppCreated', logs: receipt.logs });
        if (!created) throw new ChainRequestError('createApp succeeded without an AppCreated event.', { metaMessages: [`Transaction: ${receipt.transactionHash}`] });
        return lc(created.args.appId);
      },
      setAttestationMethods: async (appId, methods) => {
        const id = typeof appId === 'string' && BYTES32_RE.test(appId) ? lc(appId) : ZERO_BYTES32;
        await send('setAttestationMethods', enc({ abi, functionName: 'setAttestationMethods', args: [id, methodBits(methods)] }));
      },
      publishRelease: async (appId, r: Release) => {
        await send('publishRelease', enc({ abi, functionName: 'publishRelease', args: [appArg(appId), releaseArg(r)] }));
      },
      transferApp: async (appId, newOwner) => {
        const to = anAddress(newOwner, 'new app owner');
        await send('transferApp', enc({ abi, functionName: 'transferApp', args: [appArg(appId), to] }));
      },
      acceptApp: async (appId) => {
        await send('acceptApp', enc({ abi, functionName: 'acceptApp', args: [appArg(appId)] }));
      },
      setAppFrozen: async (appId, frozen) => {
        if (typeof frozen !== 'boolean') throw new LedgerError('BadParameter', 'frozen must be true or false');
        await send('setAppFrozen', enc({ abi, functionName: 'setAppFrozen', args: [appArg(appId), frozen] }));
      },
      rotateAppKey: async (appId, newEpoch, r: Release) => {
        // An epoch outside uint32 can never be current + 1: refused as the contract would.
        const epoch = Number.isSafeInteger(newEpoch) && newEpoch >= 0 && newEpoch <= 0xffff_ffff ? newEpoch : 0;
        await send('rotateAppKey', enc({ abi, functionName: 'rotateAppKey', args: [appArg(appId), epoch, releaseArg(r)] }));
      },
    };
  }
}

/** An app id argument: malformed ids become the zero id, which the contract refuses as unknown. */
function appArg(appId: unknown): Hex {
  return typeof appId === 'string' && BYTES32_RE.test(appId) ? lc(appId) : ZERO_BYTES32;
}

/** A release argument, refused before sending as the memory ledger refuses it. */
function releaseArg(r: Release): { imageDigest: Hex; launchPolicy: Hex; encryptedEnv: Hex; publicEnv: string } {
  if (!isHex(r.launchPolicy)) throw new LedgerError('BadLength', 'the launch policy is not 0x-hex');
  if (!isHex(r.encryptedEnv)) throw new LedgerError('BadLength', 'the encrypted env is not 0x-hex');
  if (typeof r.publicEnv !== 'string') throw new LedgerError('BadParameter', 'the public env must be a string');
  return { imageDigest: hexOr(r.imageDigest, '0x'), launchPolicy: lc(r.launchPolicy), encryptedEnv: lc(r.encryptedEnv), publicEnv: r.publicEnv };
}

/**
 * Per-request timeout: 20 s with one endpoint (as before pools: nothing to fail over to, so
 * wait for a slow answer); 10 s with several, so that a hung provider hands over sooner.
 */
function rpcTimeoutMs(providers: number): number {
  return providers > 1 ? 10_000 : 20_000;
}

export interface CreateChainLedgerParameters extends Omit<ChainLedgerOptions, 'chainId'> {
  /** Expected chain id; read from the node when omitted. */
  readonly chainId?: bigint | number;
}

/**
 * Connects a `ChainLedger`: checks the node's chain id and that code exists at the registry.
 *
 * @example
 * const ledger = await createChainLedger({ rpcUrl, registry, keys: { [addr]: privateKey } });
 * const gov = await ledger.getGovernance();
 */
export async function createChainLedger(params: CreateChainLedgerParameters): Promise<ChainLedger> {
  const urls = params.rpcUrls ?? [params.rpcUrl];
  const meta = [`RPC: ${urls.map(redactRpcUrl).join(', ')}`, `Contract: KmsRegistry at ${String(params.registry)}`];
  const registry = anAddress(params.registry, 'registry');
  let pool: RpcPool;
  let chainId: number;
  try {
    // Every URL is asked: they must serve one chain, and `rpcQuorum` of them must answer.
    const given = params.pool;
    const created = given
      ? { pool: given, chainId: await given.guarded(() => createPublicClient({ transport: given.transport }).getChainId()) }
      : await createRpcPool(urls, { quorum: params.rpcQuorum ?? 1, timeoutMs: rpcTimeoutMs(urls.length), ...(params.batch === false ? { batch: false } : {}) });
    pool = created.pool;
    chainId = created.chainId;
  } catch (err) {
    if (err instanceof ChainError) throw new ChainRequestError(err.shortMessage, { cause: err, details: err.details, metaMessages: [...meta, ...err.metaMessages] });
    const text = err instanceof Error ? ((err as { shortMessage?: string }).shortMessage ?? err.message) : String(err);
    throw new ChainRequestError('The chain could not be reached.', { cause: err, metaMessages: meta, details: urls.reduce((t, u) => redactIn(t, u), text) });
  }
  if (params.chainId !== undefined && BigInt(params.chainId) !== BigInt(chainId)) {
    throw new ChainRequestError('The node serves another chain than expected.', { metaMessages: [...meta, `Expected chain: ${params.chainId}`, `Node chain: ${chainId}`] });
  }
  let code: Hex | undefined;
  try {
    code = await pool.guarded(() => createPublicClient({ transport: pool.transport }).getCode({ address: registry }));
  } catch (err) {
    if (err instanceof ChainError) throw new ChainRequestError(err.shortMessage, { cause: err, details: err.details, metaMessages: [...meta, ...err.metaMessages] });
    const text = err instanceof Error ? ((err as { shortMessage?: string }).shortMessage ?? err.message) : String(err);
    throw new ChainRequestError('The chain could not be reached.', { cause: err, metaMessages: meta, details: pool.redact(text) });
  }
  if (!code || code === '0x') {
    throw new ChainRequestError('No contract is deployed at the registry address.', { metaMessages: [...meta, `Chain: ${chainId}`] });
  }
  return new ChainLedger({
    ...params,
    pool,
    chainId: params.chainId ?? chainId,
    // Finality by chain id (the profile), never by the URL; `finalized` for a chain without one.
    finality: params.finality ?? chainProfile(chainId)?.finality ?? 'finalized',
  });
}
